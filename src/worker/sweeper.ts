// The sweeper: finds jobs that a crash left behind and drives them on. Every worker runs it;
// each action is idempotent, so several sweepers at once do no harm.
import { jobsDoneButOpen, jobsOwingTerminalEvent, staleScheduledJobs } from "../db/jobs.ts";
import { describeError } from "../log.ts";
import { encodeWork } from "../nats/work-messages.ts";
import { closeJobIfDone, publishTerminalEvent } from "./coordinator.ts";
import type { WorkerDeps } from "./deps.ts";

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
        await nats.js.publish(nats.names.fileSubject, encodeWork({ job_hash: job.hash, file_hash: job.fileHash }), {
          msgID: `file:${job.hash}`,
        });
      }
    }
  }
  // TODO: a processing job whose rows were given up by the server (max deliveries reached without a
  // record) stays processing; the sweeper should record those rows as failed from the file.
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
