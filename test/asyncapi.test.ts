// Tests the AsyncAPI document served at /asyncapi.json. It must validate against the official AsyncAPI
// 3.0.0 JSON Schema and match the events that two real jobs publish to NATS, captured while they run.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import asyncApiSpecs from "@asyncapi/specs";
import type { Subscription } from "@nats-io/nats-core";
import Ajv, { type ValidateFunction } from "ajv";
import addFormats from "ajv-formats";
import { loadConfig } from "../src/config.ts";
import { buildAsyncApiDocument } from "../src/nats/asyncapi.ts";
import { eventSchemas } from "../src/nats/events.ts";
import { natsNames } from "../src/nats/names.ts";
import type { RunningWorker } from "../src/worker/worker.ts";
import { createHarness, type Harness } from "./support/harness.ts";
import { TestClient, startTestWorker } from "./support/jobs.ts";

type JsonObject = Record<string, any>;

interface CapturedEvent {
  subject: string;
  messageId: string | undefined;
  payload: unknown;
}

interface MessageValidators {
  payload: ValidateFunction;
  headers: ValidateFunction;
}

const eventKinds = Object.keys(eventSchemas);
const captureTimeoutMs = 15_000;

let harness: Harness;
let worker: RunningWorker;
let client: TestClient;
let subscription: Subscription;
let documentResponse: Response;
let asyncApiDocument: JsonObject;
const captured: CapturedEvent[] = [];
const subscriptionErrors: Error[] = [];

/**
 * Creates the Ajv instance for payload and header schemas. Strict mode stays on, so a keyword unknown to
 * Ajv (such as a TypeBox extension that survived the JSON round trip) fails the test instead of being
 * ignored. ajv-formats adds `date-time` and the other formats.
 */
function createAjv(): Ajv {
  const ajv = new Ajv({ allErrors: true });
  addFormats(ajv);
  return ajv;
}

/**
 * Compiles the official AsyncAPI 3.0.0 JSON Schema. That schema itself breaks Ajv's strict rules
 * (`additionalItems` without an `items` array, `additionalProperties` without `type: "object"`), so
 * strict mode is off for it alone, as @asyncapi/parser does. It also embeds the draft-07 meta-schema,
 * which Ajv already has under the same id and would reject as a duplicate, so that copy is removed.
 */
function compileAsyncApiValidator(): ValidateFunction {
  const schema = structuredClone(asyncApiSpecs.schemas["3.0.0"]) as JsonObject;
  delete schema.definitions["http://json-schema.org/draft-07/schema"];
  const ajv = new Ajv({ allErrors: true, strict: false });
  addFormats(ajv);
  return ajv.compile(schema);
}

/** Returns "valid", or Ajv's error text, so a failed assertion shows why the value was rejected. */
function validationResult(validate: ValidateFunction, value: unknown): string {
  return validate(value) ? "valid" : new Ajv().errorsText(validate.errors);
}

/** Follows local `$ref`s (`#/a/b`) until the value is not a reference. */
function resolve(document: JsonObject, value: JsonObject): JsonObject {
  let current = value;
  for (let depth = 0; typeof current.$ref === "string"; depth += 1) {
    if (depth > 10) throw new Error(`$ref chain deeper than 10 at ${current.$ref}`);
    const ref: string = current.$ref;
    if (!ref.startsWith("#/")) throw new Error(`expected a local $ref starting with #/, got ${ref}`);
    current = ref
      .slice(2)
      .split("/")
      .map((part) => part.replaceAll("~1", "/").replaceAll("~0", "~"))
      .reduce<any>((node, key) => node?.[key], document);
    if (current === undefined) throw new Error(`$ref ${ref} not found in the document`);
  }
  return current;
}

/** Finds the one message of the channel whose address is `subject`, with its references resolved. */
function messageForSubject(document: JsonObject, subject: string): JsonObject {
  const channels = Object.values(document.channels as JsonObject).filter((channel) => channel.address === subject);
  expect(channels).toHaveLength(1);
  const messages = Object.values(channels[0]!.messages as JsonObject);
  expect(messages).toHaveLength(1);
  return resolve(document, messages[0]!);
}

/** Compiles the payload and header validators of every channel, keyed by the channel's address. */
function compileMessageValidators(document: JsonObject): Map<string, MessageValidators> {
  const ajv = createAjv();
  const validators = new Map<string, MessageValidators>();
  for (const channel of Object.values(document.channels as JsonObject)) {
    const message = messageForSubject(document, channel.address);
    validators.set(channel.address, {
      payload: ajv.compile(resolve(document, message.payload)),
      headers: ajv.compile(resolve(document, message.headers)),
    });
  }
  return validators;
}

function kindOf(subject: string): string {
  return subject.split(".").at(-1)!;
}

