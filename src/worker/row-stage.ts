// The row stage: resolves a batch of one job's row messages in memory, publishes one tick or error
// event per row, records the batch and counts it in the job, then acknowledges the messages.
import type { JsMsg } from "@nats-io/jetstream";
import { insertRecords, recordedRows, upsertLocations, type NewRecord } from "../db/records.ts";
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
 * Records one batch of a job's rows. Rows an earlier delivery recorded are left out: their event was
 * published before their record was written. The others get their tick or error event first, under a
 * message id per row, so a repeat after a crash is dropped by the events stream. Then one statement
 * records them and adds them to the job's counts. Counting after publishing means the counts reach
 * total_rows only once every row event is in the stream, so the completed event that follows is the
 * job's last, however many workers share the job.
 */
export async function recordBatch(deps: WorkerDeps, job: JobRef, works: RowWork[]): Promise<void> {
  const recorded = await recordedRows(deps.db, job.id, works.map((work) => work.row));
  if (recorded.size > 0) deps.logger.info({ job_hash: job.hash, rows: recorded.size }, "rows delivered again after being recorded");
  const fresh = works.filter((work) => !recorded.has(work.row));
  if (fresh.length === 0) return;

  const resolved = fresh.map((work) => {
    try {
      return { work, resolution: resolveRow(deps.resolver, work) };
    } catch (error) {
      deps.logger.error({ job_hash: job.hash, row: work.row, err: describeError(error) }, "resolver raised an error");
      return { work, resolution: { ok: false, error: "internal error while resolving this value" } as Resolution };
    }
  });
  const outcomes: Outcome[] = resolved.map(({ work, resolution }) => ({
    row: work.row,
    status: resolution.ok ? "ok" : "failed",
    locationHash: resolution.ok ? resolution.location.locationHash : null,
  }));

  // The events and the locations do not depend on each other, so they are written side by side.
  const [, locationIds] = await Promise.all([
    publishOutcomes(deps, job.hash, outcomes),
    locationIdsFor(deps, resolved.flatMap(({ resolution }) => (resolution.ok ? [resolution.location] : []))),
  ]);

  const records: NewRecord[] = resolved.map(({ work, resolution }) => ({
    row: work.row,
    value: work.value,
    status: resolution.ok ? "ok" : "failed",
    locationId: resolution.ok ? locationIds.get(resolution.location.locationHash)! : null,
    matchLevel: resolution.ok ? (resolution.matchLevel ?? null) : null,
    error: resolution.ok ? null : resolution.error,
  }));
  const counted = await insertRecords(deps.db, job.id, records);
  deps.metrics.rowsProcessed.inc({ status: "ok" }, counted.insertedOk);
  deps.metrics.rowsProcessed.inc({ status: "failed" }, counted.inserted - counted.insertedOk);

  if (counted.totalRows !== null && counted.completed + counted.failed >= counted.totalRows) {
    await closeJobIfDone(deps, job.id);
  }
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

/** Builds the record of a row given up after `tries`: failed, with its value when the value can be stored. */
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
