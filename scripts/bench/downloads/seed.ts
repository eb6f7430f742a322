// Seeds one complete job straight into a fresh database, without the worker. The locations go in
// through the service's upsert and the job_record rows come from generate_series in chunks. The
// service's own status functions then move the jobs row to complete.
import { sql } from "drizzle-orm";
import type { Database } from "../../../src/db/client.ts";
import { completeJobIfDone, insertJob, markRowsDispatched, markTerminalEventPublished, startJob } from "../../../src/db/jobs.ts";
import { countRecords, upsertLocations } from "../../../src/db/records.ts";
import { randomHex } from "../../support/environment.ts";
import { startTicker } from "./ticker.ts";
import type { ValuePools } from "./values.ts";

/** Rows inserted by one statement, so that a progress line follows each chunk. */
const seedChunkRows = 100_000;
const progressIntervalMs = 2000;
/** Share of failed rows, in rows per hundred. */
export const failedPerHundred = 3;

export interface SeededJob {
  jobHash: string;
  rows: number;
  okRows: number;
  failedRows: number;
  /** Seeding time, from the first job_record insert to the end of VACUUM ANALYZE. */
  seconds: number;
}

/** Copies the value pools into two tables of the run's database, which the chunk inserts join on. */
async function createPoolTables(db: Database, pools: ValuePools): Promise<void> {
  const locationIds = await upsertLocations(db, pools.ok.map((entry) => entry.location));
  const okRows = pools.ok.map((entry, index) => ({
    id: index + 1,
    value: entry.value,
    location_id: locationIds.get(entry.location.locationHash),
    match_level: entry.matchLevel,
  }));
  const failedRows = pools.failed.map((entry, index) => ({ id: index + 1, value: entry.value, error: entry.error }));

  await db.execute(sql`create table bench_ok_value (id int primary key, value text not null, location_id bigint not null, match_level text not null)`);
  await db.execute(sql`
    insert into bench_ok_value
    select * from jsonb_to_recordset(${JSON.stringify(okRows)}::jsonb) as t(id int, value text, location_id bigint, match_level text)`);
  await db.execute(sql`create table bench_failed_value (id int primary key, value text not null, error text not null)`);
  await db.execute(sql`
    insert into bench_failed_value
    select * from jsonb_to_recordset(${JSON.stringify(failedRows)}::jsonb) as t(id int, value text, error text)`);
}

/**
 * Inserts rows `first` to `last` of the job. A row is failed when (row * 37) mod 100 is below 3: since 37
 * and 100 have no common factor, exactly 3 rows in every 100 fail, spread out instead of in one run.
 * Ok rows and failed rows each take the values of their own pool in turn.
 */
async function insertChunk(db: Database, jobId: number, first: number, last: number, pools: ValuePools): Promise<void> {
  await db.execute(sql`
    insert into job_record (job_id, location_id, "row", value, status, match_level, error)
    select ${jobId},
           case when s.failed then null else o.location_id end,
           g,
           case when s.failed then f.value else o.value end,
           (case when s.failed then 'failed' else 'ok' end)::record_status,
           case when s.failed then null else o.match_level end,
           case when s.failed then f.error else null end
    from generate_series(${first}::int, ${last}::int) as g
    cross join lateral (select (g * 37) % 100 < ${failedPerHundred} as failed) as s
    join bench_ok_value o on o.id = g % ${pools.ok.length} + 1
    join bench_failed_value f on f.id = g % ${pools.failed.length} + 1
    order by g`);
}

/**
 * Creates a job of `rows` rows and records every row, then completes it, as the worker would have.
 * Prints a progress line after each chunk of 100,000 rows and at least every 2 s. The job's file hash
 * points to no stored file, which works because the download and results routes never read the file.
 * Throws when `signal` aborts.
 */
export async function seedCompleteJob(db: Database, rows: number, pools: ValuePools, signal: AbortSignal): Promise<SeededJob> {
  await createPoolTables(db, pools);
  const created = await insertJob(db, randomHex(32));
  const job = await startJob(db, created.hash, rows);
  if (job === null) throw new Error(`job ${created.hash} could not be moved to processing`);

  const startedAt = performance.now();
  let inserted = 0;
  let phase = "inserting job_record rows";
  const progressLine = () => {
    const seconds = (performance.now() - startedAt) / 1000;
    return `[${seconds.toFixed(1).padStart(6)} s] seeding ${rows} rows: ${phase}, ${inserted} inserted, ${(inserted / seconds).toFixed(0)} rows/s`;
  };
  const ticker = startTicker(progressIntervalMs, progressLine);
  try {
    for (let first = 1; first <= rows; first += seedChunkRows) {
      signal.throwIfAborted();
      const last = Math.min(rows, first + seedChunkRows - 1);
      await insertChunk(db, job.id, first, last, pools);
      inserted = last;
      ticker.print();
    }

    phase = "counting and completing the job";
    const okRows = await countRecords(db, job.id, "ok");
    const failedRows = await countRecords(db, job.id, "failed");
    await db.execute(sql`update jobs set completed = ${okRows}, failed = ${failedRows}, progressed_at = now() where id = ${job.id}`);
    await markRowsDispatched(db, job.hash);
    if ((await completeJobIfDone(db, job.id)) === null) {
      throw new Error(`job ${job.hash} was not completed: ${okRows} ok and ${failedRows} failed rows recorded of ${rows}`);
    }
    await markTerminalEventPublished(db, job.id);
    await db.execute(sql`drop table bench_ok_value, bench_failed_value`);

    // Rows recorded over minutes have usually been vacuumed and analyzed by autovacuum before anyone downloads
    // them. Without this, the first download would also pay for setting every row's hint bits.
    phase = "VACUUM ANALYZE";
    signal.throwIfAborted();
    await db.execute(sql`vacuum (analyze) job_record, locations, jobs`);
    ticker.print();
    return { jobHash: job.hash, rows, okRows, failedRows, seconds: (performance.now() - startedAt) / 1000 };
  } finally {
    ticker.stop();
  }
}
