// Tests what operators read: the Prometheus metrics of the API and of a worker after real jobs, and the
// JSON log lines of those jobs. Each line about a job carries its job_hash, the level follows LOG_LEVEL,
// and no line contains a token or file content.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Writable } from "node:stream";
import { loadConfig } from "../src/config.ts";
import { createLogger } from "../src/log.ts";
import { createMetrics } from "../src/metrics.ts";
import { serveWorkerMetrics } from "../src/runtime.ts";
import type { RunningWorker } from "../src/worker/worker.ts";
import { createHarness, type Harness } from "./support/harness.ts";
import { TestClient, startTestWorker } from "./support/jobs.ts";
import { adminToken } from "./support/tokens.ts";

/** Writable stream that parses and stores every JSON log line written to it. */
class LogLines extends Writable {
  readonly lines: Record<string, unknown>[] = [];
  readonly raw: string[] = [];

  override _write(chunk: Buffer, _encoding: string, done: () => void): void {
    for (const line of chunk.toString("utf8").split("\n")) {
      if (line.trim() === "") continue;
      this.raw.push(line);
      this.lines.push(JSON.parse(line) as Record<string, unknown>);
    }
    done();
  }
}

/** Reads one sample of a metric from Prometheus text, or null when the series is absent. */
function sample(text: string, series: string): number | null {
  for (const line of text.split("\n")) {
    if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1));
  }
  return null;
}

// Distinctive values, so a log line that carries file content is found by a plain search.
const secretPlace = "Zzylvania Secretville";
const goodCsv = ["Paris, France", "Tokyo", secretPlace, "51.5074,-0.1278"].join("\n");
const badJson = `["Lyon" "${secretPlace}"]`;

let harness: Harness;
let worker: RunningWorker;
let client: TestClient;
const logs = new LogLines();
let token: string;
let goodJob: string;
let badJob: string;
let goodStatus: Record<string, any>;
let badStatus: Record<string, any>;

beforeAll(async () => {
  harness = await createHarness();
  // The API and the worker share one logger at debug level, so every line either writes is checked.
  const logged = { ...harness, logger: createLogger("debug", `test-${harness.name}`, logs) };
  worker = await startTestWorker(logged);
  client = new TestClient(logged);
  token = await adminToken();
  goodJob = await client.createJob(await client.upload(goodCsv, "text/csv"));
  badJob = await client.createJob(await client.upload(badJson, "application/json"));
  goodStatus = await client.waitForEnd(goodJob);
  badStatus = await client.waitForEnd(badJob);
});

afterAll(async () => {
  await worker?.stop();
  await harness?.cleanup();
});

describe("api metrics", () => {
  let text: string;

  beforeAll(async () => {
    const response = await client.app.handle(new Request("http://localhost/metrics"));
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toContain("text/plain");
    text = await response.text();
  });

  test("jobs counted by status", () => {
    expect(goodStatus.status).toBe("complete");
    expect(badStatus.status).toBe("failed");
    expect(sample(text, 'location_batch_jobs{status="complete"}')).toBe(1);
    expect(sample(text, 'location_batch_jobs{status="failed"}')).toBe(1);
    expect(sample(text, 'location_batch_jobs{status="processing"}')).toBe(0);
  });

  test("rows resolved and failed over all jobs", () => {
    expect(sample(text, 'location_batch_rows{status="ok"}')).toBe(goodStatus.completed);
    expect(sample(text, 'location_batch_rows{status="failed"}')).toBe(goodStatus.failed);
    expect(goodStatus.failed).toBe(1);
  });

  test("stage latencies observed", () => {
    expect(sample(text, 'location_batch_stage_duration_seconds_count{stage="file"}')).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'location_batch_stage_duration_seconds_count{stage="row_batch"}')).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'location_batch_stage_duration_seconds_count{stage="job"}')).toBe(1);
  });

  test("job stage seconds add up to total", () => {
    const total = sample(text, 'location_batch_job_stage_seconds{stage="total",quantile="0.5"}');
    const queued = sample(text, 'location_batch_job_stage_seconds{stage="queued",quantile="0.5"}');
    const processing = sample(text, 'location_batch_job_stage_seconds{stage="processing",quantile="0.95"}');
    expect(total).toBeGreaterThan(0);
    expect(queued).toBeGreaterThanOrEqual(0);
    expect(processing).toBeGreaterThanOrEqual(0);
    expect(queued! + processing!).toBeCloseTo(total!, 2);
  });

  test("queue depth of both queues", () => {
    expect(sample(text, 'location_batch_queue_depth{queue="files"}')).toBe(0);
    expect(sample(text, 'location_batch_queue_depth{queue="rows"}')).toBe(0);
  });
});

