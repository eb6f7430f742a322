// The per-job coordinator: closes a job out once every row has an outcome, with exactly one
// terminal event, and publishes the terminal event of a failed job.
import { completeJobIfDone, failJob, findJobByHash, markTerminalEventPublished } from "../db/jobs.ts";
import type { JobRow } from "../db/schema.ts";
import { removeJobRows } from "../nats/connection.ts";
import { publishEvent } from "../nats/events.ts";
import type { WorkerDeps } from "./deps.ts";

/**
 * Completes the job if its counts reached the total. Only the caller whose conditional update wins
 * publishes `completed`; the event's message id makes a repeat by the sweeper a no-op.
 */
export async function closeJobIfDone(deps: WorkerDeps, jobId: number): Promise<boolean> {
  const job = await completeJobIfDone(deps.db, jobId);
  if (job === null) return false;
  deps.logger.info({ job_hash: job.hash, total_rows: job.totalRows, completed: job.completed, failed: job.failed }, "job complete");
  deps.metrics.jobsFinished.inc({ status: "complete" });
  deps.metrics.stageSeconds.observe({ stage: "job" }, (Date.now() - job.createdAt.getTime()) / 1000);
  await publishTerminalEvent(deps, job);
  await removeJobRows(deps.nats, job.hash);
  return true;
}

/** Fails a job that is not final yet, publishes `failed`, and removes its row consumer. */
export async function failJobWithEvent(deps: WorkerDeps, jobHash: string, error: string): Promise<void> {
  const changed = await failJob(deps.db, jobHash, error);
  if (!changed) return;
  deps.logger.warn({ job_hash: jobHash, error }, "job failed");
  deps.metrics.jobsFinished.inc({ status: "failed" });
  const job = await findJobByHash(deps.db, jobHash);
  if (job !== null) await publishTerminalEvent(deps, job);
  await removeJobRows(deps.nats, jobHash);
}

/** Fails a job whose file stage stopped `stops` times because its worker died before settling the file message. */
export async function failRepeatedlyStoppedFileStage(deps: WorkerDeps, jobHash: string, stops: number): Promise<void> {
  deps.logger.error({ job_hash: jobHash, attempts: stops }, "failing a job whose file stage kept stopping");
  await failJobWithEvent(deps, jobHash, `file could not be read and dispatched: the worker reading it stopped ${stops} times`);
}

/** Publishes the event a final job owes and records that it did; safe to call again. */
export async function publishTerminalEvent(deps: WorkerDeps, job: JobRow): Promise<void> {
  if (job.status === "complete") {
    await publishEvent(deps.nats, "completed", {
      job_hash: job.hash,
      file_hash: job.fileHash,
      total_rows: job.totalRows ?? 0,
      completed: job.completed,
      failed: job.failed,
    });
  } else if (job.status === "failed") {
    await publishEvent(deps.nats, "failed", { job_hash: job.hash, file_hash: job.fileHash, error: job.error ?? "job failed" });
  } else {
    throw new Error(`job ${job.hash} is ${job.status}, and only a final job has a terminal event`);
  }
  await markTerminalEventPublished(deps.db, job.id);
}
