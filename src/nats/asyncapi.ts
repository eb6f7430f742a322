// The AsyncAPI 3.0 document of the events, built from the TypeBox schemas the publisher uses and the
// configured subjects, so the document and the published payloads share one definition.
import packageJson from "../../package.json" with { type: "json" };
import type { Config } from "../config.ts";
import { eventMessageId, eventSchemas, type EventKind, type EventPayload } from "./events.ts";
import type { NatsNames } from "./names.ts";

type JsonObject = Record<string, unknown>;

export interface AsyncApiDocument {
  asyncapi: "3.0.0";
  info: { title: string; version: string; description: string };
  defaultContentType: string;
  servers: Record<string, JsonObject>;
  channels: JsonObject;
  operations: JsonObject;
  components: { messages: JsonObject; schemas: JsonObject };
}

/** Port that the nats.js client connects to when a URL has none (DEFAULT_PORT in @nats-io/nats-core). */
const defaultNatsPort = "4222";

const eventKinds = Object.keys(eventSchemas) as EventKind[];

/** Event kinds whose message id is per row (`<job_hash>:<row>:outcome`) rather than per job. */
const rowEvents: ReadonlySet<EventKind> = new Set(["tick", "error"]);

const eventDescriptions: Record<EventKind, { summary: string; description: string }> = {
  scheduled: {
    summary: "A job was created.",
    description:
      "Published by the API right after the job is recorded with status `scheduled`, before the file is dispatched. " +
      "The worker's sweeper publishes it again when it re-dispatches a job whose file message was lost, with the same message id.",
  },
  started: {
    summary: "A worker began dispatching the job's rows.",
    description:
      "Published once the file stage has read and validated the whole file and moved the job to `processing`, just before it dispatches one work message per row. " +
      "A file that fails validation gets no `started` event, only `failed`.",
  },
  tick: {
    summary: "A row resolved to a location.",
    description:
      "Published for each row that resolved to a location, whether the location was created or already existed. " +
      "`location_hash` is the location's stable hash and `row` the 1-based position of the value in the file.",
  },
  error: {
    summary: "A row failed.",
    description:
      "Published for each row that did not resolve, because of no match, an invalid value, or a row given up after the maximum number of deliveries. " +
      "`reason` is always `row failed`, and the row's own error is in the job's results.",
  },
  completed: {
    summary: "Every row of the job has an outcome.",
    description:
      "Published once, when the job becomes `complete`, with `completed + failed = total_rows`. It is the job's last event.",
  },
  failed: {
    summary: "The job could not be processed.",
    description:
      "Published once, when the job becomes `failed`, for example because the file was not found, is not UTF-8 CSV or JSON, has no rows or too many, or could not be read and dispatched within the maximum number of deliveries. " +
      "`error` is the job's error, as the status route returns it. It is the job's last event, and comes after `started` only when the failure happened during dispatch.",
  },
};

const exampleJobHash = "3f9c2a7be41d08c6a5e2f1b4";
const exampleFileHash = "9b74c9897bac770ffc029102a200c5de2f4cfd1c7a9d8e1fe0b13c4e4b1b8a2d";
const exampleTimestamp = "2026-12-04T19:07:47.123Z";
const exampleRows: Partial<Record<EventKind, number>> = { tick: 1, error: 2 };

/** One example payload per kind, typed by the same schemas, so an example that no longer fits fails the type check. */
const examplePayloads: { [K in EventKind]: EventPayload<K> } = {
  scheduled: { job_hash: exampleJobHash, file_hash: exampleFileHash, timestamp: exampleTimestamp },
  started: { job_hash: exampleJobHash, file_hash: exampleFileHash, timestamp: exampleTimestamp },
  tick: { job_hash: exampleJobHash, location_hash: "c0a3f8e2b91d4e5f6a7b8c9d0e1f2a3b", row: 1, timestamp: exampleTimestamp },
  error: { job_hash: exampleJobHash, reason: "row failed", row: 2, timestamp: exampleTimestamp },
  completed: { job_hash: exampleJobHash, file_hash: exampleFileHash, total_rows: 2, completed: 1, failed: 1, timestamp: exampleTimestamp },
  failed: { job_hash: exampleJobHash, file_hash: exampleFileHash, error: "file not found", timestamp: exampleTimestamp },
};