/**
 * Polls until an event of every kind is captured or `captureTimeoutMs` passes. It returns without
 * throwing on timeout, so the tests can report which kind is missing.
 */
async function waitForEveryKind(): Promise<void> {
  const deadline = Date.now() + captureTimeoutMs;
  while (Date.now() < deadline) {
    const seen = new Set(captured.map((event) => kindOf(event.subject)));
    if (eventKinds.every((kind) => seen.has(kind))) return;
    await Bun.sleep(50);
  }
}

beforeAll(async () => {
  harness = await createHarness();
  subscription = harness.nats.connection.subscribe(harness.nats.names.eventSubjectWildcard, {
    callback: (error, msg) => {
      if (error) {
        subscriptionErrors.push(error);
        return;
      }
      captured.push({ subject: msg.subject, messageId: msg.headers?.get("Nats-Msg-Id"), payload: msg.json() });
    },
  });
  worker = await startTestWorker(harness);
  client = new TestClient(harness);
  // The request has no authorization header, because the document is public.
  documentResponse = await client.app.handle(new Request("http://localhost/asyncapi.json"));
  asyncApiDocument = (await documentResponse.clone().json()) as JsonObject;
});

afterAll(async () => {
  subscription?.unsubscribe();
  await worker?.stop();
  await harness?.cleanup();
});

describe("GET /asyncapi.json", () => {
  test("is served as JSON without a token", () => {
    expect(documentResponse.status).toBe(200);
    expect(documentResponse.headers.get("content-type")).toStartWith("application/json");
  });

  test("validates against the AsyncAPI 3.0.0 schema", () => {
    expect(asyncApiDocument.asyncapi).toBe("3.0.0");
    expect(validationResult(compileAsyncApiValidator(), asyncApiDocument)).toBe("valid");
  });

  test("schema check rejects a broken document", () => {
    const validate = compileAsyncApiValidator();
    const { version: _version, ...infoWithoutVersion } = asyncApiDocument.info;
    expect(validate({ ...asyncApiDocument, info: infoWithoutVersion })).toBe(false);
    const operations = { ...asyncApiDocument.operations, sendTick: { ...asyncApiDocument.operations.sendTick, action: "publish" } };
    expect(validate({ ...asyncApiDocument, operations })).toBe(false);
  });

  test("lists the configured subjects and stream", () => {
    const { names } = harness.nats;
    const addresses = Object.values(asyncApiDocument.channels as JsonObject).map((channel) => channel.address);
    expect(addresses.sort()).toEqual(eventKinds.map((kind) => names.eventSubject(kind)).sort());
    // The harness sets its own EVENT_SUBJECT_PREFIX, so these are not the default subjects.
    expect(names.eventSubject("tick")).toBe(`${harness.name}.location.batch.tick`);
    expect(asyncApiDocument.info.description).toContain(names.eventsStream);
  });

  test("has one send operation per channel", () => {
    const operations = Object.values(asyncApiDocument.operations as JsonObject);
    expect(operations).toHaveLength(eventKinds.length);
    for (const operation of operations) {
      expect(operation.action).toBe("send");
      const channel = resolve(asyncApiDocument, operation.channel);
      expect(eventKinds).toContain(kindOf(channel.address));
      expect(operation.messages).toHaveLength(1);
      expect(resolve(asyncApiDocument, operation.messages[0])).toBe(messageForSubject(asyncApiDocument, channel.address));
    }
  });

  test("payload schemas equal the event schemas", () => {
    for (const [kind, schema] of Object.entries(eventSchemas)) {
      expect(asyncApiDocument.components.schemas[kind]).toEqual(JSON.parse(JSON.stringify(schema)));
    }
  });

  test("message examples match their schemas", () => {
    for (const [address, validate] of compileMessageValidators(asyncApiDocument)) {
      const message = messageForSubject(asyncApiDocument, address);
      expect(message.examples.length).toBeGreaterThan(0);
      for (const example of message.examples) {
        expect(`${address}: ${validationResult(validate.payload, example.payload)}`).toBe(`${address}: valid`);
        expect(`${address}: ${validationResult(validate.headers, example.headers)}`).toBe(`${address}: valid`);
      }
    }
  });
});

