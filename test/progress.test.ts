// Tests the progress route, a Server-Sent Events stream of a job's status. NATS events feed it through
// one hub per API process. The tests read the stream in-process with app.handle and over HTTP from a
// listening server.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createApp } from "../src/api/app.ts";
import { ProgressHub, type ProgressHubDeps } from "../src/api/progress-hub.ts";
import type { JobStatus } from "../src/api/progress-stream.ts";
import { failJob, insertJob, startJob } from "../src/db/jobs.ts";
import { readProgressSnapshot } from "../src/db/progress.ts";
import { insertRecords } from "../src/db/records.ts";
import type { JobRow } from "../src/db/schema.ts";
import { publishEvent, type EventKind } from "../src/nats/events.ts";
import type { RunningWorker } from "../src/worker/worker.ts";
import { createHarness, testSecret, type Harness } from "./support/harness.ts";
import { TestClient, startTestWorker } from "./support/jobs.ts";
import { adminToken } from "./support/tokens.ts";

let harness: Harness;
let client: TestClient;
let worker: RunningWorker | null = null;

/** Row count of the large jobs, enough batches of ROW_BATCH_SIZE for several progress messages. */
const largeJobRows = 4000;
const streamDeadlineMs = 90_000;

beforeAll(async () => {
  harness = await createHarness({ ROW_BATCH_SIZE: "50" });
  client = new TestClient(harness);
});

afterAll(async () => {
  client.app.decorator.progressHub.close();
  await worker?.stop();
  await harness.cleanup();
});

function hub(): ProgressHub {
  return client.app.decorator.progressHub;
}

/** Builds a CSV file of `rows` values: mostly points and places that resolve, and some values that fail. */
function largeCsv(rows: number): string {
  const places = ["Paris, France", "Tokyo", "Berlin", "Madrid, Spain", "Springfield, IL", "Qwxzzyq Nowhere"];
  return Array.from({ length: rows }, (_, index) =>
    index % 7 === 6 ? places[index % places.length]! : `${(index % 80) + 0.5},${(index % 170) + 0.25}`,
  ).join("\n");
}

