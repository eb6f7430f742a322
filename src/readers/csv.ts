// The CSV reader: a single column, no header, RFC 4180 quoting, one value a record, streamed
// through csv-parse. A record that unquoted commas split into fields is one value, its fields
// joined by ", ", so "51.5074,-0.1278" and "Springfield, IL" each stay one value.
import { CsvError, parse } from "csv-parse";
import { FileFormatError, maxValueLength, type RowValue } from "./types.ts";

/**
 * Maximum record length, in characters, before the file is taken to be broken. Without a limit an unclosed
 * quote early in a large file makes the parser keep the rest of the file in memory as one field.
 * A value over 512 characters fails only its row; one over this limit fails the file.
 */
const maxRecordCharacters = 8 * 1024 * 1024;

type CsvErrorContext = CsvError & { lines?: number; records?: number; empty_lines?: number };

/**
 * Names what is wrong and where. The bad record starts on the line after the records and blank lines
 * before it, plus the line breaks quoted inside those records (`quotedLineBreaks`). csv-parse's own
 * line count is not used for it, because csv-parse 6.2 counts each of CR and LF as a line inside
 * quotes in a CRLF file.
 */
function describeCsvError(error: CsvErrorContext, quotedLineBreaks: number): string {
  const line = error.lines;
  const recordLine = (error.records ?? 0) + (error.empty_lines ?? 0) + quotedLineBreaks + 1;
  const where = line === undefined ? "" : ` at line ${line}`;
  switch (error.code) {
    case "CSV_QUOTE_NOT_CLOSED":
      return `invalid CSV: unclosed quote in the value starting at line ${recordLine}`;
    case "CSV_MAX_RECORD_SIZE":
      return `invalid CSV: the value starting at line ${recordLine} is longer than ${maxRecordCharacters} characters; check for an unclosed quote`;
    // With trim on, csv-parse reports characters after a closing quote with the second code.
    case "CSV_INVALID_CLOSING_QUOTE":
    case "CSV_NON_TRIMABLE_CHAR_AFTER_CLOSING_QUOTE":
      return `invalid CSV: characters follow a closing quote${where}; a quote inside a quoted value must be doubled`;
    default:
      return `invalid CSV${where}: ${error.message}`;
  }
}

/** Joins one record's trimmed fields into its value, or returns null to skip a record whose fields are all blank. */
export function toRowValue(fields: string[]): RowValue | null {
  if (fields.every((field) => field.trim() === "")) return null;
  const value = fields.map((field) => field.trim()).join(", ").trim();
  if (value.length > maxValueLength) {
    return { kind: "invalid", value: value.slice(0, maxValueLength), error: `value longer than ${maxValueLength} characters` };
  }
  return { kind: "text", value };
}

/** Yields the values of a CSV file given as decoded text chunks; throws FileFormatError on invalid CSV. */
export async function* readCsv(chunks: AsyncIterable<string>): AsyncGenerator<RowValue> {
  let quotedLineBreaks = 0;
  const parser = parse({
    // Every line end is accepted everywhere: left to itself csv-parse takes the first one it meets for
    // the whole file, and a file that mixes them would have rows silently merged.
    record_delimiter: ["\r\n", "\n", "\r"],
    relax_column_count: true,
    relax_quotes: true,
    skip_empty_lines: true,
    trim: true,
    max_record_size: maxRecordCharacters,
    // Counted here, as csv-parse reads each record, because the records the loop below has not yet
    // taken when an error comes are dropped. Records with only blank fields go through too, so
    // that their lines count, and toRowValue skips them.
    on_record: (record: string[]) => {
      for (const field of record) quotedLineBreaks += field.match(/\r\n|\r|\n/g)?.length ?? 0;
      return record;
    },
  });
  let failure: unknown = null;
  let stopped = false;
  parser.on("error", (error) => {
    failure ??= error;
  });
  // Both listeners go when either event comes: a "close" listener left behind at each "drain" would
  // pile up over a large file.
  const writable = () =>
    new Promise<void>((resolve) => {
      const settle = () => {
        parser.off("drain", settle);
        parser.off("close", settle);
        resolve();
      };
      parser.on("drain", settle);
      parser.on("close", settle);
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
