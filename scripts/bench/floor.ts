// The floor: JetStream alone, moving rows the way the service moves them and doing no other work.
// Row messages are published with message ids to a work-queue stream, 512 in flight. Meanwhile a
// pull consumer takes them in fetches of 500. For each batch it publishes one event a row, with a
// message id, to a limits-retention events stream, and then acknowledges the batch. Both sides run at
// once, as in the service, on two connections of the benchmark's own process.
import {
  AckPolicy,
  jetstream,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
  type Consumer,
  type JetStreamClient,
  type JsMsg,
} from "@nats-io/jetstream";
import { nanos, type NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { randomHex } from "../support/environment.ts";
import { sleep } from "../support/processes.ts";

/** The settings below copy the service's defaults: its fan-out window, ROW_BATCH_SIZE, its fetch expiry, ack wait and stream limits. */
const publishWindow = 512;
const fetchBatchSize = 500;
const fetchExpiresMs = 1000;
const ackWaitMs = 30_000;
const maxDeliveries = 5;
const duplicateWindowMs = 600_000;
const eventsMaxAgeMs = 168 * 3_600_000;
const progressIntervalMs = 1000;
/** The floor fails when no row has been consumed for this long. */
const stallLimitMs = 60_000;
const drainWaitMs = 5000;

const workStream = "FLOOR_WORK";
const eventsStream = "FLOOR_EVENTS";
const consumerName = "floor_rows";
const eventSubject = "floor.location.batch.tick";
export const floorMode = "publish and consume concurrently, on two connections of one process";

/** A real place name of 60 UTF-8 bytes, so that a row message is about 100 bytes, like a long value in the service. */
const rowValue = "Saint-Rémy-de-Provence, Provence-Alpes-Côte d'Azur, France";
const encoder = new TextEncoder();
const decoder = new TextDecoder();

export interface FloorResult {
  mode: string;
  rows: number;
  seconds: number;
  rowsPerSecond: number;
  /** When the last row publish was acknowledged, from the start. */
  publishSeconds: number;
  rowMessageBytes: number;
  eventBytes: number;
  /** Messages in the events stream at the end; must equal `rows`. */
  eventsStored: number;
  /** Row publishes the stream reported as duplicates; must be 0. */
  duplicates: number;
}

interface Progress {
  published: number;
  consumed: number;
  duplicates: number;
}

function rowMessage(row: number): Uint8Array {
  return encoder.encode(JSON.stringify({ row, kind: "text", value: rowValue }));
}

/** Encodes a tick event of the service's shape: a 24-digit job hash, a 32-digit location hash, the row and a timestamp. */
function tickEvent(jobHash: string, locationHash: string, row: number): Uint8Array {
  return encoder.encode(JSON.stringify({ job_hash: jobHash, location_hash: locationHash, row, timestamp: new Date().toISOString() }));
}

async function createStreams(connection: NatsConnection): Promise<void> {
  const jsm = await jetstreamManager(connection);
  await jsm.streams.add({
    name: workStream,
    subjects: ["floor.work.rows.*"],
    retention: RetentionPolicy.Workqueue,
    storage: StorageType.File,
    duplicate_window: nanos(duplicateWindowMs),
  });
  await jsm.streams.add({
    name: eventsStream,
    subjects: ["floor.location.batch.>"],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    max_age: nanos(eventsMaxAgeMs),
    duplicate_window: nanos(duplicateWindowMs),
  });
  await jsm.consumers.add(workStream, {
    durable_name: consumerName,
    filter_subject: "floor.work.rows.*",
    ack_policy: AckPolicy.Explicit,
    ack_wait: nanos(ackWaitMs),
    max_deliver: maxDeliveries,
    max_ack_pending: Math.max(fetchBatchSize * 8, 1000),
  });
}

async function publishRows(js: JetStreamClient, jobHash: string, rows: number, progress: Progress, signal: AbortSignal): Promise<void> {
  const subject = `floor.work.rows.${jobHash}`;
  let inFlight: ReturnType<JetStreamClient["publish"]>[] = [];
  for (let row = 1; row <= rows && !signal.aborted; row += 1) {
    inFlight.push(js.publish(subject, rowMessage(row), { msgID: `${jobHash}:${row}` }));
    if (inFlight.length >= publishWindow || row === rows) {
      const acks = await Promise.all(inFlight);
      progress.published += acks.length;
      progress.duplicates += acks.filter((ack) => ack.duplicate).length;
      inFlight = [];
    }
  }
}

async function fetchBatch(consumer: Consumer): Promise<JsMsg[]> {
  const messages = await consumer.fetch({ max_messages: fetchBatchSize, expires: fetchExpiresMs });
  const batch: JsMsg[] = [];
  for await (const msg of messages) batch.push(msg);
  return batch;
}

/**
 * Consumes `rows` messages. The next fetch is started before a batch's events are published, as the
 * service's worker keeps pulling while it records a batch.
 */
async function consumeRows(js: JetStreamClient, jobHash: string, rows: number, progress: Progress, deadline: number, signal: AbortSignal): Promise<void> {
  const consumer = await js.consumers.get(workStream, consumerName);
  const locationHashes = Array.from({ length: 1000 }, () => randomHex(16));
  let next: Promise<JsMsg[]> | null = fetchBatch(consumer);
  let lastProgressAt = Date.now();
  while (next !== null && !signal.aborted) {
    const batch: JsMsg[] = await next;
    const now = Date.now();
    if (now > deadline) throw new Error(`the floor did not finish within its time limit; consumed ${progress.consumed} of ${rows} rows`);
    if (batch.length > 0) lastProgressAt = now;
    else if (now - lastProgressAt > stallLimitMs) throw new Error(`no row consumed for ${stallLimitMs / 1000} s; consumed ${progress.consumed} of ${rows}`);
    next = progress.consumed + batch.length < rows ? fetchBatch(consumer) : null;

    await Promise.all(
      batch.map((msg) => {
        const { row } = JSON.parse(decoder.decode(msg.data)) as { row: number };
        const event = tickEvent(jobHash, locationHashes[row % locationHashes.length]!, row);
        return js.publish(eventSubject, event, { msgID: `${jobHash}:${row}:tick` });
      }),
    );
    for (const msg of batch) msg.ack();
    progress.consumed += batch.length;
  }
}

/** Waits up to 5 s for the work stream to be empty, then returns the events stream's message count. */
async function countStoredEvents(connection: NatsConnection): Promise<{ events: number; workLeft: number }> {
  const jsm = await jetstreamManager(connection);
  const deadline = Date.now() + drainWaitMs;
  let workLeft = (await jsm.streams.info(workStream)).state.messages;
  while (workLeft > 0 && Date.now() < deadline) {
    await sleep(100);
    workLeft = (await jsm.streams.info(workStream)).state.messages;
  }
  return { events: (await jsm.streams.info(eventsStream)).state.messages, workLeft };
}

/** Runs the floor on the nats-server at `natsUrl`, printing progress about once a second. */
export async function runFloor(natsUrl: string, rows: number, timeLimitMs: number, signal: AbortSignal): Promise<FloorResult> {
  const publisher = await connect({ servers: natsUrl, name: "bench-floor-publisher" });
  const consumer = await connect({ servers: natsUrl, name: "bench-floor-consumer" });
  try {
    await createStreams(publisher);
    const jobHash = randomHex(12);
    const progress: Progress = { published: 0, consumed: 0, duplicates: 0 };
    const started = performance.now();
    const printProgress = () => {
      const seconds = ((performance.now() - started) / 1000).toFixed(1);
      console.log(`[${seconds.padStart(6)} s] floor: published ${progress.published}/${rows}, consumed ${progress.consumed}/${rows}`);
    };
    const progressTimer = setInterval(printProgress, progressIntervalMs);
    let publishSeconds = Number.NaN;
    try {
      const publishing = publishRows(jetstream(publisher), jobHash, rows, progress, signal).then(() => {
        publishSeconds = (performance.now() - started) / 1000;
      });
      const consuming = consumeRows(jetstream(consumer), jobHash, rows, progress, Date.now() + timeLimitMs, signal);
      await Promise.all([publishing, consuming]);
    } finally {
      clearInterval(progressTimer);
    }
    const seconds = (performance.now() - started) / 1000;
    printProgress();
    if (signal.aborted) throw new Error("the floor was interrupted");

    await consumer.flush();
    const { events, workLeft } = await countStoredEvents(publisher);
    if (workLeft > 0) console.error(`floor: ${workLeft} row messages were still in the work stream ${drainWaitMs / 1000} s after the last acknowledgement`);
    return {
      mode: floorMode,
      rows,
      seconds,
      rowsPerSecond: rows / seconds,
      publishSeconds,
      rowMessageBytes: rowMessage(rows).length,
      eventBytes: tickEvent(jobHash, randomHex(16), rows).length,
      eventsStored: events,
      duplicates: progress.duplicates,
    };
  } finally {
    await Promise.allSettled([publisher.close(), consumer.close()]);
  }
}
