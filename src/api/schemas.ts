// Request and response schemas of the HTTP API (TypeBox through Elysia's `t`); they also make the OpenAPI document.
import { t } from "elysia";

export const fileHashPattern = "^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$";

export const ErrorBody = t.Object({ error: t.String({ description: "What went wrong, in words a user can act on" }) }, {
  additionalProperties: true,
});

export const CreateJobBody = t.Object(
  {
    file_hash: t.String({
      pattern: fileHashPattern,
      description: "Hash of a file in the files service: 1 to 128 letters, digits, '.', '_' or '-', not starting with '.', '_' or '-'",
      error: "file_hash must be 1 to 128 letters, digits, '.', '_' or '-', starting with a letter or digit",
    }),
  },
  { additionalProperties: false },
);

export const JobStatusName = t.Union([t.Literal("scheduled"), t.Literal("processing"), t.Literal("complete"), t.Literal("failed")]);

export const CreatedJob = t.Object({ job_hash: t.String(), file_hash: t.String(), status: t.Literal("scheduled") });

const Timestamp = t.String({ format: "date-time", description: "ISO 8601, UTC, with milliseconds" });

export const JobStatusBody = t.Object({
  job_hash: t.String(),
  file_hash: t.String(),
  status: JobStatusName,
  total_rows: t.Nullable(t.Integer({ description: "Number of rows in the file; null until the file has been read" })),
  completed: t.Integer({ description: "Rows resolved to a location" }),
  failed: t.Integer({ description: "Rows that failed" }),
  progress: t.Number({ minimum: 0, maximum: 1, description: "(completed + failed) / total_rows" }),
  error: t.Nullable(t.String({ description: "Why the job failed; null unless it did" })),
  created_at: Timestamp,
  started_at: t.Nullable(Timestamp),
  finished_at: t.Nullable(Timestamp),
});

export const JobHashParams = t.Object({ job_hash: t.String({ description: "The job_hash returned when the job was created" }) });

export const ResultsQuery = t.Object(
  {
    page: t.Optional(t.Integer({ minimum: 1, default: 1, error: "page must be an integer of at least 1" })),
    per_page: t.Optional(
      t.Integer({ minimum: 1, maximum: 500, default: 500, error: "per_page must be an integer from 1 to 500" }),
    ),
    status: t.Optional(t.Union([t.Literal("ok"), t.Literal("failed")], { error: "status must be ok or failed" })),
  },
  { additionalProperties: false },
);

export const JobsQuery = t.Object(
  {
    page: t.Optional(t.Integer({ minimum: 1, default: 1, error: "page must be an integer of at least 1" })),
    per_page: t.Optional(
      t.Integer({ minimum: 1, maximum: 500, default: 500, error: "per_page must be an integer from 1 to 500" }),
    ),
    status: t.Optional(t.Union(JobStatusName.anyOf, { error: "status must be scheduled, processing, complete or failed" })),
  },
  { additionalProperties: false },
);

export const JobsPageBody = t.Object({
  page: t.Integer(),
  per_page: t.Integer(),
  total: t.Integer({ description: "Number of jobs, in all or of the requested status" }),
  total_pages: t.Integer(),
  next: t.Nullable(t.String({ description: "Path of the next page, or null on the last page" })),
  data: t.Array(JobStatusBody, { description: "Jobs, newest first: by created_at, then by id" }),
});

export const LocationBody = t.Object({
  location_hash: t.String({ description: "Stable id of the place: the same in every job, on every machine" }),
  name: t.String(),
  country_code: t.String({ description: "ISO 3166-1 alpha-2" }),
  admin1: t.Nullable(t.String({ description: "First-level administrative division" })),
  latitude: t.Number(),
  longitude: t.Number(),
  source: t.String({ description: "geonames for a gazetteer place, coordinates for a point given as input" }),
  source_id: t.String(),
});

export const ResultEntryBody = t.Object({
  row: t.Integer({ minimum: 1, description: "1-based position of the value in the file" }),
  value: t.String(),
  status: t.Union([t.Literal("ok"), t.Literal("failed")]),
  location: t.Nullable(LocationBody),
  match_level: t.Nullable(
    t.String({
      description:
        "How precisely an ok row matched: place (the name), region (only the region given with the name matched, and the location is the region's main place) or point (coordinates); null for a failed row",
    }),
  ),
  error: t.Nullable(t.String()),
});

export const ResultsPageBody = t.Object({
  job_hash: t.String(),
  page: t.Integer(),
  per_page: t.Integer(),
  total: t.Integer({ description: "Rows in the job, or of the requested status" }),
  total_pages: t.Integer(),
  next: t.Nullable(t.String({ description: "Path of the next page, or null on the last" })),
  data: t.Array(ResultEntryBody),
});

export const JobNotCompleteBody = t.Object({ error: t.String(), status: JobStatusName });

export const FileHashParams = t.Object({
  file_hash: t.String({ pattern: fileHashPattern, error: "file_hash must be 1 to 128 letters, digits, '.', '_' or '-'" }),
});

export const StoredFileBody = t.Object({
  file_hash: t.String({ description: "SHA-256 of the bytes, lowercase hex" }),
  size: t.Integer({ description: "Bytes stored" }),
});

export const HealthBody = t.Object({
  status: t.Union([t.Literal("ok"), t.Literal("unavailable")]),
  postgres: t.String(),
  nats: t.String(),
  error: t.Optional(t.String()),
});
