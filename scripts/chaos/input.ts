// The input of a chaos run: real place names, repeated to the requested number of rows, with one
// value in 50 that no resolver can match, so the job has failed rows as well as ok ones.

import { readPlaceLines } from "../support/places.ts";

/** Values that fail their row: a name that matches no place, and coordinates out of range. */
const unresolvableValues = ["Qxzv Nowhere 123", "999,999"];
const unresolvableEvery = 50;

export interface InputFile {
  bytes: Uint8Array;
  rows: number;
  unresolvableRows: number;
}

/** Builds a single-column CSV of `rows` values, one a line, none blank. */
export async function buildInputFile(rows: number): Promise<InputFile> {
  const places = await readPlaceLines();

  const lines: string[] = [];
  let unresolvableRows = 0;
  let nextPlace = 0;
  for (let index = 0; index < rows; index += 1) {
    if (index % unresolvableEvery === unresolvableEvery / 2) {
      lines.push(unresolvableValues[unresolvableRows % unresolvableValues.length]!);
      unresolvableRows += 1;
    } else {
      lines.push(places[nextPlace % places.length]!);
      nextPlace += 1;
    }
  }
  return { bytes: new TextEncoder().encode(`${lines.join("\n")}\n`), rows, unresolvableRows };
}
