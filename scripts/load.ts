// `bun run load [--rows N] [--clients N] [--requests N] [--seconds N] [--workers N] [--tail-seconds N]`:
// a load test on loopback. It starts its own API and worker processes on the local Postgres, NATS and
// Redis under names of its own, uploads a file of real place names and creates one job. Many concurrent
// clients then poll the job's status and, once it is complete, read random results pages. It prints a
// progress line about once a second and a summary at the end, and removes everything it made:
// processes, database, streams and Redis keys. Exit codes: 0 no request failed, 1 a request
// failed (a 5xx, another unexpected status, a wrong body or a network error) or the job failed,
// 2 bad usage or the run could not start, 130 interrupted.
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import Redis from "ioredis";
import { mkdtemp } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import postgres from "postgres";
import { signAdminToken } from "../src/api/auth.ts";

const repoRoot = new URL("..", import.meta.url).pathname;
const worldCitiesPath = new URL("../../shared/data/world-cities.csv", import.meta.url).pathname;

// Every service this script talks to is on loopback.
const host = "127.0.0.1";
const postgresAdminUrl = `postgres://postgres@${host}:5432/postgres`;
const natsUrl = `nats://${host}:4222`;
const redisUrl = `redis://${host}:6379`;

const resultsPerPage = 500;
const progressIntervalMs = 1000;
const healthTimeoutMs = 60_000;
const healthPollMs = 250;
const requestTimeoutMs = 30_000;
/** Pause between one client's status polls while the job runs, as a polling client would wait. */
const statusPollMs = 1000;
/** Share of the status polls before completion that also request a results page, which must get 409. */
const earlyResultsShare = 0.1;
const stopGraceMs = 5000;

class UsageError extends Error {
  override readonly name = "UsageError";
}

interface Options {
  rows: number;
  clients: number;
  maxRequests: number;
  timeLimitMs: number;
  workers: number;
  tailMs: number;
}

function positiveInteger(flag: string, raw: string | undefined, fallback: number, max: number): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1 || value > max) {
    throw new UsageError(`--${flag} must be an integer from 1 to ${max}, got "${raw}"`);
  }
  return value;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      rows: { type: "string" },
      clients: { type: "string" },
      requests: { type: "string" },
      seconds: { type: "string" },
      workers: { type: "string" },
      "tail-seconds": { type: "string" },
      help: { type: "boolean" },
    },
    strict: true,
  });
  if (values.help) {
    console.log(`Usage: bun run load [options]
  --rows N           rows in the job's file, repeating world-cities.csv (default 100000)
  --clients N        concurrent HTTP clients (default 200)
  --requests N       maximum requests in the run (default 20000)
  --seconds N        time limit of the load phase, in seconds (default 120)
  --workers N        worker processes (default 2)
  --tail-seconds N   seconds the clients keep reading results pages after the job completes (default 5)`);
    process.exit(0);
  }
  return {
    rows: positiveInteger("rows", values.rows, 100_000, 5_000_000),
    clients: positiveInteger("clients", values.clients, 200, 5000),
    maxRequests: positiveInteger("requests", values.requests, 20_000, 10_000_000),
    timeLimitMs: positiveInteger("seconds", values.seconds, 120, 86_400) * 1000,
    workers: positiveInteger("workers", values.workers, 2, 16),
    tailMs: positiveInteger("tail-seconds", values["tail-seconds"], 5, 3600) * 1000,
  };
}

function randomHex(bytes: number): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(bytes)), (byte) => byte.toString(16).padStart(2, "0")).join("");
}

/** Returns a TCP port that was free on loopback a moment ago. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, host, () => {
      const address = server.address();
      server.close(() => {
        if (typeof address === "object" && address !== null) resolve(address.port);
        else reject(new Error("the OS assigned no port to a listener on port 0"));
      });
    });
  });
}

/** Resolves after `ms`, or at once when `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done);
  });
}

/** Builds a CSV of `rows` values by repeating the place names of world-cities.csv in order. */
async function buildInputFile(rows: number): Promise<string> {
  const lines = (await Bun.file(worldCitiesPath).text()).split(/\r?\n/).filter((line) => line.trim() !== "");
  if (lines.length === 0) throw new UsageError(`${worldCitiesPath} has no rows`);
  const values: string[] = new Array(rows);
  for (let row = 0; row < rows; row += 1) values[row] = lines[row % lines.length]!;
  return `${values.join("\n")}\n`;
}

interface Deployment {
  prefix: string;
  databaseName: string;
  jwtSecret: string;
  port: number;
  logDirectory: string;
}