describe("worker metrics endpoint", () => {
  test("serves the registry and 404 elsewhere", async () => {
    const probe = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("") });
    const port = probe.port;
    await probe.stop(true);
    const config = loadConfig({ ...process.env, HOST: "127.0.0.1", WORKER_METRICS_PORT: String(port), LOG_LEVEL: "error" });
    const server = serveWorkerMetrics({ ...harness, config });
    expect(server).not.toBeNull();
    try {
      const response = await fetch(`http://127.0.0.1:${port}/metrics`);
      expect(response.status).toBe(200);
      const text = await response.text();
      expect(sample(text, 'location_batch_rows_processed_total{status="ok"}')).toBe(goodStatus.completed);
      expect((await fetch(`http://127.0.0.1:${port}/other`)).status).toBe(404);

      // A second worker on the same host finds the port taken and runs without an endpoint.
      expect(serveWorkerMetrics({ ...harness, config })).toBeNull();
    } finally {
      server?.stop();
    }
  });

  test("worker registry has only worker metrics", async () => {
    const workerText = await createMetrics("worker").registry.metrics();
    expect(workerText).toContain("location_batch_stage_duration_seconds");
    expect(workerText).toContain("location_batch_rows_processed_total");
    expect(workerText).not.toContain("location_batch_queue_depth");
    expect(workerText).not.toContain("location_batch_jobs_created_total");

    const apiText = await createMetrics("api").registry.metrics();
    expect(apiText).toContain("location_batch_queue_depth");
    expect(apiText).not.toContain("location_batch_stage_duration_seconds");
  });

  test("port 0 disables the endpoint", () => {
    const config = loadConfig({ ...process.env, WORKER_METRICS_PORT: "0" });
    expect(serveWorkerMetrics({ ...harness, config })).toBeNull();
  });
});

describe("job log lines", () => {
  test("every line naming a job carries its job_hash", () => {
    let linesNamingJobs = 0;
    for (const [index, line] of logs.lines.entries()) {
      for (const job of [goodJob, badJob]) {
        if (!logs.raw[index]!.includes(job)) continue;
        linesNamingJobs += 1;
        expect({ msg: line.msg, job_hash: line.job_hash }).toEqual({ msg: line.msg, job_hash: job });
      }
    }
    expect(linesNamingJobs).toBeGreaterThanOrEqual(4);
  });

  test("job milestones are logged with job_hash", () => {
    const messagesOf = (job: string) => logs.lines.filter((line) => line.job_hash === job).map((line) => line.msg);
    expect(messagesOf(goodJob)).toContain("job scheduled");
    expect(messagesOf(goodJob)).toContain("job complete");
    expect(messagesOf(badJob)).toContain("job failed");
  });

  test("no token and no file content in any line", () => {
    expect(logs.raw.length).toBeGreaterThan(0);
    const all = logs.raw.join("\n");
    expect(all).not.toContain(token);
    expect(all).not.toContain(token.split(".")[2]!);
    expect(all).not.toContain("Zzylvania");
    expect(all).not.toContain("Secretville");
  });

  test("job error names problem, not content", () => {
    expect(badStatus.error).toContain("invalid JSON");
    expect(badStatus.error).not.toContain("Secretville");
  });
});

describe("log level", () => {
  test("warn drops info and debug lines", () => {
    const lines = new LogLines();
    const logger = createLogger(loadConfig({ LOG_LEVEL: "warn" }).logLevel, "level-test", lines);
    logger.debug("debug line");
    logger.info("info line");
    logger.warn("warn line");
    logger.error("error line");
    expect(lines.lines.map((line) => line.msg)).toEqual(["warn line", "error line"]);
    expect(lines.lines.map((line) => line.level)).toEqual([40, 50]);
  });
});
