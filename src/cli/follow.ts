// Follows a job by polling its status route until it is complete or failed, reporting progress on the way.
import { ApiError, isTransient, type ApiClient, type JobStatus } from "./client.ts";
import type { ProgressReporter } from "./progress-reporter.ts";

/**
 * Time in ms after which the command gives up on status requests that keep failing with no response, 502, 503
 * or 504.
 */
export const transientRetryMs = 60_000;

/** Minimum interval in ms between retries of a failed status request, however short the poll interval. */
const retryIntervalMinMs = 1_000;

export function isFinished(job: JobStatus): boolean {
  return job.status === "complete" || job.status === "failed";
}

/**
 * Polls the job every `pollMs` until it is complete or failed, reports each status, and returns the last
 * one. A transient failure (see isTransient) is retried for up to `retryLimitMs` (60 s by default), with
 * one note per run of failures. Any other error is thrown at once.
 */
export async function followJob(
  client: ApiClient,
  first: JobStatus,
  reporter: ProgressReporter,
  pollMs: number,
  retryLimitMs = transientRetryMs,
): Promise<JobStatus> {
  let job = first;
  let failingSinceMs: number | null = null;
  while (!isFinished(job)) {
    reporter.update(job);
    await Bun.sleep(failingSinceMs === null ? pollMs : Math.max(pollMs, retryIntervalMinMs));
    try {
      job = await client.jobStatus(job.job_hash);
      if (failingSinceMs !== null) reporter.note("status requests work again");
      failingSinceMs = null;
    } catch (error) {
      if (!isTransient(error)) throw error;
      const nowMs = performance.now();
      if (failingSinceMs === null) {
        failingSinceMs = nowMs;
        reporter.note(`${(error as ApiError).message}; trying again for up to ${Math.round(retryLimitMs / 1000)} s`);
      } else if (nowMs - failingSinceMs >= retryLimitMs) {
        throw error;
      }
    }
  }
  reporter.finish(job);
  return job;
}
