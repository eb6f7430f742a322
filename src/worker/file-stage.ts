// The file stage: reads a job's file twice, first to validate it whole and count its rows,
// then to publish one work message per row on the job's own row subject.
import type { JsMsg } from "@nats-io/jetstream";
import { countFileAttempt, findJobByHash, markRowsDispatched, startJob } from "../db/jobs.ts";
import { FileFetchError, FileNotFoundError } from "../files/store.ts";
import { describeError } from "../log.ts";
import { ensureRowConsumer } from "../nats/connection.ts";
import { publishEvent } from "../nats/events.ts";
import { decodeFileWork, encodeWork, type RowWork } from "../nats/work-messages.ts";
import { readRows } from "../readers/index.ts";
import { FileFormatError } from "../readers/types.ts";
import { failJobWithEvent, failRepeatedlyStoppedFileStage } from "./coordinator.ts";
import { retryDelayMs, type WorkerDeps } from "./deps.ts";

/** Row publishes kept in flight at once during the fan-out; each waits for the stream's acknowledgement. */
const publishWindow = 512;
/**
 * Rows read between two full garbage collections. Reading a file allocates about 1.5 KB of short-lived
 * objects a row, faster than Bun's collector returns memory on its own: without these collections a
 * worker dispatching a million-row file peaked about 200 MiB higher (measured with Bun 1.4.5 here).
 */
const collectEveryRows = 16_384;
/** Interval at which a long read sends the server a progress acknowledgement for the file message. */
const heartbeatMs = 5000;

/** The worker is shutting down: the file message goes back at once for another worker to take. */
class ShutdownError extends Error {
  override readonly name = "ShutdownError";
}

function heartbeat(msg: JsMsg): () => void {
  const timer = setInterval(() => msg.working(), heartbeatMs);
  return () => clearInterval(timer);
}

async function countRows(deps: WorkerDeps, fileHash: string): Promise<number> {
  const file = await deps.files.open(fileHash);
  let rows = 0;
  for await (const _row of readRows(file.body, file.contentType)) {
    rows += 1;
    if (rows % collectEveryRows === 0) Bun.gc(true);
    if (rows > deps.config.maxRowsPerFile) {
      await file.body.cancel().catch(() => undefined);
      throw new FileFormatError(`file has more than ${deps.config.maxRowsPerFile} rows, the limit (MAX_ROWS)`);
    }
  }
  if (rows === 0) throw new FileFormatError("file contains no rows");
  return rows;
}

async function publishRows(
  deps: WorkerDeps,
  jobHash: string,
  fileHash: string,
  expectedRows: number,
  signal: AbortSignal | undefined,
): Promise<void> {
  const file = await deps.files.open(fileHash);
  const subject = deps.nats.names.rowSubject(jobHash);
  let inFlight: Promise<unknown>[] = [];
  let row = 0;
  for await (const value of readRows(file.body, file.contentType)) {
    row += 1;
    const message: RowWork = { row, ...value };
    // The message id makes a publish repeated by a retried fan-out a duplicate the stream drops.
    inFlight.push(deps.nats.js.publish(subject, encodeWork(message), { msgID: `${jobHash}:${row}` }));
    if (inFlight.length >= publishWindow) {
      await Promise.all(inFlight);
      inFlight = [];
      if (row % collectEveryRows < publishWindow) Bun.gc(true);
      if (signal?.aborted) {
        await file.body.cancel().catch(() => undefined);
        throw new ShutdownError(`worker stopped while dispatching row ${row}`);
      }
    }
  }
  await Promise.all(inFlight);
  if (row !== expectedRows) {
    throw new Error(`file ${fileHash} gave ${expectedRows} rows on the first read and ${row} on the second`);
  }
}

/**
 * Handles one file message. It acknowledges the message, or requests a delayed redelivery on a fault worth retrying.
 * When `signal` aborts, a fan-out in progress stops and the message goes back for another worker.
 */
