// Rows whose messages the server stopped delivering before any delivery recorded them (every try
// ended in a crash): read again from the file and recorded as failed, so their job can complete.
import { missingRows } from "../db/records.ts";
import type { JobRow } from "../db/schema.ts";
import type { RowWork } from "../nats/work-messages.ts";
import { readRows } from "../readers/index.ts";
import type { WorkerDeps } from "./deps.ts";
import { givenUpRow, recordBatch } from "./row-stage.ts";

/** Rows recorded per sweep at most, so one sweep of a huge job stays short; the next sweep goes on. */
const maxRowsPerSweep = 50_000;

/** Records a stalled job's unrecorded rows as failed; returns how many it recorded. */
export async function recordMissingRows(deps: WorkerDeps, job: JobRow): Promise<number> {
  if (job.totalRows === null) return 0;
  const missing = await missingRows(deps.db, job.id, job.totalRows, maxRowsPerSweep);
  if (missing.length === 0) return 0;

  const wanted = new Set(missing);
  const last = missing.at(-1)!;
  const batch: RowWork[] = [];
  const ref = { id: job.id, hash: job.hash };
  const file = await deps.files.open(job.fileHash);
  let row = 0;
  for await (const value of readRows(file.body, file.contentType)) {
    row += 1;
    if (wanted.has(row)) {
      batch.push(givenUpRow(row, value.value, deps.config.maxDeliveries));
      if (batch.length >= deps.config.rowBatchSize) await recordBatch(deps, ref, batch.splice(0));
    }
    if (row >= last) break;
  }
  if (batch.length > 0) await recordBatch(deps, ref, batch.splice(0));
  return missing.length;
}