interface Child {
  name: string;
  process: Bun.Subprocess;
}

function startChild(deployment: Deployment, name: string, entry: string): Child {
  const env: Record<string, string | undefined> = {
    ...process.env,
    NODE_ENV: "development",
    HOST: host,
    PORT: String(deployment.port),
    DATABASE_URL: `postgres://postgres@${host}:5432/${deployment.databaseName}`,
    NATS_URL: natsUrl,
    REDIS_URL: redisUrl,
    JWT_SECRET: deployment.jwtSecret,
    NATS_PREFIX: deployment.prefix,
    EVENT_SUBJECT_PREFIX: `${deployment.prefix}.location.batch`,
    // Empty values unset these, so a variable left in the shell cannot send the children elsewhere.
    FILES_SERVICE_URL: "",
    FILES_SERVICE_TOKEN: "",
    LOG_LEVEL: "info",
  };
  const child = Bun.spawn(["bun", "run", entry], {
    cwd: repoRoot,
    env,
    stdin: "ignore",
    stdout: Bun.file(join(deployment.logDirectory, `${name}.out.log`)),
    stderr: Bun.file(join(deployment.logDirectory, `${name}.err.log`)),
  });
  return { name, process: child };
}

/**
 * Creates the deployment's database before any child starts. NOTE: the service creates a missing
 * database itself, but processes that start together race to create it. The losers exit with Postgres
 * error 23505 (duplicate key in pg_database), so the script does not leave that to the children.
 */
async function createDatabase(deployment: Deployment): Promise<void> {
  const admin = postgres(postgresAdminUrl, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`create database "${deployment.databaseName}"`);
  } finally {
    await admin.end({ timeout: 5 });
  }
}

/** Sends SIGTERM to each child by PID, then SIGKILL to any still running after the grace period. */
async function stopChildren(children: Child[]): Promise<void> {
  const running = children.filter((child) => child.process.exitCode === null && child.process.signalCode === null);
  for (const child of running) child.process.kill("SIGTERM");
  await Promise.race([Promise.all(running.map((child) => child.process.exited)), Bun.sleep(stopGraceMs)]);
  for (const child of running) {
    if (child.process.exitCode === null && child.process.signalCode === null) {
      console.error(`${child.name} (pid ${child.process.pid}) did not stop within ${stopGraceMs} ms, sending SIGKILL`);
      child.process.kill("SIGKILL");
      await child.process.exited;
    }
  }
}

/** Drops the database, deletes the streams and the files bucket's stream, and deletes the Redis keys of the deployment. */
async function removeDeployment(deployment: Deployment): Promise<string[]> {
  const failures: string[] = [];

  const admin = postgres(postgresAdminUrl, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`drop database if exists "${deployment.databaseName}" with (force)`);
  } catch (error) {
    failures.push(`drop database ${deployment.databaseName}: ${(error as Error).message}`);
  } finally {
    await admin.end({ timeout: 5 });
  }

  try {
    const connection = await connect({ servers: natsUrl, name: `load-cleanup-${deployment.prefix}` });
    try {
      const jsm = await jetstreamManager(connection);
      const streamPrefix = deployment.prefix.toUpperCase();
      for (const stream of [`${streamPrefix}_WORK`, `${streamPrefix}_EVENTS`, `OBJ_${deployment.prefix}_files`]) {
        await jsm.streams.delete(stream).catch((error: unknown) => {
          // A stream that was never created is not a failure of the cleanup.
          if (!/not found/i.test((error as Error).message)) failures.push(`delete stream ${stream}: ${(error as Error).message}`);
        });
      }
    } finally {
      await connection.close();
    }
  } catch (error) {
    failures.push(`NATS cleanup: ${(error as Error).message}`);
  }

  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 2 });
  try {
    await redis.connect();
    let cursor = "0";
    // Bounded by the key count: each SCAN step returns a cursor that ends at "0".
    for (let step = 0; step < 1_000_000; step += 1) {
      const [next, keys] = await redis.scan(cursor, "MATCH", `${deployment.prefix}:*`, "COUNT", 1000);
      if (keys.length > 0) await redis.del(...keys);
      cursor = next;
      if (cursor === "0") break;
    }
  } catch (error) {
    failures.push(`Redis cleanup: ${(error as Error).message}`);
  } finally {
    redis.disconnect();
  }
  return failures;
}

