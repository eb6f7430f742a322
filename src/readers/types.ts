// The values a file reader yields, one per row, and the error that fails a whole file.

/** One row of a file, in file order. A row that can never resolve is yielded as `invalid` so that it fails alone. */
export type RowValue =
  | { kind: "text"; value: string }
  | { kind: "point"; value: string; latitude: number; longitude: number }
  | { kind: "invalid"; value: string; error: string };

/** The file as a whole cannot be read; the job fails with this message, which must tell the user what to fix. */
export class FileFormatError extends Error {
  override readonly name = "FileFormatError";
}

export type FileFormat = "csv" | "json";

/** Maximum length, in characters, of a row's value. A longer one fails its row. */
export const maxValueLength = 512;