async function withDeadline<T>(promise: Promise<T>, deadline: number, label: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${label} timed out`)), Math.max(0, deadline - Date.now()));
  });
  try {
    return await Promise.race([promise, expired]);
  } finally {
    clearTimeout(timer);
  }
}

/** Reads Server-Sent Events messages from a response body, one at a time. */
class SseReader {
  readonly comments: string[] = [];
  readonly #reader: { read(): Promise<{ done: true; value?: undefined } | { done: false; value: Uint8Array }>; cancel(): Promise<void> };
  readonly #decoder = new TextDecoder();
  #buffer = "";

  constructor(response: Response) {
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toStartWith("text/event-stream");
    expect(response.headers.get("cache-control")).toBe("no-cache");
    this.#reader = response.body!.getReader();
  }

  /** Returns the next progress message's status, or null once the stream has ended. Comments go to `comments`. */
  async next(timeoutMs = streamDeadlineMs): Promise<JobStatus | null> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const lines = await this.#nextBlock(deadline);
      if (lines === null) return null;
      const data = lines.filter((line) => line.startsWith("data: ")).map((line) => line.slice("data: ".length));
      if (data.length === 0) {
        this.comments.push(...lines.filter((line) => line.startsWith(":")));
        continue;
      }
      expect(lines).toContain("event: progress");
      expect(data).toHaveLength(1);
      return JSON.parse(data[0]!) as JobStatus;
    }
  }

  /** Returns the lines of the next message or comment block, or null once the stream has ended. */
  async #nextBlock(deadline: number): Promise<string[] | null> {
    for (;;) {
      const end = this.#buffer.indexOf("\n\n");
      if (end >= 0) {
        const block = this.#buffer.slice(0, end);
        this.#buffer = this.#buffer.slice(end + 2);
        return block.split("\n");
      }
      const chunk = await withDeadline(this.#reader.read(), deadline, "reading the next Server-Sent Events block");
      if (chunk.done) {
        expect(this.#buffer).toBe("");
        return null;
      }
      this.#buffer += this.#decoder.decode(chunk.value, { stream: true });
    }
  }

  /** Reads every message up to the end of the stream. */
  async all(): Promise<JobStatus[]> {
    const messages: JobStatus[] = [];
    for (let message = await this.next(); message !== null; message = await this.next()) messages.push(message);
    return messages;
  }

  async cancel(): Promise<void> {
    await this.#reader.cancel();
  }
}

function sseResponse(stream: ReadableStream<Uint8Array> | null): SseReader {
  if (stream === null) throw new Error("hub.open returned null: job not found");
  return new SseReader(new Response(stream, { headers: { "content-type": "text/event-stream", "cache-control": "no-cache" } }));
}

/** Creates a separate hub on the harness, so a test can set options that the route does not expose. */
function testHub(options: Partial<ProgressHubDeps> = {}): ProgressHub {
  return new ProgressHub({
    nats: harness.nats,
    logger: harness.logger,
    maxRowsPerFile: harness.config.maxRowsPerFile,
    readSnapshot: (jobHash, rowsSeen) => readProgressSnapshot(harness.db, jobHash, rowsSeen),
    ...options,
  });
}

/** Publishes an event on core NATS, the way a retried worker's duplicate event reaches a core subscriber. */
function publishCore(kind: EventKind, payload: Record<string, unknown>): void {
  harness.nats.connection.publish(harness.nats.names.eventSubject(kind), JSON.stringify({ ...payload, timestamp: new Date().toISOString() }));
}

/** Inserts a job that no worker will take, because its file message is never dispatched. */
async function idleJob(totalRows?: number): Promise<JobRow> {
  const job = await insertJob(harness.db, "never-dispatched");
  if (totalRows === undefined) return job;
  const started = await startJob(harness.db, job.hash, totalRows);
  if (started === null) throw new Error(`job ${job.hash} did not start`);
  return started;
}

function progressPath(jobHash: string): string {
  return `/locations/batch/${jobHash}/progress`;
}

async function openProgress(jobHash: string, init: RequestInit = {}): Promise<SseReader> {
  return new SseReader(await client.request(progressPath(jobHash), init));
}

function done(status: JobStatus): number {
  return status.completed + status.failed;
}

describe("progress route without a worker", () => {
  test("no token is 401", async () => {
    const response = await client.app.handle(new Request(`http://localhost${progressPath("0123456789abcdef01234567")}`));
    expect(response.status).toBe(401);
    expect(response.headers.get("www-authenticate")).toStartWith("Bearer");
    expect(((await response.json()) as { error: string }).error).toMatch(/Authorization/);
  });

  test("unknown job is 404 JSON", async () => {
    const readsBefore = hub().databaseReads;
    for (const jobHash of ["0123456789abcdef01234567", "not-a-job", "0123456789ABCDEF01234567"]) {
      const response = await client.request(progressPath(jobHash));
      expect(response.status).toBe(404);
      expect(response.headers.get("content-type")).toStartWith("application/json");
      expect(await response.json()).toEqual({ error: "job not found" });
    }
    // Only the well-formed hash is looked up.
    expect(hub().databaseReads).toBe(readsBefore + 1);
    expect(hub().watchedJobCount).toBe(0);
    expect(hub().subscriptionCount).toBe(0);
  });

  test("OpenAPI documents the event stream", async () => {
    const response = await client.app.handle(new Request("http://localhost/swagger/json"));
    const document = (await response.json()) as { paths: Record<string, Record<string, any>> };
    const operation = document.paths["/locations/batch/{job_hash}/progress"]?.get;
    expect(operation?.security).toEqual([{ bearerAuth: [] }]);
    expect(operation?.responses?.["200"]?.content?.["text/event-stream"]).toBeDefined();
    expect(operation?.responses?.["404"]?.content?.["application/json"]).toBeDefined();
  });

  test("two clients share one subscription", async () => {
    const jobHash = await client.createJob(await client.upload("Lyon\nNantes\n", "text/csv"));
    const readsBefore = hub().databaseReads;
    const first = await openProgress(jobHash);
    const aborter = new AbortController();
    const second = await openProgress(jobHash, { signal: aborter.signal });

    for (const reader of [first, second]) {
      const message = await reader.next();
      expect(message?.job_hash).toBe(jobHash);
      expect(message?.status).toBe("scheduled");
      expect(message?.total_rows).toBeNull();
    }
    expect(hub().subscriptionCount).toBe(1);
    expect(hub().watchedJobCount).toBe(1);
    expect(hub().clientCount(jobHash)).toBe(2);
    expect(hub().databaseReads).toBe(readsBefore + 1);

    await first.cancel();
    expect(hub().clientCount(jobHash)).toBe(1);
    expect(hub().subscriptionCount).toBe(1);

    aborter.abort();
    expect(await second.next()).toBeNull();
    expect(hub().clientCount(jobHash)).toBe(0);
    expect(hub().watchedJobCount).toBe(0);
    expect(hub().subscriptionCount).toBe(0);
  });

  test("HTTP stream outlives idle timeout", async () => {
    // The hub writes at least every 15 s, and the route lifts the connection's idle timeout above that.
    const app = createApp({ ...harness, jwtSecret: testSecret }).listen({ hostname: "127.0.0.1", port: 0, idleTimeout: 3 });
    const served = app.decorator.progressHub;
    const headers = { authorization: `Bearer ${await adminToken()}` };
    try {
      const job = await idleJob();
      const reader = new SseReader(await fetch(`http://127.0.0.1:${app.server!.port}${progressPath(job.hash)}`, { headers }));
      expect((await reader.next())?.status).toBe("scheduled");

      await Bun.sleep(5000);
      expect(await failJob(harness.db, job.hash, "stopped by the test")).toBe(true);
      await publishEvent(harness.nats, "failed", { job_hash: job.hash, file_hash: job.fileHash, error: "stopped by the test" });
      const last = await reader.next();
      expect(last?.status).toBe("failed");
      expect(last?.error).toBe("stopped by the test");
      expect(await reader.next()).toBeNull();

      // A client that disconnects is removed, and the hub drops the job's subscription with it.
      const left = await idleJob();
      const aborter = new AbortController();
      const leaving = new SseReader(
        await fetch(`http://127.0.0.1:${app.server!.port}${progressPath(left.hash)}`, { headers, signal: aborter.signal }),
      );
      expect((await leaving.next())?.status).toBe("scheduled");
      expect(served.clientCount(left.hash)).toBe(1);
      aborter.abort();
      for (let attempt = 0; attempt < 50 && served.clientCount(left.hash) > 0; attempt += 1) await Bun.sleep(100);
      expect(served.clientCount(left.hash)).toBe(0);
      expect(served.subscriptionCount).toBe(0);

      // Elysia's stop handlers close the hub, which ends the streams still open.
      const other = await idleJob();
      const open = new SseReader(await app.handle(new Request(`http://localhost${progressPath(other.hash)}`, { headers })));
      expect((await open.next())?.status).toBe("scheduled");
      expect(served.subscriptionCount).toBe(1);
      await app.stop(true);
      expect(await open.next()).toBeNull();
      expect(served.subscriptionCount).toBe(0);
    } finally {
      served.close();
      if (app.server) await app.stop(true);
    }
    // The test sleeps 5 s itself, which reaches Bun's default test timeout of 5 s, so it sets its own limit.
  }, 30_000);

  test("duplicate and excess row events count once", async () => {
    const job = await idleJob(3);
    const reader = await openProgress(job.hash);
    const first = await reader.next();
    expect(first).toMatchObject({ status: "processing", total_rows: 3, completed: 0, failed: 0 });

    const row = (kind: "tick" | "error", rowNumber: number) =>
      publishCore(kind, kind === "tick" ? { job_hash: job.hash, location_hash: "x", row: rowNumber } : { job_hash: job.hash, reason: "row failed", row: rowNumber });
    row("tick", 1);
    row("tick", 1);
    row("error", 2);
    row("error", 2);
    row("error", 1);
    row("tick", 3);
    row("tick", 3);
    row("tick", 4);
    row("error", 5);
    await harness.nats.connection.flush();

    const seen: JobStatus[] = [];
    let message = await reader.next(10_000);
    while (message !== null && done(message) < 3) {
      seen.push(message);
      message = await reader.next(10_000);
    }
    expect(message).not.toBeNull();
    await harness.db.$client`update jobs set status = 'complete', completed = 2, failed = 1, finished_at = now() where id = ${job.id}`;
    await publishEvent(harness.nats, "completed", { job_hash: job.hash, file_hash: job.fileHash, total_rows: 3, completed: 2, failed: 1 });
    for (; message !== null; message = await reader.next(10_000)) seen.push(message);

    for (const message of seen) {
      expect(message.completed).toBeLessThanOrEqual(2);
      expect(message.failed).toBeLessThanOrEqual(1);
    }
    // Row 1 keeps its first outcome and the later error is ignored. Rows 4 and 5 are past total_rows and not counted.
    expect(seen.some((message) => message.status === "processing" && message.completed === 2 && message.failed === 1)).toBe(true);
    expect(seen.at(-1)).toEqual((await client.status(job.hash)) as JobStatus);
  });
});

