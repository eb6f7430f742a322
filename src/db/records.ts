// Repository of row outcomes: locations upserted per batch, job_record rows inserted per batch,
// and results read by row range (pages) or after a given row (downloads). Batches travel as one JSON
// parameter each, so a statement never nears Postgres's limit of 65,535 bind parameters.
import { sql } from "drizzle-orm";
import type { ResolvedLocation } from "../resolver/types.ts";
import type { Executor } from "./client.ts";
import type { RecordStatus } from "./schema.ts";

export interface NewRecord {
  row: number;
  value: string;
  status: RecordStatus;
  locationId: number | null;
  matchLevel: string | null;
  error: string | null;
}

export interface ResultEntry {
  row: number;
  value: string;
  status: RecordStatus;
  match_level: string | null;
  error: string | null;
  location: {
    location_hash: string;
    name: string;
    country_code: string;
    admin1: string | null;
    latitude: number;
    longitude: number;
    source: string;
    source_id: string;
  } | null;
}

/**
 * Inserts the locations that do not exist yet and returns the id of every given location hash.
 * Hashes are sorted so that concurrent batches take the unique-index locks in one order, and wait on
 * each other instead of deadlocking. A location inserted by a concurrent transaction is invisible to this statement's
 * snapshot, so those ids are read by a second statement.
 */
export async function upsertLocations(db: Executor, found: ResolvedLocation[]): Promise<Map<string, number>> {
  const unique = new Map<string, ResolvedLocation>();
  for (const location of found) unique.set(location.locationHash, location);
  const ids = new Map<string, number>();
  if (unique.size === 0) return ids;

  const rows = [...unique.values()]
    .sort((a, b) => a.locationHash.localeCompare(b.locationHash, "en"))
    .map((location) => ({
      location_hash: location.locationHash,
      name: location.name,
      country_code: location.countryCode,
      admin1: location.admin1,
      latitude: location.latitude,
      longitude: location.longitude,
      source: location.source,
      source_id: location.sourceId,
    }));
  const json = JSON.stringify(rows);

  const upserted = await db.execute<{ id: string; location_hash: string }>(sql`
    with input as (
      select * from jsonb_to_recordset(${json}::jsonb) as t(
        location_hash text, name text, country_code text, admin1 text,
        latitude double precision, longitude double precision, source text, source_id text)
    ),
    inserted as (
      insert into locations (location_hash, name, country_code, admin1, latitude, longitude, source, source_id)
      select location_hash, name, country_code, admin1, latitude, longitude, source, source_id from input
      on conflict (location_hash) do nothing
      returning id, location_hash
    )
    select id, location_hash from inserted
    union all
    select l.id, l.location_hash from locations l join input i using (location_hash)`);
  for (const row of upserted) ids.set(row.location_hash, Number(row.id));

  const missing = [...unique.keys()].filter((hash) => !ids.has(hash));
  if (missing.length > 0) {
    const late = await db.execute<{ id: string; location_hash: string }>(sql`
      select id, location_hash from locations
      where location_hash in (select jsonb_array_elements_text(${JSON.stringify(missing)}::jsonb))`);
    for (const row of late) ids.set(row.location_hash, Number(row.id));
  }
  const stillMissing = [...unique.keys()].filter((hash) => !ids.has(hash));
  if (stillMissing.length > 0) {
    throw new Error(`locations upsert returned no id for ${stillMissing.length} location hashes`);
  }
  return ids;
}

/** The rows of a batch that already have a record: their outcome is settled and must not be published again. */
export async function recordedRows(db: Executor, jobId: number, rows: number[]): Promise<Set<number>> {
  if (rows.length === 0) return new Set();
  // A batch's rows are mostly contiguous, so one range scan of the (job_id, row) index finds them.
  const first = Math.min(...rows);
  const last = Math.max(...rows);
  const wanted = new Set(rows);
  const found = await db.execute<{ row: number }>(sql`
    select "row" from job_record where job_id = ${jobId} and "row" between ${first} and ${last}`);
  return new Set(found.map((row) => row.row).filter((row) => wanted.has(row)));
}

export interface RecordedBatch {
  /** Rows this statement inserted; a row recorded by an earlier delivery is skipped and not counted. */
  inserted: number;
  insertedOk: number;
  completed: number;
  failed: number;
  totalRows: number | null;
}

/**
 * Inserts a batch's outcomes and adds the rows it inserted to the job's counts, in one statement,
 * so counts move once per batch, by exactly the rows recorded.
 */