describe("events of real jobs", () => {
  let completedJob: string;
  let failedJob: string;

  beforeAll(async () => {
    // One row resolves and one cannot, so the first job publishes scheduled, started, tick, error, completed.
    completedJob = await client.createJob(await client.upload("Paris, France\nQwxzzyq Nowhere\n", "text/csv"));
    // A JSON object at the top level, not an array, fails the second job, which publishes scheduled and then failed.
    failedJob = await client.createJob(await client.upload(JSON.stringify({ rows: ["Paris"] }), "application/json"));
    expect((await client.waitForEnd(completedJob)).status).toBe("complete");
    expect((await client.waitForEnd(failedJob)).status).toBe("failed");
    await waitForEveryKind();
  });

  test("every event subject is published", () => {
    expect(subscriptionErrors).toEqual([]);
    const seen = new Set(captured.map((event) => event.subject));
    for (const kind of eventKinds) {
      expect(seen).toContain(harness.nats.names.eventSubject(kind));
    }
  });

  test("every captured event matches the document", () => {
    const validators = compileMessageValidators(asyncApiDocument);
    expect(captured.length).toBeGreaterThanOrEqual(eventKinds.length);
    for (const event of captured) {
      const validate = validators.get(event.subject);
      expect(validate).toBeDefined();
      expect(`${event.subject}: ${validationResult(validate!.payload, event.payload)}`).toBe(`${event.subject}: valid`);
      const headers = { "Nats-Msg-Id": event.messageId };
      expect(`${event.subject}: ${validationResult(validate!.headers, headers)}`).toBe(`${event.subject}: valid`);
    }
  });

  test("captured payloads carry exactly the documented fields", () => {
    // The keys must match both ways, so an optional field that the code stopped sending fails here.
    for (const event of captured) {
      const schema = resolve(asyncApiDocument, messageForSubject(asyncApiDocument, event.subject).payload);
      expect(Object.keys(event.payload as JsonObject).sort()).toEqual(Object.keys(schema.properties).sort());
    }
  });

  test("both jobs appear in the captured events", () => {
    const jobs = new Set(captured.map((event) => (event.payload as JsonObject).job_hash));
    expect(jobs).toContain(completedJob);
    expect(jobs).toContain(failedJob);
  });
});

describe("payload validation", () => {
  const validTick = { job_hash: "3f9c2a7be41d08c6a5e2f1b4", location_hash: "c0a3f8e2b91d4e5f6a7b8c9d0e1f2a3b", row: 3, timestamp: "2026-12-04T19:07:47.123Z" };
  let validators: Map<string, MessageValidators>;
  const validatorsOf = (kind: string): MessageValidators => validators.get(harness.nats.names.eventSubject(kind))!;

  beforeAll(() => {
    validators = compileMessageValidators(asyncApiDocument);
  });

  test("accepts a valid tick", () => {
    expect(validationResult(validatorsOf("tick").payload, validTick)).toBe("valid");
  });

  test("rejects a tick without a row", () => {
    const { row: _row, ...withoutRow } = validTick;
    expect(validationResult(validatorsOf("tick").payload, withoutRow)).toContain("must have required property 'row'");
  });

  test("rejects a tick with row 0", () => {
    expect(validatorsOf("tick").payload({ ...validTick, row: 0 })).toBe(false);
  });

  test("rejects a tick with an invalid timestamp", () => {
    expect(validatorsOf("tick").payload({ ...validTick, timestamp: "yesterday" })).toBe(false);
  });

  test("rejects a tick with an extra field", () => {
    expect(validationResult(validatorsOf("tick").payload, { ...validTick, note: "extra" })).toContain("must NOT have additional properties");
  });

  test("rejects an error event with an unknown reason", () => {
    const payload = { job_hash: validTick.job_hash, reason: "no match", row: 3, timestamp: validTick.timestamp };
    expect(validatorsOf("error").payload(payload)).toBe(false);
  });

  test("rejects a row message id on a job-level event", () => {
    expect(validatorsOf("completed").headers({ "Nats-Msg-Id": `${validTick.job_hash}:3:outcome` })).toBe(false);
  });

  test("rejects a message without a message id", () => {
    expect(validatorsOf("tick").headers({})).toBe(false);
  });
});

describe("buildAsyncApiDocument", () => {
  test("leaves NATS credentials out of the server entry", () => {
    const config = loadConfig({ NATS_URL: "nats://alice:s3cret-pass@127.0.0.1" });
    const document = buildAsyncApiDocument(config, natsNames(config.natsPrefix, config.eventSubjectPrefix));
    const text = JSON.stringify(document);
    expect(text).not.toContain("s3cret-pass");
    expect(text).not.toContain("alice");
    expect(document.servers).toEqual({ nats: { host: "127.0.0.1:4222", protocol: "nats", description: "The NATS server with JetStream." } });
  });

  test("uses the default subjects without EVENT_SUBJECT_PREFIX", () => {
    const config = loadConfig({});
    const document = buildAsyncApiDocument(config, natsNames(config.natsPrefix, config.eventSubjectPrefix)) as JsonObject;
    const addresses = Object.values(document.channels as JsonObject).map((channel) => channel.address);
    expect(addresses.sort()).toEqual(eventKinds.map((kind) => `location.batch.${kind}`).sort());
    expect(document.info.description).toContain("LOCATION_BATCH_EVENTS");
  });
});
