// The sweeper: finds jobs that a crash left behind and drives them on. Every worker runs it;
// each action is idempotent, so several sweepers at once do no harm. A job is looked at once its
// counts have not moved for STALLED_JOB_SECONDS (a scheduled job, once it is that old).
import { JetStreamApiCodes } from "@nats-io/jetstream";
import {
  jobsDoneButOpen,
  jobsOwingTerminalEvent,
  stalledProcessingJobs,
  staleScheduledJobs,
} from "../db/jobs.ts";
import type { JobRow } from "../db/schema.ts";
import { describeError } from "../log.ts";
import { isApiError } from "../nats/connection.ts";
import { publishEvent } from "../nats/events.ts";
import { dispatchFile } from "../nats/work-messages.ts";
import { closeJobIfDone, failRepeatedlyStoppedFileStage, publishTerminalEvent } from "./coordinator.ts";
import type { WorkerDeps } from "./deps.ts";
import { recordMissingRows } from "./missing-rows.ts";

/** A terminal event not confirmed after this long was lost to a crash between the close and the publish. */
const terminalEventGraceMs = 10_000;

/** Tells whether the job's file message is still in the work stream, waiting or being read. */
async function fileMessageWaiting(deps: WorkerDeps, jobHash: string): Promise<boolean> {
  const { jsm, names } = deps.nats;
  try {
    return (await jsm.streams.getMessage(names.workStream, { last_by_subj: names.fileSubject(jobHash) })) !== null;
  } catch (error) {
    if (isApiError(error, JetStreamApiCodes.NoMessageFound)) return false;
    throw error;
  }
}

/** Tells whether no row message of the job is waiting or held by a worker, so what is unrecorded now was given up. */
async function rowConsumerIdle(deps: WorkerDeps, jobHash: string): Promise<boolean> {
  const { jsm, names } = deps.nats;
  try {
    const info = await jsm.consumers.info(names.workStream, names.rowConsumer(jobHash));
    return info.num_pending === 0 && info.num_ack_pending === 0;
  } catch (error) {
    if (isApiError(error, JetStreamApiCodes.ConsumerNotFound)) return true;
    throw error;
  }
}

/** Drives on one processing job whose counts stopped moving. */
async function reviveStalledJob(deps: WorkerDeps, job: JobRow): Promise<void> {
  const log = deps.logger.child({ job_hash: job.hash });
  if (job.rowsDispatchedAt === null) {
    // The fan-out stopped part way. While the file message waits, a worker takes it up again.
    if (await fileMessageWaiting(deps, job.hash)) {
      if (job.fileAttempts < deps.config.maxDeliveries) return;
      await failRepeatedlyStoppedFileStage(deps, job.hash, job.fileAttempts);
      return;
    }
    log.warn("dispatching the file of a job whose file message was lost mid fan-out");
    await dispatchFile(deps.nats, job.hash, job.fileHash);
    return;
  }
  if (await rowConsumerIdle(deps, job.hash)) {
    const recorded = await recordMissingRows(deps, job);
    if (recorded > 0) log.warn({ rows: recorded }, "recorded rows the server gave up on as failed");
  }
}

export async function sweep(deps: WorkerDeps): Promise<void> {
  for (const job of await jobsDoneButOpen(deps.db)) {
    deps.logger.warn({ job_hash: job.hash }, "closing a job whose rows were all recorded");
    await closeJobIfDone(deps, job.id);
  }
  for (const job of await jobsOwingTerminalEvent(deps.db, terminalEventGraceMs)) {
    deps.logger.warn({ job_hash: job.hash, status: job.status }, "publishing a terminal event that was owed");
    await publishTerminalEvent(deps, job);
  }
  for (const job of await staleScheduledJobs(deps.db, deps.config.stalledJobMs)) {
    if (await fileMessageWaiting(deps, job.hash)) continue;
    deps.logger.warn({ job_hash: job.hash }, "dispatching the file of a job whose file message was lost");
    // The API may have failed before the scheduled event too; if it did not, the stream drops this copy.
    await publishEvent(deps.nats, "scheduled", { job_hash: job.hash, file_hash: job.fileHash });
    await dispatchFile(deps.nats, job.hash, job.fileHash);
  }
  for (const job of await stalledProcessingJobs(deps.db, deps.config.stalledJobMs)) {
    await reviveStalledJob(deps, job);
  }
}

/** Runs the sweeper every `intervalMs` until the signal aborts; a failed sweep is logged and tried again. */
export async function runSweeper(deps: WorkerDeps, intervalMs: number, signal: AbortSignal): Promise<void> {
  while (!signal.aborted) {
    try {
      await sweep(deps);
    } catch (error) {
      deps.logger.error({ err: describeError(error) }, "sweep failed");
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, intervalMs);
      signal.addEventListener("abort", () => {
        clearTimeout(timer);
        resolve();
      }, { once: true });
    });
  }
}
