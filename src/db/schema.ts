// The Postgres tables: jobs, job_record (one row of a file, with its outcome) and locations.
import { sql } from "drizzle-orm";
import {
  bigint,
  bigserial,
  doublePrecision,
  index,
  integer,
  pgEnum,
  pgTable,
  text,
  timestamp,
  uniqueIndex,
} from "drizzle-orm/pg-core";

export const jobStatus = pgEnum("job_status", ["scheduled", "processing", "complete", "failed"]);
export type JobStatus = (typeof jobStatus.enumValues)[number];

export const recordStatus = pgEnum("record_status", ["ok", "failed"]);
export type RecordStatus = (typeof recordStatus.enumValues)[number];

const timestampMs = (name: string) => timestamp(name, { withTimezone: true, precision: 3, mode: "date" });

export const jobs = pgTable(
  "jobs",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    hash: text("hash").notNull(),
    fileHash: text("file_hash").notNull(),
    status: jobStatus("status").notNull().default("scheduled"),
    totalRows: integer("total_rows"),
    completed: integer("completed").notNull().default(0),
    failed: integer("failed").notNull().default(0),
    error: text("error"),
    createdAt: timestampMs("created_at").notNull().default(sql`now()`),
    startedAt: timestampMs("started_at"),
    finishedAt: timestampMs("finished_at"),
    /** Last time the counts moved; the sweeper drives on jobs where this stops changing. */
    progressedAt: timestampMs("progressed_at").notNull().default(sql`now()`),
    /** Set once the terminal event (completed or failed) is in the events stream; null means it is owed. */
    terminalEventAt: timestampMs("terminal_event_at"),
    /** Deliveries of the job's file message that started reading the file. */
    fileAttempts: integer("file_attempts").notNull().default(0),
    /** Set once every row message is in the work stream; until then a missing row may still be on its way. */
    rowsDispatchedAt: timestampMs("rows_dispatched_at"),
  },
  // The jobs list's `order by created_at desc, id desc` is served by a backward scan of the created_at
  // index, or of the status index when filtered by status. Both indexes are ascending, because drizzle-kit
  // writes `.desc()` as DESC NULLS LAST, and such an index does not serve a plain `desc`, which sorts nulls
  // first. The status index also serves the sweeper's scan for scheduled jobs created before a cutoff.
  (table) => [
    uniqueIndex("jobs_hash_key").on(table.hash),
    index("jobs_created_at_id_idx").on(table.createdAt, table.id),
    index("jobs_status_created_at_id_idx").on(table.status, table.createdAt, table.id),
  ],
);

export const locations = pgTable(
  "locations",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    locationHash: text("location_hash").notNull(),
    name: text("name").notNull(),
    countryCode: text("country_code").notNull(),
    admin1: text("admin1"),
    latitude: doublePrecision("latitude").notNull(),
    longitude: doublePrecision("longitude").notNull(),
    source: text("source").notNull(),
    sourceId: text("source_id").notNull(),
    createdAt: timestampMs("created_at").notNull().default(sql`now()`),
  },
  (table) => [uniqueIndex("locations_location_hash_key").on(table.locationHash)],
);

export const jobRecords = pgTable(
  "job_record",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    jobId: bigint("job_id", { mode: "number" })
      .notNull()
      .references(() => jobs.id, { onDelete: "cascade" }),
    locationId: bigint("location_id", { mode: "number" }).references(() => locations.id),
    row: integer("row").notNull(),
    value: text("value").notNull(),
    status: recordStatus("status").notNull(),
    /** Precision of an ok row's match: place, region (only the region given with the name matched) or point. */
    matchLevel: text("match_level"),
    error: text("error"),
    createdAt: timestampMs("created_at").notNull().default(sql`now()`),
  },
  // Results pages read (job_id, row) ranges, and the status filter reads (job_id, status, row).
  (table) => [
    uniqueIndex("job_record_job_id_row_key").on(table.jobId, table.row),
    index("job_record_job_id_status_row_idx").on(table.jobId, table.status, table.row),
  ],
);

export type JobRow = typeof jobs.$inferSelect;
export type LocationRow = typeof locations.$inferSelect;