describe("progress hub", () => {
  test("row events during the first read count once", async () => {
    const job = await idleJob(3);
    await insertRecords(harness.db, job.id, [{ row: 1, value: "Lyon", status: "ok", locationId: null, matchLevel: null, error: null }]);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const requestedRows: number[][] = [];
    const hub = testHub({
      readSnapshot: async (jobHash, rowsSeen) => {
        await gate;
        return readProgressSnapshot(harness.db, jobHash, () => {
          const rows = rowsSeen?.() ?? [];
          requestedRows.push([...rows]);
          return rows;
        });
      },
    });
    try {
      const opening = hub.open(job.hash);
      // Row 1 is recorded and in the job's counts already, but row 2 is not.
      publishCore("tick", { job_hash: job.hash, location_hash: "x", row: 1 });
      publishCore("tick", { job_hash: job.hash, location_hash: "x", row: 2 });
      await harness.nats.connection.flush();
      release();
      const reader = sseResponse(await opening);
      const first = await reader.next();
      expect(requestedRows[0]).toEqual([1, 2]);
      expect(first).toMatchObject({ status: "processing", total_rows: 3, completed: 2, failed: 0 });
    } finally {
      hub.close();
    }
  });

  test("quiet stream gets keep-alive comments", async () => {
    const job = await idleJob();
    const hub = testHub({ keepAliveMs: 300 });
    try {
      const reader = sseResponse(await hub.open(job.hash));
      expect((await reader.next())?.status).toBe("scheduled");
      await Bun.sleep(1000);
      hub.close();
      expect(await reader.next()).toBeNull();
      expect(reader.comments.length).toBeGreaterThanOrEqual(1);
      expect(new Set(reader.comments)).toEqual(new Set([": keep-alive"]));
    } finally {
      hub.close();
    }
  });

  test("idle check catches a lost terminal event", async () => {
    const job = await idleJob();
    const hub = testHub({ keepAliveMs: 600, resyncMs: 300 });
    try {
      const reader = sseResponse(await hub.open(job.hash));
      expect((await reader.next())?.status).toBe("scheduled");
      expect(await failJob(harness.db, job.hash, "failed without an event")).toBe(true);
      const last = await reader.next();
      expect(last).toEqual((await client.status(job.hash)) as JobStatus);
      expect(last?.error).toBe("failed without an event");
      expect(await reader.next()).toBeNull();
      expect(hub.subscriptionCount).toBe(0);
    } finally {
      hub.close();
    }
  });
});

