// Reading a job's file: the format from the content type or the first non-blank character, then
// one RowValue per row from the CSV or JSON reader, streamed in constant memory.
import { readCsv } from "./csv.ts";
import { readJson } from "./json.ts";
import { decodeUtf8, peekFirstCharacter } from "./text.ts";
import { FileFormatError, type FileFormat, type RowValue } from "./types.ts";

export { FileFormatError, maxValueLength, type FileFormat, type RowValue } from "./types.ts";

/** Maps a content type to the format it names, or null when it names neither CSV nor JSON. */
export function formatFromContentType(contentType: string | null): FileFormat | null {
  const mediaType = contentType?.split(";")[0]?.trim().toLowerCase() ?? "";
  if (mediaType === "application/json" || mediaType.endsWith("+json") || mediaType === "text/json") return "json";
  if (mediaType === "text/csv" || mediaType === "application/csv") return "csv";
  return null;
}

/**
 * Yields one value per row of a file, in file order. Throws FileFormatError with a message for the
 * user when the file as a whole cannot be read: not UTF-8, a NUL byte, invalid CSV or JSON.
 */
export async function* readRows(body: ReadableStream<Uint8Array>, contentType: string | null): AsyncGenerator<RowValue> {
  const { first, all } = await peekFirstCharacter(decodeUtf8(body));
  const format = formatFromContentType(contentType) ?? (first === "[" ? "json" : "csv");
  // A blank file has no rows, whatever its content type. The caller fails it as such.
  if (first === null) return;
  if (format === "json") {
    if (first !== "[") throw new FileFormatError("invalid JSON file: expected an array of values at the top level");
    yield* readJson(all);
  } else {
    yield* readCsv(all);
  }
}