export async function handleFileMessage(deps: WorkerDeps, msg: JsMsg, signal?: AbortSignal): Promise<void> {
  let work;
  try {
    work = decodeFileWork(msg.data);
  } catch (error) {
    // The job hash is the last token of a file subject. Logging it lets a search by job_hash find this line.
    deps.logger.error({ err: describeError(error), subject: msg.subject, job_hash: msg.subject.split(".").at(-1) }, "file message dropped");
    msg.term("malformed file message");
    return;
  }
  const log = deps.logger.child({ job_hash: work.job_hash });
  const job = await findJobByHash(deps.db, work.job_hash);
  if (job === null || job.status === "complete" || job.status === "failed") {
    log.info({ status: job?.status ?? null }, "file message for a job that is gone or final, skipped");
    msg.ack();
    return;
  }

  const stopHeartbeat = heartbeat(msg);
  const started = performance.now();
  let attempt = 0;
  try {
    attempt = await countFileAttempt(deps.db, work.job_hash);
    if (attempt > deps.config.maxDeliveries) {
      // Each attempt before this one ended without settling the message, because the worker reading it died.
      await failRepeatedlyStoppedFileStage(deps, work.job_hash, attempt - 1);
      msg.ack();
      return;
    }
    const totalRows = await countRows(deps, work.file_hash);
    await ensureRowConsumer(deps.nats, deps.config, work.job_hash);
    const processing = await startJob(deps.db, work.job_hash, totalRows);
    if (processing === null) {
      msg.ack();
      return;
    }
    await publishEvent(deps.nats, "started", { job_hash: work.job_hash, file_hash: work.file_hash });
    log.info({ total_rows: totalRows }, "file validated, dispatching rows");
    await publishRows(deps, work.job_hash, work.file_hash, totalRows, signal);
    await markRowsDispatched(deps.db, work.job_hash);
    log.info({ total_rows: totalRows, seconds: (performance.now() - started) / 1000 }, "rows dispatched");
    deps.metrics.stageSeconds.observe({ stage: "file" }, (performance.now() - started) / 1000);
    msg.ack();
  } catch (error) {
    await settleFileFailure(deps, msg, work.job_hash, attempt, error);
  } finally {
    stopHeartbeat();
  }
}

/**
 * Settles a file message whose stage failed. `attempt` is the job's attempt count in Postgres (0 when it
 * could not be counted). It decides when to give up, because JetStream's delivery count also counts
 * the hand-backs of workers that stopped at shutdown.
 */
async function settleFileFailure(deps: WorkerDeps, msg: JsMsg, jobHash: string, attempt: number, error: unknown): Promise<void> {
  const log = deps.logger.child({ job_hash: jobHash });
  if (error instanceof ShutdownError) {
    log.info({ reason: error.message }, "file handed back at shutdown");
    await countFileAttempt(deps.db, jobHash, -1).catch(() => undefined);
    msg.nak();
    return;
  }
  if (error instanceof FileFormatError || error instanceof FileNotFoundError) {
    await failJobWithEvent(deps, jobHash, error.message);
    msg.ack();
    return;
  }
  const delivery = Math.max(attempt, 1);
  if (delivery >= deps.config.maxDeliveries) {
    const reason = error instanceof FileFetchError ? error.message : `file could not be processed: ${describeError(error).message}`;
    log.error({ err: describeError(error), attempt: delivery }, "file stage gave up");
    try {
      await failJobWithEvent(deps, jobHash, reason);
      msg.ack();
    } catch (failError) {
      log.error({ err: describeError(failError) }, "could not fail the job; the sweeper will");
      msg.term(reason);
    }
    return;
  }
  const delayMs = retryDelayMs(delivery);
  log.warn({ err: describeError(error), attempt: delivery, retry_in_ms: delayMs }, "file stage failed, will retry");
  msg.nak(delayMs);
}