async function waitForHealth(baseUrl: string, children: Child[], signal: AbortSignal): Promise<void> {
  const deadline = Date.now() + healthTimeoutMs;
  let last = "no answer yet";
  while (Date.now() < deadline && !signal.aborted) {
    const exited = children.find((child) => child.process.exitCode !== null || child.process.signalCode !== null);
    if (exited) throw new Error(`${exited.name} exited with ${exited.process.exitCode ?? exited.process.signalCode} before the API was healthy`);
    try {
      const response = await fetch(`${baseUrl}/health`, { signal: AbortSignal.timeout(2000) });
      if (response.status === 200) return;
      last = `${response.status} ${await response.text()}`;
    } catch (error) {
      last = (error as Error).message;
    }
    await sleep(healthPollMs, signal);
  }
  throw new Error(`API at ${baseUrl} was not healthy within ${healthTimeoutMs} ms: ${last}`);
}

type RequestKind = "status" | "results";
/** Latency series. Results requests that got 409 before completion are kept apart from served pages. */
type LatencySeries = RequestKind | "results 409";

interface JobStatus {
  status: string;
  total_rows: number | null;
  completed: number;
  failed: number;
  progress: number;
  error: string | null;
}

/** Counters and latencies that every client adds to. */
class LoadStats {
  issued = 0;
  done = 0;
  expected409 = 0;
  readonly errors = new Map<string, number>();
  readonly latenciesMs: Record<LatencySeries, number[]> = { status: [], results: [], "results 409": [] };
  latest: JobStatus | null = null;
  jobFailed = false;
  completedAtMs: number | null = null;

  recordError(kind: string): void {
    this.errors.set(kind, (this.errors.get(kind) ?? 0) + 1);
  }

  errorCount(): number {
    let total = 0;
    for (const count of this.errors.values()) total += count;
    return total;
  }
}

interface LoadRun {
  baseUrl: string;
  token: string;
  jobHash: string;
  options: Options;
  stats: LoadStats;
  signal: AbortSignal;
  startedAtMs: number;
}

/** Reports whether the load phase is over: the request budget is spent, the time limit passed, or the tail after completion ended. */
function loadOver(run: LoadRun): boolean {
  const { stats, options } = run;
  if (run.signal.aborted || stats.issued >= options.maxRequests) return true;
  const now = Date.now();
  if (now - run.startedAtMs >= options.timeLimitMs) return true;
  return stats.completedAtMs !== null && now - stats.completedAtMs >= options.tailMs;
}

/** Sends one GET, records its latency, and returns its status and parsed body, or null after a network error. */
async function timedGet(run: LoadRun, kind: RequestKind, path: string): Promise<{ status: number; body: unknown } | null> {
  run.stats.issued += 1;
  const started = performance.now();
  try {
    const response = await fetch(`${run.baseUrl}${path}`, {
      headers: { authorization: `Bearer ${run.token}` },
      signal: AbortSignal.any([run.signal, AbortSignal.timeout(requestTimeoutMs)]),
    });
    const text = await response.text();
    const series: LatencySeries = kind === "results" && response.status === 409 ? "results 409" : kind;
    run.stats.latenciesMs[series].push(performance.now() - started);
    run.stats.done += 1;
    let body: unknown = null;
    try {
      body = JSON.parse(text);
    } catch {
      body = null;
    }
    return { status: response.status, body };
  } catch (error) {
    run.stats.done += 1;
    if (run.signal.aborted) return null;
    const name = (error as Error).name === "TimeoutError" ? `timed out after ${requestTimeoutMs} ms` : (error as Error).message;
    run.stats.recordError(`${kind} network error: ${name}`);
    return null;
  }
}

/** Checks one results page against the job's row count: the right number of rows, numbered from the page's first row. */
function checkResultsPage(body: unknown, page: number, totalRows: number): string | null {
  const data = (body as { data?: { row?: number }[] } | null)?.data;
  if (!Array.isArray(data)) return "results body without a data array";
  const firstRow = (page - 1) * resultsPerPage + 1;
  const expected = Math.max(0, Math.min(resultsPerPage, totalRows - firstRow + 1));
  if (data.length !== expected) return "results page with the wrong number of rows";
  if (expected > 0 && (data[0]?.row !== firstRow || data.at(-1)?.row !== firstRow + expected - 1)) {
    return "results page with the wrong rows";
  }
  return null;
}