export async function insertRecords(db: Executor, jobId: number, records: NewRecord[]): Promise<RecordedBatch> {
  const json = JSON.stringify(
    records.map((record) => ({
      row: record.row,
      value: record.value,
      status: record.status,
      location_id: record.locationId,
      match_level: record.matchLevel,
      error: record.error,
    })),
  );
  const [result] = await db.execute<{ inserted: number; inserted_ok: number; completed: number; failed: number; total_rows: number | null }>(sql`
    with inserted as (
      insert into job_record (job_id, location_id, "row", value, status, match_level, error)
      select ${jobId}, location_id, "row", value, status::record_status, match_level, error
      from jsonb_to_recordset(${json}::jsonb)
        as t("row" int, value text, status text, location_id bigint, match_level text, error text)
      order by "row"
      on conflict (job_id, "row") do nothing
      returning status
    ),
    tally as (
      select count(*)::int as inserted, (count(*) filter (where status = 'ok'))::int as inserted_ok from inserted
    )
    update jobs set
      completed = completed + tally.inserted_ok,
      failed = failed + (tally.inserted - tally.inserted_ok),
      progressed_at = now()
    from tally
    where jobs.id = ${jobId}
    returning tally.inserted, tally.inserted_ok, jobs.completed, jobs.failed, jobs.total_rows`);
  if (!result) throw new Error(`job ${jobId} vanished while its rows were being recorded`);
  return {
    inserted: result.inserted,
    insertedOk: result.inserted_ok,
    completed: result.completed,
    failed: result.failed,
    totalRows: result.total_rows,
  };
}

/** Row numbers of a job, in order, that have no record yet: at most `limit` of them. */
export async function missingRows(db: Executor, jobId: number, totalRows: number, limit: number): Promise<number[]> {
  const rows = await db.execute<{ row: number }>(sql`
    select g::int as "row" from generate_series(1, ${totalRows}::int) as g
    where not exists (select 1 from job_record r where r.job_id = ${jobId} and r."row" = g)
    order by g limit ${limit}`);
  return rows.map((row) => row.row);
}

export async function countRecords(db: Executor, jobId: number, status?: RecordStatus): Promise<number> {
  const [row] = await db.execute<{ count: number }>(
    status
      ? sql`select count(*)::int as count from job_record where job_id = ${jobId} and status = ${status}::record_status`
      : sql`select count(*)::int as count from job_record where job_id = ${jobId}`,
  );
  return row?.count ?? 0;
}

type ResultRow = {
  row: number;
  value: string;
  status: RecordStatus;
  match_level: string | null;
  error: string | null;
  location_hash: string | null;
  name: string | null;
  country_code: string | null;
  admin1: string | null;
  latitude: number | null;
  longitude: number | null;
  source: string | null;
  source_id: string | null;
};

function toEntry(row: ResultRow): ResultEntry {
  return {
    row: row.row,
    value: row.value,
    status: row.status,
    match_level: row.match_level,
    error: row.error,
    location:
      row.location_hash === null
        ? null
        : {
            location_hash: row.location_hash,
            name: row.name!,
            country_code: row.country_code!,
            admin1: row.admin1,
            latitude: row.latitude!,
            longitude: row.longitude!,
            source: row.source!,
            source_id: row.source_id!,
          },
  };
}

const selectResults = sql`
  select r."row", r.value, r.status, r.match_level, r.error, l.location_hash, l.name, l.country_code, l.admin1,
         l.latitude, l.longitude, l.source, l.source_id
  from job_record r left join locations l on l.id = r.location_id`;

/**
 * Reads one page of a complete job's results in file order. Without a status filter the rows of page N are
 * exactly rows (N-1)*perPage+1 to N*perPage, read as a range on the (job_id, row) index, so the last
 * page of a million rows costs what the first does.
 */
export async function resultsPage(
  db: Executor,
  jobId: number,
  page: number,
  perPage: number,
  status?: RecordStatus,
): Promise<ResultEntry[]> {
  const offset = (page - 1) * perPage;
  const rows = status
    ? await db.execute<ResultRow>(sql`
        ${selectResults}
        where r.job_id = ${jobId} and r.status = ${status}::record_status
        order by r."row"
        offset ${offset} limit ${perPage}`)
    : await db.execute<ResultRow>(sql`
        ${selectResults}
        where r.job_id = ${jobId} and r."row" > ${offset} and r."row" <= ${offset + perPage}
        order by r."row"`);
  return rows.map(toEntry);
}

/**
 * Reads the results of rows `afterRow + 1` to `afterRow + limit` of a job, in file order. Both ends are
 * bounded, so the read is a range scan on the (job_id, row) index wherever it starts, even before Postgres
 * has statistics on the table. With an open upper end, the planner then read every later row for each batch.
 */
export async function resultsAfterRow(db: Executor, jobId: number, afterRow: number, limit: number): Promise<ResultEntry[]> {
  const rows = await db.execute<ResultRow>(sql`
    ${selectResults}
    where r.job_id = ${jobId} and r."row" > ${afterRow} and r."row" <= ${afterRow + limit}
    order by r."row"`);
  return rows.map(toEntry);
}
