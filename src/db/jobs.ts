// Repository of the `jobs` table: creation, the forward-only status moves, and the close-out.
import { and, desc, eq, isNull, lt, sql, inArray } from "drizzle-orm";
import type { Database, Executor } from "./client.ts";
import { jobs, type JobRow, type JobStatus } from "./schema.ts";

/** Makes a job hash: 24 hex characters from the Web Crypto random source. */
export function newJobHash(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

export async function insertJob(db: Executor, fileHash: string): Promise<JobRow> {
  const [job] = await db.insert(jobs).values({ hash: newJobHash(), fileHash }).returning();
  if (!job) throw new Error("insert into jobs returned no row");
  return job;
}

export async function findJobByHash(db: Executor, hash: string): Promise<JobRow | null> {
  const [job] = await db.select().from(jobs).where(eq(jobs.hash, hash)).limit(1);
  return job ?? null;
}

/**
 * Moves a scheduled job to processing with its row count. Returns the job when this call or an
 * earlier delivery of the same file message did so, and null when the job is already final.
 */
export async function startJob(db: Executor, hash: string, totalRows: number): Promise<JobRow | null> {
  const [started] = await db
    .update(jobs)
    .set({ status: "processing", totalRows, startedAt: sql`now()`, progressedAt: sql`now()` })
    .where(and(eq(jobs.hash, hash), eq(jobs.status, "scheduled")))
    .returning();
  if (started) return started;
  const job = await findJobByHash(db, hash);
  return job?.status === "processing" ? job : null;
}

/** Fails a job that is not final yet; returns false when it already was. */
export async function failJob(db: Executor, hash: string, error: string): Promise<boolean> {
  const failed = await db
    .update(jobs)
    .set({ status: "failed", error, finishedAt: sql`now()` })
    .where(and(eq(jobs.hash, hash), inArray(jobs.status, ["scheduled", "processing"])))
    .returning({ id: jobs.id });
  return failed.length > 0;
}

/**
 * Completes a processing job whose every row has an outcome. The condition makes exactly one
 * caller win when several workers finish the last rows at once; the winner owes the event.
 */
export async function completeJobIfDone(db: Executor, jobId: number): Promise<JobRow | null> {
  const [job] = await db
    .update(jobs)
    .set({ status: "complete", finishedAt: sql`now()` })
    .where(
      and(
        eq(jobs.id, jobId),
        eq(jobs.status, "processing"),
        sql`${jobs.totalRows} is not null and ${jobs.completed} + ${jobs.failed} >= ${jobs.totalRows}`,
      ),
    )
    .returning();
  return job ?? null;
}

/** Counts one more delivery of the job's file message; `change` of -1 takes back one that was handed over. */
export async function countFileAttempt(db: Executor, hash: string, change: 1 | -1 = 1): Promise<number> {
  const [job] = await db
    .update(jobs)
    .set({ fileAttempts: sql`${jobs.fileAttempts} + ${change}` })
    .where(eq(jobs.hash, hash))
    .returning({ fileAttempts: jobs.fileAttempts });
  return job?.fileAttempts ?? 0;
}

export async function markRowsDispatched(db: Executor, hash: string): Promise<void> {
  await db.update(jobs).set({ rowsDispatchedAt: sql`now()` }).where(eq(jobs.hash, hash));
}

export async function markTerminalEventPublished(db: Executor, jobId: number): Promise<void> {
  await db.update(jobs).set({ terminalEventAt: sql`now()` }).where(eq(jobs.id, jobId));
}

/** Final jobs whose terminal event was never confirmed published, older than `graceMs`. */
export async function jobsOwingTerminalEvent(db: Database, graceMs: number): Promise<JobRow[]> {
  return db
    .select()
    .from(jobs)
    .where(
      and(
        inArray(jobs.status, ["complete", "failed"]),
        isNull(jobs.terminalEventAt),
        lt(jobs.finishedAt, sql`now() - make_interval(secs => ${graceMs / 1000})`),
      ),
    )
    .limit(100);
}

/** Processing jobs whose counts reached the total but that were never closed (a crash before the close). */
export async function jobsDoneButOpen(db: Database): Promise<JobRow[]> {
  return db
    .select()
    .from(jobs)
    .where(and(eq(jobs.status, "processing"), sql`${jobs.completed} + ${jobs.failed} >= ${jobs.totalRows}`))
    .limit(100);
}

/** Jobs workers should pull rows for: processing, with their row count known. */
export async function activeJobHashes(db: Database): Promise<string[]> {
  const rows = await db
    .select({ hash: jobs.hash })
    .from(jobs)
    .where(and(eq(jobs.status, "processing"), sql`${jobs.totalRows} is not null`))
    .orderBy(jobs.id);
  return rows.map((row) => row.hash);
}

/** Scheduled jobs older than `ageMs`: their file message may never have reached the work stream. */
export async function staleScheduledJobs(db: Database, ageMs: number): Promise<JobRow[]> {
  return db
    .select()
    .from(jobs)
    .where(and(eq(jobs.status, "scheduled"), lt(jobs.createdAt, sql`now() - make_interval(secs => ${ageMs / 1000})`)))
    .limit(100);
}

/** Processing jobs whose counts have not moved for `ageMs`. */
export async function stalledProcessingJobs(db: Database, ageMs: number): Promise<JobRow[]> {
  return db
    .select()
    .from(jobs)
    .where(and(eq(jobs.status, "processing"), lt(jobs.progressedAt, sql`now() - make_interval(secs => ${ageMs / 1000})`)))
    .limit(100);
}

export interface JobTotals {
  /** Number of jobs by status. */
  jobs: Record<string, number>;
  /** Rows recorded over all jobs, by outcome. */
  rows: { ok: number; failed: number };
}

/** Counts jobs by status and sums their recorded rows, in one scan of the jobs table. */
export async function countJobsByStatus(db: Database): Promise<JobTotals> {
  const rows = await db
    .select({
      status: jobs.status,
      count: sql<number>`count(*)::int`,
      ok: sql<number>`coalesce(sum(${jobs.completed}), 0)::float8`,
      failed: sql<number>`coalesce(sum(${jobs.failed}), 0)::float8`,
    })
    .from(jobs)
    .groupBy(jobs.status);
  return {
    jobs: Object.fromEntries(rows.map((row) => [row.status, row.count])),
    rows: { ok: rows.reduce((sum, row) => sum + row.ok, 0), failed: rows.reduce((sum, row) => sum + row.failed, 0) },
  };
}

/** A stage of a job, as the jobs table's timestamps mark it. */
export type JobStage = "queued" | "processing" | "total";

/** Median and 95th percentile of each stage's duration, in seconds. Each is null when no job completed in the window. */
export type StageQuantiles = Record<JobStage, { p50: number | null; p95: number | null }>;

/**
 * Computes the median and 95th percentile duration of each stage over the jobs completed in the last
 * `windowMs`, from their timestamps: queued (created to started), processing (started to finished) and
 * total (created to finished). Every API process can serve these, whichever workers did the work.
 */
export async function jobStageQuantiles(db: Database, windowMs: number): Promise<StageQuantiles> {
  const rows = await db.execute<Record<string, number | null>>(sql`
    with stages as (
      select extract(epoch from started_at - created_at) as queued,
             extract(epoch from finished_at - started_at) as processing,
             extract(epoch from finished_at - created_at) as total
      from jobs
      where status = 'complete' and finished_at > now() - make_interval(secs => ${windowMs / 1000})
    )
    select percentile_cont(0.5) within group (order by queued)::float8 as queued_p50,
           percentile_cont(0.95) within group (order by queued)::float8 as queued_p95,
           percentile_cont(0.5) within group (order by processing)::float8 as processing_p50,
           percentile_cont(0.95) within group (order by processing)::float8 as processing_p95,
           percentile_cont(0.5) within group (order by total)::float8 as total_p50,
           percentile_cont(0.95) within group (order by total)::float8 as total_p95
    from stages`);
  const row = rows[0] ?? {};
  const quantiles = (stage: JobStage) => ({ p50: row[`${stage}_p50`] ?? null, p95: row[`${stage}_p95`] ?? null });
  return { queued: quantiles("queued"), processing: quantiles("processing"), total: quantiles("total") };
}

/**
 * Reads one page of jobs, newest first: by created_at, then by id among jobs created in the same millisecond.
 * Postgres serves it with a backward scan of jobs_created_at_id_idx, or of jobs_status_created_at_id_idx
 * when a status is given.
 * NOTE: Postgres reads and skips the `offset` rows before the page, so a deep page of a very large jobs table
 * costs more than the first. Paging by (created_at, id) after the last job seen would not.
 */
export async function listJobs(
  db: Executor,
  page: { status?: JobStatus; limit: number; offset: number },
): Promise<JobRow[]> {
  return db
    .select()
    .from(jobs)
    .where(page.status ? eq(jobs.status, page.status) : undefined)
    .orderBy(desc(jobs.createdAt), desc(jobs.id))
    .limit(page.limit)
    .offset(page.offset);
}

export async function countJobs(db: Executor, status?: JobStatus): Promise<number> {
  const [row] = await db
    .select({ count: sql<number>`count(*)::int` })
    .from(jobs)
    .where(status ? eq(jobs.status, status) : undefined);
  return row?.count ?? 0;
}
