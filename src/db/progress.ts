// Reads behind live progress: a job's row and, on the first read, which of the rows whose events have
// already arrived are recorded, both from one snapshot.
import { eq, sql } from "drizzle-orm";
import type { Database } from "./client.ts";
import { jobs, type JobRow } from "./schema.ts";

export interface ProgressSnapshot {
  job: JobRow;
  /**
   * Rows listed by `rowsSeen` that have a job_record, and so are already in the job's counts. Empty without
   * `rowsSeen`.
   */
  recordedRows: Set<number>;
}

/**
 * Reads a job by hash, or returns null for an unknown job. With `rowsSeen`, it also returns which of the
 * listed rows the job has recorded, in the same repeatable-read snapshot as the job's counts.
 * `rowsSeen` is called once the job row has been read, so it can list the row events that arrived
 * while that read ran. The worker records a batch and adds it to the job's counts in one statement,
 * so a row found recorded here is in the counts returned with it.
 */
export async function readProgressSnapshot(
  db: Database,
  jobHash: string,
  rowsSeen?: () => readonly number[],
): Promise<ProgressSnapshot | null> {
  if (rowsSeen === undefined) {
    const [job] = await db.select().from(jobs).where(eq(jobs.hash, jobHash)).limit(1);
    return job === undefined ? null : { job, recordedRows: new Set() };
  }
  return db.transaction(
    async (tx) => {
      const [job] = await tx.select().from(jobs).where(eq(jobs.hash, jobHash)).limit(1);
      if (job === undefined) return null;
      const rows = rowsSeen();
      if (rows.length === 0) return { job, recordedRows: new Set<number>() };
      // The rows travel as one JSON parameter, however many there are.
      const recorded = await tx.execute<{ row: number }>(sql`
        select "row" from job_record
        where job_id = ${job.id} and "row" in (select value::int from json_array_elements_text(${JSON.stringify(rows)}::json))`);
      return { job, recordedRows: new Set(recorded.map((found) => found.row)) };
    },
    { isolationLevel: "repeatable read", accessMode: "read only" },
  );
}
