// Follows a job by polling its status route until it is complete or failed, reporting progress on the way.
import { ApiError, isTransient, type ApiClient, type JobStatus } from "./client.ts";
import type { ProgressReporter } from "./progress-reporter.ts";

/** Status requests that keep failing with no response, 502, 503 or 504 are given up after this long. */
export const transientRetryMs = 60_000;

/** Failed status requests are retried no faster than this, however short the poll interval. */
const retryIntervalMinMs = 1_000;

export function isFinished(job: JobStatus): boolean {
  return job.status === "complete" || job.status === "failed";
}

/**
 * Polls the job every `pollMs` until it is complete or failed and returns that last status. A
 * transient failure (see isTransient) is tried again for up to 60 s, with one note per run of
 * failures. Any other ApiError is thrown at once.
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