describe("progress resync", () => {
  test("counts catch up with missed events", async () => {
    const job = await idleJob(10);
    const hub = testHub({ resyncMs: 300 });
    try {
      const reader = sseResponse(await hub.open(job.hash));
      expect((await reader.next())?.completed).toBe(0);

      // This update simulates rows recorded while the hub's NATS connection was down, so their events never
      // reached the hub.
      await harness.db.$client`update jobs set completed = 6, failed = 1 where id = ${job.id}`;
      const caughtUp = await reader.next();
      expect(caughtUp?.completed).toBe(6);
      expect(caughtUp?.failed).toBe(1);
    } finally {
      hub.close();
    }
  });
});

describe("progress after a NATS reconnect", () => {
  test("watched jobs are read again at once", async () => {
    const job = await idleJob(10);
    // No periodic resync within the test, so only the reconnect can bring the new counts.
    const hub = testHub({ resyncMs: 600_000 });
    try {
      const reader = sseResponse(await hub.open(job.hash));
      expect((await reader.next())?.completed).toBe(0);

      await harness.db.$client`update jobs set completed = 4 where id = ${job.id}`;
      await harness.nats.connection.reconnect();
      const caughtUp = await reader.next();
      expect(caughtUp?.completed).toBe(4);
    } finally {
      hub.close();
    }
  });
});

