// The CSV reader: a single column, no header, RFC 4180 quoting, one value a record, streamed
// through csv-parse. A record that unquoted commas split into fields is one value, its fields
// joined by ", ", so "51.5074,-0.1278" and "Springfield, IL" each stay one value.
import { CsvError, parse } from "csv-parse";
import { FileFormatError, maxValueLength, type RowValue } from "./types.ts";

/**
 * Longest record, in characters, before the file is taken to be broken. Without a limit an unclosed
 * quote early in a large file makes the parser keep the rest of the file in memory as one field.
 */
const maxRecordCharacters = 1024 * 1024;

type CsvErrorContext = CsvError & { lines?: number; records?: number; empty_lines?: number };

/**
 * Names what is wrong and where. The bad record starts on the line after the good records and blank
 * lines before it, plus the line breaks quoted inside those records (`quotedLineBreaks`).
 */
function describeCsvError(error: CsvErrorContext, quotedLineBreaks: number): string {
  const line = error.lines;
  const recordLine = (error.records ?? 0) + (error.empty_lines ?? 0) + quotedLineBreaks + 1;
  const where = line === undefined ? "" : ` at line ${line}`;
  switch (error.code) {
    case "CSV_QUOTE_NOT_CLOSED":
      return `invalid CSV: unclosed quote in the value starting at line ${recordLine}`;
    case "CSV_MAX_RECORD_SIZE":
      return `invalid CSV: a record${where} is longer than ${maxRecordCharacters} characters; check for an unclosed quote`;
    case "CSV_INVALID_CLOSING_QUOTE":
      return `invalid CSV: characters follow a closing quote${where}; a quote inside a quoted value must be doubled`;
    default:
      return `invalid CSV${where}: ${error.message}`;
  }
}

export function toRowValue(fields: string[]): RowValue | null {
  const value = fields.map((field) => field.trim()).join(", ").trim();
  if (value === "") return null;
  if (value.length > maxValueLength) {
    return { kind: "invalid", value: value.slice(0, maxValueLength), error: `value longer than ${maxValueLength} characters` };
  }
  return { kind: "text", value };
}

/** Yields the values of a CSV file given as decoded text chunks; throws FileFormatError on invalid CSV. */
export async function* readCsv(chunks: AsyncIterable<string>): AsyncGenerator<RowValue> {
  const parser = parse({
    relax_column_count: true,
    relax_quotes: true,
    skip_empty_lines: true,
    skip_records_with_empty_values: true,
    trim: true,
    max_record_size: maxRecordCharacters,
  });
  let quotedLineBreaks = 0;
  let failure: unknown = null;
  let stopped = false;
  parser.on("error", (error) => {
    failure ??= error;
  });
  const writable = () =>
    new Promise((resolve) => {
      parser.once("drain", resolve);
      parser.once("close", resolve);
    });
  const feed = (async () => {
    try {
      for await (const chunk of chunks) {
        if (failure !== null || stopped) break;
        if (!parser.write(chunk)) await writable();
      }
    } catch (error) {
      failure ??= error;
      parser.destroy();
      return;
    }
    parser.end();
  })();

  try {
    for await (const record of parser as AsyncIterable<string[]>) {
      for (const field of record) quotedLineBreaks += field.match(/\r\n|\r|\n/g)?.length ?? 0;
      const value = toRowValue(record);
      if (value !== null) yield value;
    }
  } catch (error) {
    failure ??= error;
  } finally {
    // Reached early by a caller that stops reading, and after an error: either way the feed must end.
    stopped = true;
    parser.destroy();
    await feed;
  }
  if (failure instanceof CsvError) throw new FileFormatError(describeCsvError(failure, quotedLineBreaks));
  if (failure !== null) throw failure;
}
