// Watching the big job of a service run until its terminal event arrives: its status polled through
// the API, progress printed about once a second, and the 10-row job submitted at about 30% progress.
import type { JetStreamManager } from "@nats-io/jetstream";
import { sleep } from "../support/processes.ts";
import type { ApiClient, JobStatus } from "./api-client.ts";
import type { ServiceProcesses } from "./environment.ts";
import type { JobEvent, JobEvents } from "./job-events.ts";

const statusPollMs = 250;
const progressIntervalMs = 1000;
/** Share of the big job's rows done when the small job is submitted. */
export const smallJobAtProgress = 0.3;

export interface SmallJob {
  jobHash: string;
  /** performance.now() just before its POST. */
  postedAt: number;
  /** The big job's progress, 0 to 1, last read before the POST. */
  bigJobProgress: number;
  /** False when the big job had completed before 30% progress was seen, so the small job ran alone. */
  duringBigJob: boolean;
}

export interface WatchContext {
  label: string;
  client: ApiClient;
  events: JobEvents;
  processes: ServiceProcesses;
  smallFileHash: string;
  /** Manager on the run's nats-server, for reading how far the file stage has dispatched the rows. */
  jsm: JetStreamManager;
  workStream: string;
  rows: number;
  deadline: number;
  signal: AbortSignal;
}

export interface BigJobWatch {
  terminal: JobEvent;
  small: SmallJob;
  /** Seconds from the POST to the first poll that found every row in the work stream; null when no poll did. */
  dispatchedSeconds: number | null;
  /** Seconds from the POST to the last poll that found rows still to be dispatched. */
  undispatchedSeconds: number | null;
}

/**
 * Reads how many row messages the work stream has received: its last sequence number, less the
 * big job's file message. NOTE: a small job submitted during the fan-out adds its 11 messages too,
 * so the count can run up to 11 ahead.
 */
async function dispatchedRows(context: WatchContext): Promise<number | null> {
  try {
    const info = await context.jsm.streams.info(context.workStream);
    return Math.min(context.rows, Math.max(0, info.state.last_seq - 1));
  } catch {
    return null;
  }
}

function progressLine(label: string, postedAt: number, status: JobStatus | null, dispatched: number | null): string {
  const seconds = (performance.now() - postedAt) / 1000;
  if (status === null) return `[${seconds.toFixed(1).padStart(6)} s] ${label}: no status yet`;
  const done = status.completed + status.failed;
  const rate = done / seconds;
  return (
    `[${seconds.toFixed(1).padStart(6)} s] ${label}: ${status.status} ${done}/${status.total_rows ?? "?"} rows ` +
    `(${(status.progress * 100).toFixed(1)}%), ${rate.toFixed(0)} rows/s since the POST, ${dispatched ?? "?"} rows dispatched`
  );
}

/** Posts the small job, recording the time just before the request. */
async function submitSmallJob(context: WatchContext, bigJobProgress: number, duringBigJob: boolean): Promise<SmallJob> {
  const postedAt = performance.now();
  const jobHash = await context.client.createJob(context.smallFileHash);
  console.log(`submitted the ${duringBigJob ? "" : "(late) "}10-row job ${jobHash} at ${(bigJobProgress * 100).toFixed(1)}% of the big job`);
  return { jobHash, postedAt, bigJobProgress, duringBigJob };
}

/**
 * Polls the big job until its terminal event arrives, submitting the small job once the big job's
 * progress reaches 30%. Throws when the big job fails, a process exits, the run's time is up or the
 * benchmark is interrupted. When 30% was never seen, the small job is submitted after the big job.
 */
export async function watchBigJob(context: WatchContext, jobHash: string, postedAt: number): Promise<BigJobWatch> {
  let terminal: JobEvent | null = null;
  const terminalArrival = context.events.arrival("terminal", jobHash).then((event) => {
    terminal = event;
    return event;
  });
  let latest: JobStatus | null = null;
  let small: SmallJob | null = null;
  let printedAt = performance.now();
  let statusErrors = 0;
  let dispatched: number | null = null;
  let dispatchedSeconds: number | null = null;
  let undispatchedSeconds: number | null = null;

  while (terminal === null) {
    if (context.signal.aborted) throw new Error("interrupted");
    if (Date.now() > context.deadline) {
      throw new Error(`the big job did not end within the run's time limit; last: ${progressLine(context.label, postedAt, latest, dispatched)}`);
    }
    const exit = context.processes.describeExit();
    if (exit !== null) throw new Error(`${exit} while the big job ran`);

    try {
      latest = await context.client.status(jobHash);
    } catch (error) {
      // A slow status response under load is not a reason to end the run; the run's time limit bounds it.
      statusErrors += 1;
      if (statusErrors <= 3) console.error(`status request failed: ${(error as Error).message}`);
    }
    if (dispatchedSeconds === null) {
      dispatched = await dispatchedRows(context);
      const seconds = (performance.now() - postedAt) / 1000;
      if (dispatched === context.rows) dispatchedSeconds = seconds;
      else if (dispatched !== null) undispatchedSeconds = seconds;
    }
    if (small === null && latest !== null && latest.status === "processing" && latest.progress >= smallJobAtProgress) {
      small = await submitSmallJob(context, latest.progress, true);
    }
    if (performance.now() - printedAt >= progressIntervalMs) {
      printedAt = performance.now();
      console.log(progressLine(context.label, postedAt, latest, dispatched));
    }
    await Promise.race([terminalArrival, sleep(statusPollMs, context.signal)]);
  }

  const event: JobEvent = await terminalArrival;
  console.log(
    `[${((event.arrivedAt - postedAt) / 1000).toFixed(1).padStart(6)} s] ${context.label}: ${event.kind} event, ${event.payload.completed ?? "?"} ok, ${event.payload.failed ?? "?"} failed`,
  );
  if (event.kind === "failed") throw new Error(`the big job failed: ${event.payload.error ?? "no error given"}`);
  small ??= await submitSmallJob(context, 1, false);
  return { terminal: event, small, dispatchedSeconds, undispatchedSeconds };
}

/** Waits for the small job's terminal event and returns the seconds from its POST to that event. */
export async function waitForSmallJob(context: WatchContext, small: SmallJob): Promise<number> {
  const remainingMs = Math.max(0, context.deadline - Date.now());
  const timeout = sleep(remainingMs, context.signal).then(() => null);
  const event = await Promise.race([context.events.arrival("terminal", small.jobHash), timeout]);
  if (event === null) throw new Error(`the 10-row job ${small.jobHash} did not end within the run's time limit`);
  if (event.kind === "failed") throw new Error(`the 10-row job failed: ${event.payload.error ?? "no error given"}`);
  return (event.arrivedAt - small.postedAt) / 1000;
}