describe("progress route with a worker", () => {
  let largeJob: string;
  let badJob: string;
  let countedJob: string;
  let largeMessages: Promise<JobStatus[]>;
  let badMessages: Promise<JobStatus[]>;
  let countedMessages: Promise<JobStatus[][]>;
  let countedHub: ProgressHub;
  let countedReads = 0;

  // Every stream is opened while its job is still scheduled, and only then is the worker started.
  beforeAll(async () => {
    largeJob = await client.createJob(await client.upload(largeCsv(largeJobRows), "text/csv"));
    badJob = await client.createJob(await client.upload('{"a": "Paris"}', "application/json"));
    countedJob = await client.createJob(await client.upload(largeCsv(largeJobRows).split("\n").reverse().join("\n"), "text/csv"));
    largeMessages = (await openProgress(largeJob)).all();
    badMessages = (await openProgress(badJob)).all();

    // A separate hub whose snapshot reader counts the database reads. Several clients watch one job through it.
    countedHub = testHub({
      // With a 10-minute resync interval, no idle check can add a read while the worker loads its gazetteer,
      // however slow the machine.
      resyncMs: 600_000,
      readSnapshot: (jobHash, rowsSeen) => {
        countedReads += 1;
        return readProgressSnapshot(harness.db, jobHash, rowsSeen);
      },
    });
    const streams = [];
    for (let index = 0; index < 4; index += 1) streams.push(sseResponse(await countedHub.open(countedJob)));
    countedMessages = Promise.all(streams.map((reader) => reader.all()));

    worker = await startTestWorker(harness);
  });

  afterAll(() => {
    countedHub.close();
  });

  test("large job streams rising counts to complete", async () => {
    const messages = await largeMessages;
    const final = await client.status(largeJob);
    expect(final.status).toBe("complete");
    expect(messages.length).toBeGreaterThanOrEqual(3);
    expect(messages[0]!.status).toBe("scheduled");
    const running = messages.filter((message) => message.status === "processing" && message.total_rows === largeJobRows);
    expect(running.length).toBeGreaterThanOrEqual(1);
    expect(running.some((message) => done(message) > 0 && done(message) < largeJobRows)).toBe(true);
    for (let index = 1; index < messages.length; index += 1) {
      expect(done(messages[index]!)).toBeGreaterThanOrEqual(done(messages[index - 1]!));
      expect(messages[index]!.progress).toBeGreaterThanOrEqual(messages[index - 1]!.progress);
    }
    for (const message of messages) {
      expect(Object.keys(message).sort()).toEqual(Object.keys(final).sort());
      if (message.total_rows !== null) expect(done(message)).toBeLessThanOrEqual(message.total_rows);
    }
    expect(messages.at(-1)).toEqual(final as JobStatus);
    expect(final.total_rows).toBe(largeJobRows);
    expect(final.failed).toBeGreaterThan(0);
    expect(final.completed).toBeGreaterThan(0);
  });

  test("malformed file ends the stream with failed", async () => {
    const messages = await badMessages;
    const final = await client.status(badJob);
    expect(final.status).toBe("failed");
    expect(messages[0]!.status).toBe("scheduled");
    const last = messages.at(-1)!;
    expect(last.status).toBe("failed");
    expect(last.error).toMatch(/array/);
    expect(last.finished_at).not.toBeNull();
    expect(last).toEqual(final as JobStatus);
  });

  test("four clients cost at most three reads", async () => {
    const perClient = await countedMessages;
    const final = await client.status(countedJob);
    expect(final.status).toBe("complete");
    for (const messages of perClient) {
      expect(messages.length).toBeGreaterThanOrEqual(3);
      expect(messages.at(-1)).toEqual(final as JobStatus);
    }
    // The first read, the read of total_rows after the started event, and the final read.
    expect(countedReads).toBeLessThanOrEqual(3);
    expect(countedHub.databaseReads).toBe(countedReads);
    expect(countedHub.subscriptionCount).toBe(0);
  });

  test("already complete job gets one message", async () => {
    await largeMessages;
    const final = await client.status(largeJob);
    const reader = await openProgress(largeJob);
    const messages = await reader.all();
    expect(messages).toHaveLength(1);
    expect(messages[0]).toEqual(final as JobStatus);
    expect(hub().watchedJobCount).toBe(0);
    expect(hub().subscriptionCount).toBe(0);
  });
});