/** Runs one client: polls the status, then reads random results pages once the job is complete, until the load phase is over. */
async function runClient(run: LoadRun): Promise<void> {
  const { stats } = run;
  let lastDone = 0;
  // Bounded by the request budget: every pass sends at least one request.
  while (!loadOver(run)) {
    const status = await timedGet(run, "status", `/locations/batch/${run.jobHash}`);
    if (status === null) {
      await sleep(statusPollMs, run.signal);
      continue;
    }
    if (status.status !== 200) {
      stats.recordError(`status ${status.status}`);
      await sleep(statusPollMs, run.signal);
      continue;
    }
    const job = status.body as JobStatus;
    const done = job.completed + job.failed;
    if (done < lastDone) stats.recordError("status counts moved backwards");
    lastDone = done;
    if (stats.latest === null || done >= stats.latest.completed + stats.latest.failed) stats.latest = job;
    if (job.status === "failed") {
      // Every client sees the failure, but it is counted once.
      if (!stats.jobFailed) stats.recordError(`job failed: ${job.error}`);
      stats.jobFailed = true;
      return;
    }

    const complete = job.status === "complete";
    if (complete) stats.completedAtMs ??= Date.now();
    if (!complete && Math.random() >= earlyResultsShare) {
      await sleep(statusPollMs * (0.5 + Math.random()), run.signal);
      continue;
    }
    if (loadOver(run)) break;

    const totalRows = job.total_rows ?? 0;
    const pages = Math.max(1, Math.ceil(totalRows / resultsPerPage));
    const page = 1 + Math.floor(Math.random() * pages);
    const results = await timedGet(run, "results", `/locations/batch/${run.jobHash}/results?page=${page}`);
    if (results === null) continue;
    if (results.status === 409 && !complete) {
      stats.expected409 += 1;
      await sleep(statusPollMs * (0.5 + Math.random()), run.signal);
      continue;
    }
    if (results.status !== 200) {
      stats.recordError(`results ${results.status}${complete ? " after the job completed" : ""}`);
      continue;
    }
    const problem = checkResultsPage(results.body, page, totalRows);
    if (problem !== null) stats.recordError(problem);
  }
}

function percentile(sorted: number[], share: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(share * sorted.length) - 1)]!;
}

function latencyLine(series: LatencySeries, values: number[]): string {
  const sorted = [...values].sort((a, b) => a - b);
  const cells = [0.5, 0.9, 0.99].map((share) => percentile(sorted, share));
  cells.push(sorted.at(-1) ?? Number.NaN);
  return `  ${series.padEnd(12)}${String(sorted.length).padStart(8)}${cells.map((ms) => ms.toFixed(1).padStart(9)).join("")}`;
}

function progressLine(run: LoadRun): string {
  const { stats } = run;
  const seconds = ((Date.now() - run.startedAtMs) / 1000).toFixed(1);
  const job = stats.latest;
  const jobText =
    job === null
      ? "job: no status yet"
      : `job ${job.status} ${job.completed + job.failed}/${job.total_rows ?? "?"} rows (${(job.progress * 100).toFixed(1)}%)`;
  return `[${seconds.padStart(6)} s] requests ${stats.done} (status ${stats.latenciesMs.status.length}, results ${stats.latenciesMs.results.length + stats.latenciesMs["results 409"].length}), errors ${stats.errorCount()}, 409 ${stats.expected409}, ${jobText}`;
}

function printSummary(run: LoadRun, jobCreatedAtMs: number): void {
  const { stats, options } = run;
  const seconds = (Date.now() - run.startedAtMs) / 1000;
  const job = stats.latest;
  console.log("\nload summary");
  console.log(`  rows ${options.rows}, clients ${options.clients}, workers ${options.workers}, load phase ${seconds.toFixed(1)} s`);
  if (job === null) {
    console.log(`  job ${run.jobHash}: no status read`);
  } else if (stats.completedAtMs !== null) {
    console.log(
      `  job ${run.jobHash}: complete ${((stats.completedAtMs - jobCreatedAtMs) / 1000).toFixed(1)} s after it was created (first seen by a client), ${job.completed} ok, ${job.failed} failed`,
    );
  } else {
    console.log(`  job ${run.jobHash}: ${job.status} when the load phase ended, ${job.completed + job.failed}/${job.total_rows ?? "?"} rows`);
  }
  console.log(`  requests ${stats.done} (${(stats.done / seconds).toFixed(1)} requests/s)`);
  console.log(`  expected 409 (results before completion): ${stats.expected409}`);
  if (stats.errors.size === 0) {
    console.log("  errors: none");
  } else {
    console.log(`  errors: ${stats.errorCount()}`);
    for (const [kind, count] of [...stats.errors].sort((a, b) => b[1] - a[1])) console.log(`    ${String(count).padStart(7)}  ${kind}`);
  }
  console.log(`  latency ms       count      p50      p90      p99      max`);
  console.log(latencyLine("status", stats.latenciesMs.status));
  console.log(latencyLine("results", stats.latenciesMs.results));
  console.log(latencyLine("results 409", stats.latenciesMs["results 409"]));
}

