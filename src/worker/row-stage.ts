// The row stage: resolves a batch of one job's row messages in memory, records the batch, publishes
// one tick or error event per row, counts the rows in the job, then acknowledges the messages.
import type { JsMsg } from "@nats-io/jetstream";
import { addCounts } from "../db/jobs.ts";
import {
  insertRecords,
  markPublished,
  unpublishedOutcomes,
  unpublishedRows,
  upsertLocations,
  type NewRecord,
} from "../db/records.ts";
import { describeError } from "../log.ts";
import { publishEvent } from "../nats/events.ts";
import { decodeRowWork, type RowWork } from "../nats/work-messages.ts";
import type { ResolvedLocation, Resolution, Resolver } from "../resolver/types.ts";
import { closeJobIfDone } from "./coordinator.ts";
import { retryDelayMs, type WorkerDeps } from "./deps.ts";

export interface JobRef {
  id: number;
  hash: string;
}

interface Outcome {
  row: number;
  status: "ok" | "failed";
  locationHash: string | null;
}

export function resolveRow(resolver: Resolver, work: RowWork): Resolution {
  if (work.kind === "invalid") return { ok: false, error: work.error ?? "invalid value" };
  if (work.kind === "point") {
    if (work.latitude === undefined || work.longitude === undefined) return { ok: false, error: "point without latitude or longitude" };
    return resolver.resolvePoint(work.latitude, work.longitude);
  }
  return resolver.resolveText(work.value);
}

async function publishOutcomes(deps: WorkerDeps, jobHash: string, outcomes: Outcome[]): Promise<void> {
  await Promise.all(
    outcomes.map((outcome) =>
      outcome.status === "ok"
        ? publishEvent(deps.nats, "tick", { job_hash: jobHash, location_hash: outcome.locationHash!, row: outcome.row }, outcome.row)
        : publishEvent(deps.nats, "error", { job_hash: jobHash, reason: "row failed", row: outcome.row }, outcome.row),
    ),
  );
}

/** Ids of the batch's locations: from the shared cache where known, else upserted and then cached. */
async function locationIdsFor(deps: WorkerDeps, locations: ResolvedLocation[]): Promise<Map<string, number>> {
  const hashes = [...new Set(locations.map((location) => location.locationHash))];
  const ids = await deps.locationIds.get(hashes);
  const unknown = locations.filter((location) => !ids.has(location.locationHash));
  if (unknown.length > 0) {
    const upserted = await upsertLocations(deps.db, unknown);
    await deps.locationIds.set(upserted);
    for (const [hash, id] of upserted) ids.set(hash, id);
  }
  return ids;
}

/**
 * Records one batch of a job's rows in three steps. First the outcomes are inserted, skipping rows an
 * earlier delivery recorded. Then every recorded row of the batch whose event is not yet published
 * gets its tick or error event, under a message id, so a repeat after a crash is dropped by the
 * stream. Last, one transaction marks those rows published and adds them to the job's counts.
 * Counting after publishing means the counts reach total_rows only once every row event is in the
 * stream, so the completed event that follows is the job's last.
 */
export async function recordBatch(deps: WorkerDeps, job: JobRef, works: RowWork[]): Promise<void> {
  const resolved = works.map((work) => {
    try {
      return { work, resolution: resolveRow(deps.resolver, work) };
    } catch (error) {
      deps.logger.error({ job_hash: job.hash, row: work.row, err: describeError(error) }, "resolver raised an error");
      return { work, resolution: { ok: false, error: "internal error while resolving this value" } as Resolution };
    }
  });

  const locationIds = await locationIdsFor(
    deps,
    resolved.flatMap(({ resolution }) => (resolution.ok ? [resolution.location] : [])),
  );
  const records: NewRecord[] = resolved.map(({ work, resolution }) => ({
    row: work.row,
    value: work.value,
    status: resolution.ok ? "ok" : "failed",
    locationId: resolution.ok ? locationIds.get(resolution.location.locationHash)! : null,
    matchLevel: resolution.ok ? (resolution.matchLevel ?? null) : null,
    error: resolution.ok ? null : resolution.error,
  }));
  const inserted = await insertRecords(deps.db, job.id, records);

  const insertedRows = new Set(inserted.map((record) => record.row));
  const outcomes: Outcome[] = resolved
    .filter(({ work }) => insertedRows.has(work.row))
    .map(({ work, resolution }) => ({
      row: work.row,
      status: resolution.ok ? "ok" : "failed",
      locationHash: resolution.ok ? resolution.location.locationHash : null,
    }));
  const repeated = works.filter((work) => !insertedRows.has(work.row)).map((work) => work.row);
  if (repeated.length > 0) {
    deps.logger.info({ job_hash: job.hash, rows: repeated.length }, "rows delivered again after being recorded");
    outcomes.push(...(await unpublishedOutcomes(deps.db, job.id, repeated)));
  }
  await publishAndCount(deps, job, outcomes);
}

