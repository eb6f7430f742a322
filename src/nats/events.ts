// The `location.batch.*` events: one TypeBox schema per subject, and the publisher that stamps
// each with a timestamp and a message id, so a repeated publish is dropped by the events stream.
import { Type, type Static, type TSchema } from "@sinclair/typebox";
import type { Nats } from "./connection.ts";

const Timestamp = Type.String({ format: "date-time", description: "ISO 8601, UTC, with milliseconds" });
const JobHash = Type.String({ description: "The job the event belongs to" });

// Closed objects, so a new field that the code publishes fails the AsyncAPI test until its schema here lists it.
const closed = { additionalProperties: false };

export const eventSchemas = {
  scheduled: Type.Object({ job_hash: JobHash, file_hash: Type.String(), timestamp: Timestamp }, closed),
  started: Type.Object({ job_hash: JobHash, file_hash: Type.String(), timestamp: Timestamp }, closed),
  tick: Type.Object({ job_hash: JobHash, location_hash: Type.String(), row: Type.Integer({ minimum: 1 }), timestamp: Timestamp }, closed),
  error: Type.Object(
    { job_hash: JobHash, reason: Type.Literal("row failed"), row: Type.Integer({ minimum: 1 }), timestamp: Timestamp },
    closed,
  ),
  completed: Type.Object({
    job_hash: JobHash,
    file_hash: Type.String(),
    total_rows: Type.Integer({ minimum: 0 }),
    completed: Type.Integer({ minimum: 0 }),
    failed: Type.Integer({ minimum: 0 }),
    timestamp: Timestamp,
  }, closed),
  failed: Type.Object({ job_hash: JobHash, file_hash: Type.String(), error: Type.String(), timestamp: Timestamp }, closed),
} satisfies Record<string, TSchema>;

export type EventKind = keyof typeof eventSchemas;
export type EventPayload<K extends EventKind> = Static<(typeof eventSchemas)[K]>;
/** An event's payload as the caller gives it: the publisher adds the timestamp. */
export type EventInput<K extends EventKind> = Omit<EventPayload<K>, "timestamp">;

const encoder = new TextEncoder();

/**
 * Returns the message id of an event: one per job for job-level events, and one per row for a row's
 * outcome. Tick and error share the row's id, so a row cannot have both in the stream within the
 * duplicate window, even when a retry reaches another outcome than a crashed attempt did.
 */
export function eventMessageId(kind: EventKind, jobHash: string, row?: number): string {
  return row === undefined ? `${jobHash}:${kind}` : `${jobHash}:${row}:outcome`;
}

/** Publishes one event into the events stream and waits for the stream to store it. */
export async function publishEvent<K extends EventKind>(
  nats: Nats,
  kind: K,
  input: EventInput<K>,
  row?: number,
  now: Date = new Date(),
): Promise<void> {
  const payload = { ...input, timestamp: now.toISOString() };
  await nats.js.publish(nats.names.eventSubject(kind), encoder.encode(JSON.stringify(payload)), {
    msgID: eventMessageId(kind, input.job_hash, row),
  });
}
