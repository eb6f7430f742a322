// The sweeper: finds jobs that a crash left behind and drives them on. Every worker runs it;
// each action is idempotent, so several sweepers at once do no harm.
import { jobsDoneButOpen, jobsOwingTerminalEvent, stalledProcessingJobs, staleScheduledJobs } from "../db/jobs.ts";
import { describeError } from "../log.ts";
import { publishEvent } from "../nats/events.ts";
import { encodeWork } from "../nats/work-messages.ts";
import { closeJobIfDone, publishTerminalEvent } from "./coordinator.ts";
import type { WorkerDeps } from "./deps.ts";
import { settleUnpublishedRows } from "./row-stage.ts";

/** A terminal event not confirmed after this long was lost to a crash between the close and the publish. */
const terminalEventGraceMs = 10_000;

export async function sweep(deps: WorkerDeps): Promise<void> {
  for (const job of await jobsDoneButOpen(deps.db)) {
    deps.logger.warn({ job_hash: job.hash }, "closing a job whose rows were all recorded");
    await closeJobIfDone(deps, job.id);
  }
  for (const job of await jobsOwingTerminalEvent(deps.db, terminalEventGraceMs)) {
    deps.logger.warn({ job_hash: job.hash, status: job.status }, "publishing a terminal event that was owed");
    await publishTerminalEvent(deps, job);
  }
  const stale = await staleScheduledJobs(deps.db, deps.config.stalledJobMs);
  if (stale.length > 0) {
    const { nats } = deps;
    const info = await nats.jsm.consumers.info(nats.names.workStream, nats.names.fileConsumer);
    // With no file message waiting or in progress anywhere, a scheduled job's message was lost.
    if (info.num_pending === 0 && info.num_ack_pending === 0) {
      for (const job of stale) {
        deps.logger.warn({ job_hash: job.hash }, "dispatching the file of a job whose file message was lost");
        // The API may have failed before the scheduled event too; if it did not, the stream drops this copy.
        await publishEvent(nats, "scheduled", { job_hash: job.hash, file_hash: job.fileHash });
        await nats.js.publish(nats.names.fileSubject, encodeWork({ job_hash: job.hash, file_hash: job.fileHash }), {
          msgID: `file:${job.hash}`,
        });
      }
    }
  }
  for (const job of await stalledProcessingJobs(deps.db, deps.config.stalledJobMs)) {
    const settled = await settleUnpublishedRows(deps, { id: job.id, hash: job.hash });
    if (settled > 0) deps.logger.warn({ job_hash: job.hash, rows: settled }, "published the events of rows a crash left unpublished");
  }
  // TODO: a row whose message the server gave up on before any delivery recorded it leaves its job
  // processing. The sweeper should read that row from the file again and record it as failed.
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