async function upload(baseUrl: string, token: string, content: string): Promise<string> {
  const response = await fetch(`${baseUrl}/files`, {
    method: "POST",
    body: content,
    headers: { authorization: `Bearer ${token}`, "content-type": "text/csv" },
    signal: AbortSignal.timeout(120_000),
  });
  if (response.status !== 201) throw new Error(`upload failed with ${response.status}: ${await response.text()}`);
  return ((await response.json()) as { file_hash: string }).file_hash;
}

async function createJob(baseUrl: string, token: string, fileHash: string): Promise<string> {
  const response = await fetch(`${baseUrl}/locations/batch`, {
    method: "POST",
    body: JSON.stringify({ file_hash: fileHash }),
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    signal: AbortSignal.timeout(30_000),
  });
  if (response.status !== 202) throw new Error(`job creation failed with ${response.status}: ${await response.text()}`);
  return ((await response.json()) as { job_hash: string }).job_hash;
}

async function main(): Promise<number> {
  let options: Options;
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (error) {
    console.error((error as Error).message);
    return 2;
  }

  const name = `load_${randomHex(5)}`;
  const deployment: Deployment = {
    prefix: name,
    databaseName: name,
    jwtSecret: randomHex(32),
    port: await freePort(),
    logDirectory: await mkdtemp(join(tmpdir(), `location-batch-${name}-`)),
  };
  const baseUrl = `http://${host}:${deployment.port}`;
  const abort = new AbortController();
  const children: Child[] = [];

  let cleanup: Promise<void> | null = null;
  const cleanUp = () => {
    cleanup ??= (async () => {
      await stopChildren(children);
      const failures = await removeDeployment(deployment);
      for (const failure of failures) console.error(`cleanup failed: ${failure}`);
      console.log(`removed ${name} (processes, database, streams and Redis keys), logs kept in ${deployment.logDirectory}`);
    })();
    return cleanup;
  };
  let interrupted = false;
  const onSignal = (signal: string) => {
    if (interrupted) return;
    interrupted = true;
    console.error(`${signal} received, stopping and cleaning up`);
    abort.abort();
    void cleanUp().finally(() => process.exit(130));
  };
  process.on("SIGINT", () => onSignal("SIGINT"));
  process.on("SIGTERM", () => onSignal("SIGTERM"));

  console.log(`deployment ${name} on ${baseUrl}, child logs in ${deployment.logDirectory}`);
  try {
    const content = await buildInputFile(options.rows);
    await createDatabase(deployment);
    children.push(startChild(deployment, "api", "src/bin/api.ts"));
    for (let index = 1; index <= options.workers; index += 1) {
      children.push(startChild(deployment, `worker-${index}`, "src/bin/worker.ts"));
    }
    console.log(`started ${children.map((child) => `${child.name} (pid ${child.process.pid})`).join(", ")}`);
    await waitForHealth(baseUrl, children, abort.signal);
    if (abort.signal.aborted) return 130;

    const token = await signAdminToken(deployment.jwtSecret, 3600, "load-test");
    const fileHash = await upload(baseUrl, token, content);
    const jobCreatedAtMs = Date.now();
    const jobHash = await createJob(baseUrl, token, fileHash);
    console.log(`uploaded ${options.rows} rows (${(content.length / 1e6).toFixed(1)} MB) as ${fileHash}, job ${jobHash}`);

    const run: LoadRun = { baseUrl, token, jobHash, options, stats: new LoadStats(), signal: abort.signal, startedAtMs: Date.now() };
    const progress = setInterval(() => console.log(progressLine(run)), progressIntervalMs);
    try {
      await Promise.all(Array.from({ length: options.clients }, () => runClient(run)));
    } finally {
      clearInterval(progress);
    }
    if (abort.signal.aborted) return 130;
    console.log(progressLine(run));
    printSummary(run, jobCreatedAtMs);
    const failed = run.stats.errorCount() > 0;
    return failed ? 1 : 0;
  } catch (error) {
    if (abort.signal.aborted) return 130;
    console.error(`load run could not complete: ${(error as Error).message}`);
    return 2;
  } finally {
    await cleanUp();
  }
}

process.exit(await main());