/** Publishes the row events of recorded rows, then marks them published and counts them in one transaction. */
async function publishAndCount(deps: WorkerDeps, job: JobRef, outcomes: Outcome[]): Promise<void> {
  await publishOutcomes(deps, job.hash, outcomes);

  const { marked, counted } = await deps.db.transaction(async (tx) => {
    const marked = await markPublished(tx, job.id, outcomes.map((outcome) => outcome.row));
    const ok = marked.filter((record) => record.status === "ok").length;
    const counted = await addCounts(tx, job.id, ok, marked.length - ok);
    return { marked, counted };
  });

  const okCount = marked.filter((record) => record.status === "ok").length;
  deps.metrics.rowsProcessed.inc({ status: "ok" }, okCount);
  deps.metrics.rowsProcessed.inc({ status: "failed" }, marked.length - okCount);

  if (counted.totalRows !== null && counted.completed + counted.failed >= counted.totalRows) {
    await closeJobIfDone(deps, job.id);
  }
}

/**
 * Publishes and counts rows that were recorded but never published, because every delivery of their
 * message ended between the two steps. Returns how many rows it settled.
 */
export async function settleUnpublishedRows(deps: WorkerDeps, job: JobRef, limit = 5000): Promise<number> {
  const rows = await unpublishedRows(deps.db, job.id, limit);
  if (rows.length === 0) return 0;
  const outcomes = await unpublishedOutcomes(deps.db, job.id, rows);
  await publishAndCount(deps, job, outcomes);
  return outcomes.length;
}

/** Handles a batch of messages from one job's consumer: records them, then acknowledges or retries each. */
export async function handleRowMessages(deps: WorkerDeps, job: JobRef, messages: JsMsg[]): Promise<void> {
  const started = performance.now();
  const works: RowWork[] = [];
  const accepted: JsMsg[] = [];
  for (const msg of messages) {
    try {
      works.push(decodeRowWork(msg.data));
      accepted.push(msg);
    } catch (error) {
      deps.logger.error({ job_hash: job.hash, err: describeError(error) }, "row message dropped");
      msg.term("malformed row message");
    }
  }
  if (works.length === 0) return;

  // A batch slowed by a Postgres restart keeps its messages from being delivered to another worker meanwhile.
  const heartbeat = setInterval(() => {
    for (const msg of accepted) msg.working();
  }, Math.max(1000, deps.config.ackWaitMs / 3));
  try {
    await recordBatch(deps, job, works);
    for (const msg of accepted) msg.ack();
    deps.metrics.stageSeconds.observe({ stage: "row_batch" }, (performance.now() - started) / 1000);
  } catch (error) {
    await retryOrGiveUp(deps, job, accepted, works, error);
  } finally {
    clearInterval(heartbeat);
  }
}

/** The record of a row given up after `tries`: failed, with its value when the value can be stored. */
export function givenUpRow(row: number, value: string, tries: number): RowWork {
  return { row, kind: "invalid", value, error: `row could not be processed after ${tries} tries` };
}

/**
 * Records a row on its last delivery, alone, since it may succeed where its batch did not. Failing
 * that, it is recorded as failed, and failing that too (the value itself may be what the database
 * rejects) as failed without its value.
 */
async function recordAlone(deps: WorkerDeps, job: JobRef, work: RowWork, tries: number): Promise<void> {
  try {
    await recordBatch(deps, job, [work]);
    return;
  } catch (error) {
    deps.logger.warn({ job_hash: job.hash, row: work.row, err: describeError(error) }, "row failed alone too, recording it as failed");
  }
  try {
    await recordBatch(deps, job, [givenUpRow(work.row, work.value, tries)]);
  } catch {
    await recordBatch(deps, job, [givenUpRow(work.row, "", tries)]);
  }
}

/**
 * Settles a failed batch. Rows on their last delivery are recorded one by one, as failed if need be,
 * so the job can still complete. The other rows are delivered again after a growing delay.
 */
async function retryOrGiveUp(deps: WorkerDeps, job: JobRef, messages: JsMsg[], works: RowWork[], error: unknown): Promise<void> {
  const reason = describeError(error);
  for (const [index, msg] of messages.entries()) {
    const work = works[index]!;
    const delivery = msg.info.deliveryCount;
    if (delivery < deps.config.maxDeliveries) {
      msg.nak(retryDelayMs(delivery));
      continue;
    }
    deps.logger.error({ job_hash: job.hash, row: work.row, attempt: delivery, err: reason }, "row gave up after its last delivery");
    try {
      await recordAlone(deps, job, work, delivery);
      msg.ack();
    } catch (recordError) {
      // Left unacknowledged, the message is not delivered again; the sweeper records the row as failed.
      deps.logger.error({ job_hash: job.hash, row: work.row, err: describeError(recordError) }, "could not record a given-up row");
    }
  }
  deps.logger.warn({ job_hash: job.hash, rows: messages.length, err: reason }, "row batch failed, will retry");
}
