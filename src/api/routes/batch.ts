// Routes of batch jobs: create one from a file hash, list jobs, read a job's status, read its results by page.
import { Elysia } from "elysia";
import { countJobs, findJobByHash, insertJob, listJobs } from "../../db/jobs.ts";
import { countRecords, resultsPage } from "../../db/records.ts";
import type { JobRow } from "../../db/schema.ts";
import { describeError } from "../../log.ts";
import { publishEvent } from "../../nats/events.ts";
import { dispatchFile } from "../../nats/work-messages.ts";
import type { ApiDeps } from "../deps.ts";
import { HttpError, notFound } from "../errors.ts";
import {
  CreateJobBody,
  CreatedJob,
  ErrorBody,
  JobHashParams,
  JobNotCompleteBody,
  JobStatusBody,
  JobsPageBody,
  JobsQuery,
  ResultsPageBody,
  ResultsQuery,
} from "../schemas.ts";

const secured = { security: [{ bearerAuth: [] }], tags: ["batch"] };

/** Job hashes are 24 lowercase hex characters; anything else cannot name a job and is not looked up. */
export const jobHashPattern = /^[0-9a-f]{24}$/;

/**
 * Returns the job hash in a request path (`/locations/batch/<job_hash>…`), or undefined for any other
 * path. It fills the `job_hash` field of the request's log lines.
 */
export function jobHashOfPath(path: string): string | undefined {
  const [empty, locations, batch, jobHash] = path.split("/", 4);
  const underBatch = empty === "" && locations === "locations" && batch === "batch";
  return underBatch && jobHash !== undefined && jobHashPattern.test(jobHash) ? jobHash : undefined;
}

export async function findJob(db: ApiDeps["db"], jobHash: string): Promise<JobRow> {
  const job = jobHashPattern.test(jobHash) ? await findJobByHash(db, jobHash) : null;
  if (job === null) throw notFound("job");
  return job;
}

/**
 * Throws HttpError 409, with the job's status in the body, unless the job is complete, because only a
 * complete job's results are final.
 */
export function requireComplete(job: JobRow): void {
  if (job.status !== "complete") {
    throw new HttpError(409, `job is ${job.status}: results are served once it is complete`, { status: job.status });
  }
}

/**
 * Builds the path of the page after `page`, keeping per_page and any status filter. Returns null on the
 * last page and past it.
 */
function nextPagePath(path: string, page: number, perPage: number, totalPages: number, status?: string): string | null {
  if (page >= totalPages) return null;
  const query = new URLSearchParams({ page: String(page + 1), per_page: String(perPage) });
  if (status) query.set("status", status);
  return `${path}?${query}`;
}

function iso(date: Date | null): string | null {
  return date === null ? null : date.toISOString();
}

export function jobStatusBody(job: JobRow) {
  const done = job.completed + job.failed;
  return {
    job_hash: job.hash,
    file_hash: job.fileHash,
    status: job.status,
    total_rows: job.totalRows,
    completed: job.completed,
    failed: job.failed,
    progress: job.totalRows ? Math.min(1, done / job.totalRows) : job.status === "complete" ? 1 : 0,
    error: job.error,
    created_at: job.createdAt.toISOString(),
    started_at: iso(job.startedAt),
    finished_at: iso(job.finishedAt),
  };
}

export function batchRoutes(deps: ApiDeps) {
  const { db, nats, logger, metrics } = deps;
  return new Elysia({ normalize: false })
    .post(
      "/locations/batch",
      async ({ body, set }) => {
        const job = await insertJob(db, body.file_hash);
        metrics.jobsCreated.inc();
        const log = logger.child({ job_hash: job.hash });
        try {
          await publishEvent(nats, "scheduled", { job_hash: job.hash, file_hash: job.fileHash });
          await dispatchFile(nats, job.hash, job.fileHash);
        } catch (error) {
          // The job is recorded; the sweeper dispatches a scheduled job whose file message never arrived.
          log.error({ err: describeError(error) }, "could not dispatch the job now; the sweeper will");
        }
        log.info({ file_hash: job.fileHash }, "job scheduled");
        set.status = 202;
        set.headers.location = `/locations/batch/${job.hash}`;
        return { job_hash: job.hash, file_hash: job.fileHash, status: "scheduled" as const };
      },
      {
        // Parsed as JSON whatever the content type, so a form body is rejected as invalid JSON.
        parse: "json",
        body: CreateJobBody,
        response: { 202: CreatedJob, 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 422: ErrorBody },
        detail: { ...secured, summary: "Create a batch job from a file hash" },
      },
    )
    .get(
      "/locations/batch",
      async ({ query }) => {
        const page = query.page ?? 1;
        const perPage = query.per_page ?? 500;
        // One snapshot for the count and the page, so a job created in between cannot make them disagree.
        const { total, jobRows } = await db.transaction(
          async (tx) => {
            const total = await countJobs(tx, query.status);
            const offset = (page - 1) * perPage;
            const jobRows = offset >= total ? [] : await listJobs(tx, { status: query.status, limit: perPage, offset });
            return { total, jobRows };
          },
          { isolationLevel: "repeatable read", accessMode: "read only" },
        );
        const totalPages = Math.ceil(total / perPage);
        return {
          page,
          per_page: perPage,
          total,
          total_pages: totalPages,
          next: nextPagePath("/locations/batch", page, perPage, totalPages, query.status),
          data: jobRows.map(jobStatusBody),
        };
      },
      {
        query: JobsQuery,
        response: { 200: JobsPageBody, 400: ErrorBody, 401: ErrorBody, 403: ErrorBody },
        detail: { ...secured, summary: "List jobs, newest first, 500 a page, optionally of one status" },
      },
    )
    .get(
      "/locations/batch/:job_hash",
      async ({ params }) => {
        const job = await findJob(db, params.job_hash);
        return jobStatusBody(job);
      },
      {
        params: JobHashParams,
        response: { 200: JobStatusBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody },
        detail: { ...secured, summary: "Read a job's status and progress" },
      },
    )
    .get(
      "/locations/batch/:job_hash/results",
      async ({ params, query }) => {
        const job = await findJob(db, params.job_hash);
        requireComplete(job);
        const page = query.page ?? 1;
        const perPage = query.per_page ?? 500;
        const total = query.status ? await countRecords(db, job.id, query.status) : (job.totalRows ?? 0);
        const totalPages = Math.ceil(total / perPage);
        const data = page > totalPages ? [] : await resultsPage(db, job.id, page, perPage, query.status);
        return {
          job_hash: job.hash,
          page,
          per_page: perPage,
          total,
          total_pages: totalPages,
          next: nextPagePath(`/locations/batch/${job.hash}/results`, page, perPage, totalPages, query.status),
          data,
        };
      },
      {
        params: JobHashParams,
        query: ResultsQuery,
        response: { 200: ResultsPageBody, 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: JobNotCompleteBody },
        detail: { ...secured, summary: "Read a complete job's results, 500 rows a page, in file order" },
      },
    );
}
