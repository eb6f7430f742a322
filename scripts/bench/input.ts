// Input of the service runs: real place names from world-cities.csv, repeated to the requested
// number of rows, and the 10-row file of the small job submitted while the big one runs.

import { readPlaceLines } from "../support/places.ts";

export const smallJobRows = 10;
/** The small job's rows start here in world-cities.csv, so its file differs from the big one's start. */
const smallJobFirstPlace = 1000;

export interface InputFiles {
  big: Uint8Array;
  small: Uint8Array;
}

/** Builds both files. */
export async function buildInputFiles(rows: number): Promise<InputFiles> {
  const places = await readPlaceLines();

  const lines: string[] = new Array(rows);
  for (let row = 0; row < rows; row += 1) lines[row] = places[row % places.length]!;
  const smallLines = Array.from({ length: smallJobRows }, (_, index) => places[(smallJobFirstPlace + index) % places.length]!);
  const encoder = new TextEncoder();
  return { big: encoder.encode(`${lines.join("\n")}\n`), small: encoder.encode(`${smallLines.join("\n")}\n`) };
}
