// Streams a complete job's results as one CSV or NDJSON file, read from the database in row batches as the client
// reads the response, so the memory a download takes depends on the batch size and not on the job's size.
import { stringify } from "csv-stringify/sync";
import { resultColumns, resultValues, toResultRecord, type NestedResult, type ResultsFormat } from "./columns.ts";

/**
 * Rows read by one query of a download. A download keeps only a few batches in memory at a time, so this
 * bounds its memory.
 */
export const downloadBatchRows = 1000;

/**
 * Rows between two full garbage collections during a download. Without them Bun 1.4.5 let the API's
 * RSS grow with the job: peaks of 182 MiB at 100,000 rows and 229 MiB at 1,000,000 for a CSV download,
 * against 156 and 165 MiB with them (`bun run bench:downloads`, 2 cores).
 */
const rowsBetweenCollections = 65_536;

/** Reads the results of rows `afterRow + 1` to `afterRow + limit` of one job, in file order. */
export type ReadResultsAfter = (afterRow: number, limit: number) => Promise<NestedResult[]>;

function encodeBatch(format: ResultsFormat, entries: NestedResult[]): string {
  if (format === "ndjson") {
    let text = "";
    for (const entry of entries) text += `${JSON.stringify(toResultRecord(entry))}\n`;
    return text;
  }
  // csv-stringify writes null as an empty field and quotes any field that has a comma, quote, CR or LF.
  return stringify(entries.map((entry) => resultValues(toResultRecord(entry))));
}

/** Returns the first line of a CSV download (the column names), or an empty string for NDJSON, which has no header. */
function headerText(format: ResultsFormat): string {
  return format === "csv" ? stringify([[...resultColumns]]) : "";
}

/**
 * Makes a pull-based stream of a job's results file. The stream reads the next batch only when its queue is
 * empty: the first batch at once, each later one when the client has read the one before. Cancelling the
 * stream, which Bun 1.4 does when the client disconnects, stops the reading. A failed read is passed to
 * `onError` and errors the stream. Bun then resets the connection, so the client sees a failed transfer
 * instead of a file that looks complete.
 */
export function resultsStream(
  readAfter: ReadResultsAfter,
  format: ResultsFormat,
  options: { totalRows: number; batchRows?: number; onError: (error: unknown) => void },
): ReadableStream<Uint8Array> {
  const batchRows = options.batchRows ?? downloadBatchRows;
  const encoder = new TextEncoder();
  let lastRow = 0;
  let header = headerText(format);
  let cancelled = false;

  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      let entries: NestedResult[];
      try {
        entries = await readAfter(lastRow, batchRows);
      } catch (error) {
        options.onError(error);
        // The database error names the query and its parameters, so the stream fails with a plain message.
        controller.error(new Error("results download failed: reading the next rows from the database failed"));
        return;
      }
      if (cancelled) return;

      const text = header + encodeBatch(format, entries);
      header = "";
      if (text !== "") controller.enqueue(encoder.encode(text));
      const nextRow = lastRow + batchRows;
      if (Math.floor(nextRow / rowsBetweenCollections) > Math.floor(lastRow / rowsBetweenCollections)) Bun.gc(true);
      lastRow = nextRow;
      // A complete job has one record for each row from 1 to total_rows, so the last batch is known in advance.
      if (lastRow >= options.totalRows) controller.close();
    },
    cancel() {
      cancelled = true;
    },
  });
}