/** Copies a TypeBox schema as plain JSON Schema, without the symbol-keyed metadata that JSON serialization drops. */
function toJsonSchema(schema: unknown): JsonObject {
  return JSON.parse(JSON.stringify(schema)) as JsonObject;
}

/** Builds the schema of the `Nats-Msg-Id` header, which JetStream uses to drop a repeated publish. */
function messageIdHeaders(kind: EventKind): JsonObject {
  const isRowEvent = rowEvents.has(kind);
  return {
    type: "object",
    required: ["Nats-Msg-Id"],
    properties: {
      "Nats-Msg-Id": {
        type: "string",
        description: isRowEvent
          ? "`<job_hash>:<row>:outcome`, shared by a row's tick and error, so the stream stores at most one outcome per row"
          : `\`<job_hash>:${kind}\`, one per job`,
        pattern: isRowEvent ? "^[^:]+:[1-9][0-9]*:outcome$" : `^[^:]+:${kind}$`,
      },
    },
  };
}

function serverEntry(natsUrl: string): JsonObject {
  // new URL() keeps user and password apart from `host`, so no credential reaches the document.
  const url = new URL(natsUrl);
  const host = url.port ? url.host : `${url.hostname}:${defaultNatsPort}`;
  const tls = url.protocol === "tls:";
  return {
    host,
    protocol: "nats",
    description: tls ? "The NATS server with JetStream, over TLS." : "The NATS server with JetStream.",
  };
}

function documentDescription(config: Config, names: NatsNames): string {
  const windowSeconds = config.duplicateWindowMs / 1000;
  const maxAgeHours = config.eventsMaxAgeMs / 3_600_000;
  return [
    `Events of the batch location lookup service, as JSON objects on the subjects \`${names.eventSubjectWildcard}\`.`,
    `Each is published to the JetStream stream \`${names.eventsStream}\`, which keeps events for ${maxAgeHours} hours so a JetStream consumer can replay them. A core NATS subscription on the same subjects receives them live.`,
    `Every message has a \`Nats-Msg-Id\` header: \`<job_hash>:<kind>\` for a job-level event, and \`<job_hash>:<row>:outcome\` for a row's tick or error.`,
    `The stream stores a message id at most once within ${windowSeconds} s, so it drops a publish repeated after a crash. A core subscription still receives the repeat and can skip it by that id.`,
    "For one job, `scheduled` comes first, `started` comes before any `tick` or `error`, and exactly one of `completed` or `failed` comes last.",
  ].join("\n\n");
}

function componentMessage(kind: EventKind): JsonObject {
  const { summary, description } = eventDescriptions[kind];
  return {
    name: kind,
    title: `${kind} event`,
    summary,
    description,
    contentType: "application/json",
    headers: messageIdHeaders(kind),
    payload: { $ref: `#/components/schemas/${kind}` },
    examples: [
      {
        name: kind,
        headers: { "Nats-Msg-Id": eventMessageId(kind, exampleJobHash, exampleRows[kind]) },
        payload: examplePayloads[kind],
      },
    ],
  };
}

/** Builds the AsyncAPI 3.0.0 document for the configured NATS server, events stream and subjects. */
export function buildAsyncApiDocument(config: Config, names: NatsNames): AsyncApiDocument {
  const channels: JsonObject = {};
  const operations: JsonObject = {};
  const messages: JsonObject = {};
  const schemas: JsonObject = {};

  for (const kind of eventKinds) {
    channels[kind] = {
      address: names.eventSubject(kind),
      description: eventDescriptions[kind].summary,
      messages: { [kind]: { $ref: `#/components/messages/${kind}` } },
    };
    operations[`send${kind[0]!.toUpperCase()}${kind.slice(1)}`] = {
      action: "send",
      channel: { $ref: `#/channels/${kind}` },
      summary: eventDescriptions[kind].summary,
      messages: [{ $ref: `#/channels/${kind}/messages/${kind}` }],
    };
    messages[kind] = componentMessage(kind);
    schemas[kind] = toJsonSchema(eventSchemas[kind]);
  }

  return {
    asyncapi: "3.0.0",
    info: {
      title: "Batch location lookup events",
      version: packageJson.version,
      description: documentDescription(config, names),
    },
    defaultContentType: "application/json",
    servers: { nats: serverEntry(config.natsUrl) },
    channels,
    operations,
    components: { messages, schemas },
  };
}
