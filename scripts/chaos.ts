// `bun run chaos [--rows N] [--timeout SECONDS]`: runs one large job through the API and worker
// processes while workers are killed with SIGKILL, nats-server is restarted and every Postgres
// connection is terminated, then checks that no row was lost or doubled. It starts its own
// nats-server, database and processes, and removes them when it ends or is interrupted.
// Exit codes: 0 every check passed, 1 a check failed, 2 bad usage or the run could not start, 130 interrupted.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { signAdminToken } from "../src/api/auth.ts";
import { ApiClient } from "./chaos/api-client.ts";
import {
  checkCompletedEvent,
  checkEventOrder,
  checkRowEvents,
  hasTerminalEvent,
  printChecks,
  readJobEvents,
  readJobFacts,
  type Check,
  type JobEvent,
} from "./chaos/checks.ts";
import { ChaosEnvironment } from "./chaos/environment.ts";
import { describeFaults, injectFaults, type Fault, type FaultOutcome } from "./chaos/faults.ts";
import { buildInputFile } from "./chaos/input.ts";
import { parseOptions, type Options } from "./chaos/options.ts";
import { describeProgress, elapsed, jobProgress, watchJob, type JobWatch } from "./chaos/watch.ts";
import { randomHex } from "./support/environment.ts";
import { sleep, waitForHealthy, type Child } from "./support/processes.ts";
import { runScript, type ScriptContext } from "./support/run-script.ts";

const repoRoot = new URL("..", import.meta.url).pathname;
/** Name of this run, used as NATS_PREFIX, database name and Redis key prefix. */
const runName = `chaos_${randomHex(5)}`;
const workerCount = 2;
const faultFirstDelayMs = 2000;
const faultSpacingMs = 2000;
const natsDownMs = 1000;
const startupTimeoutMs = 60_000;
/** The sweeper publishes a terminal event lost to a crash about 10 to 15 s after the job closed. */
const terminalEventWaitMs = 30_000;

/** Reads the job's events, waiting a bounded time for the terminal event that a final job owes. */
async function readEventsOfEndedJob(env: ChaosEnvironment, jobHash: string, final: boolean): Promise<JobEvent[]> {
  const deadline = performance.now() + terminalEventWaitMs;
  let events = await readJobEvents(env.nats.url, env.eventsStream, jobHash);
  while (final && !hasTerminalEvent(events) && performance.now() < deadline) {
    await sleep(2000);
    events = await readJobEvents(env.nats.url, env.eventsStream, jobHash);
  }
  return events;
}

/** Counts warning and error lines (pino levels 40 and 50) in each log file. */
function summarizeLogs(logDir: string): string[] {
  return readdirSync(logDir)
    .sort()
    .map((file) => {
      const lines = readFileSync(join(logDir, file), "utf8").split("\n");
      const errors = lines.filter((line) => line.includes('"level":50') || line.includes('"level":60')).length;
      const warnings = lines.filter((line) => line.includes('"level":40')).length;
      return `${file}: ${errors} errors, ${warnings} warnings, ${lines.filter((line) => line !== "").length} lines`;
    });
}

async function uploadAndCreateJob(client: ApiClient, bytes: Uint8Array): Promise<{ fileHash: string; jobHash: string }> {
  const upload = await client.request("/files", { method: "POST", body: bytes, headers: { "content-type": "text/csv" } });
  if (upload?.status !== 201) throw new Error(`POST /files returned ${upload?.status ?? "nothing"}: ${await upload?.text()}`);
  const { file_hash: fileHash } = (await upload.json()) as { file_hash: string };

  const create = await client.request("/locations/batch", {
    method: "POST",
    body: JSON.stringify({ file_hash: fileHash }),
    headers: { "content-type": "application/json" },
  });
  if (create?.status !== 202) throw new Error(`POST /locations/batch returned ${create?.status ?? "nothing"}: ${await create?.text()}`);
  const { job_hash: jobHash } = (await create.json()) as { job_hash: string };
  return { fileHash, jobHash };
}

/**
 * Plans the faults in order: a worker kill soon after the job is created (often during the file
 * stage), then a NATS restart, a kill, a Postgres kill and a kill, each once a further share of rows is done.
 */
function planFaults(env: ChaosEnvironment, watch: JobWatch, crashed: Set<Child>): Fault[] {
  const progress = () => describeProgress(watch.last).replace(/\s+/g, " ");
  const workerKill = (minProgress: number): Fault => ({
    kind: "worker kill",
    minProgress,
    async inject() {
      const { killed, replacement } = await env.crashWorker();
      crashed.add(killed);
      return `SIGKILL ${killed.name} (pid ${killed.pid}), started ${replacement.name} (pid ${replacement.pid}); job at ${progress()}`;
    },
  });
  const natsRestart: Fault = {
    kind: "NATS restart",
    minProgress: 0.05,
    async inject() {
      const before = env.nats.pid;
      await env.nats.restart(natsDownMs);
      return `nats-server restarted (pid ${before} → ${env.nats.pid}, down ${natsDownMs} ms); job at ${progress()}`;
    },
  };
  const postgresKill: Fault = {
    kind: "Postgres kill",
    minProgress: 0.35,
    async inject() {
      const terminated = await env.terminatePostgresConnections();
      return `terminated ${terminated} Postgres connections to ${env.name}; job at ${progress()}`;
    },
  };
  return [workerKill(0), natsRestart, workerKill(0.2), postgresKill, workerKill(0.5)];
}

/** Runs one job while the faults strike, and returns whether every check passed. */
async function runJobUnderFaults(options: Options, env: ChaosEnvironment): Promise<boolean> {
  console.log(`chaos run ${env.name}: ${options.rows} rows, ${workerCount} workers, timeout ${options.timeoutMs / 1000} s`);
  console.log(`logs: ${env.logDir}`);

  await env.startNats();
  console.log(`nats-server pid ${env.nats.pid} on ${env.nats.url}, store ${env.storeDir}`);
  const api = env.startApi();
  await waitForHealthy(env.apiUrl, { timeoutMs: startupTimeoutMs });
  console.log(`api pid ${api.pid} on ${env.apiUrl}, database ${env.name}`);
  for (let index = 0; index < workerCount; index += 1) {
    const worker = env.startWorker();
    console.log(`${worker.name} pid ${worker.pid}`);
  }

  const input = await buildInputFile(options.rows);
  const client = new ApiClient(env.apiUrl, await signAdminToken(env.jwtSecret, 3600, "chaos"));
  const { fileHash, jobHash } = await uploadAndCreateJob(client, input.bytes);
  const watch: JobWatch = { last: null, over: false, startedAt: performance.now() };
  console.log(`file ${fileHash} (${input.bytes.length} bytes, ${input.unresolvableRows} unresolvable values), job ${jobHash}`);

  const crashed = new Set<Child>();
  const plan = planFaults(env, watch, crashed);
  const faultsDone = injectFaults(plan, {
    firstDelayMs: faultFirstDelayMs,
    spacingMs: faultSpacingMs,
    isJobOver: () => watch.over,
    progress: () => jobProgress(watch.last),
    log: (line) => console.log(`${elapsed(watch)} ${line}`),
  });
  await watchJob(env, client, jobHash, options.timeoutMs, watch);
  const faults: FaultOutcome[] = await faultsDone;
  const jobSeconds = (performance.now() - watch.startedAt) / 1000;
  console.log(`stopped watching the job after ${jobSeconds.toFixed(1)} s; reading its records and events`);

  const facts = await readJobFacts(env.databaseUrl, jobHash);
  const final = facts?.status === "complete" || facts?.status === "failed";
  const events = await readEventsOfEndedJob(env, jobHash, final);

  const faultProblems = faults.filter((fault) => fault.status !== "injected");
  const exits = env.unexpectedExits(crashed);
  const counted = facts === null ? null : facts.completed + facts.failed;
  const checks: Check[] = [
    {
      name: "job is complete",
      expected: "complete",
      actual: facts?.status ?? "job not found",
      ok: facts?.status === "complete",
    },
    {
      name: "completed + failed = total_rows = values",
      expected: `${options.rows} = ${options.rows} = ${options.rows}`,
      actual: `${counted ?? "?"} = ${facts?.totalRows ?? "null"} = ${options.rows}`,
      ok: counted === options.rows && facts?.totalRows === options.rows,
    },
    {
      name: "unresolvable values failed",
      expected: `failed ≥ ${input.unresolvableRows}`,
      actual: `failed ${facts?.failed ?? "?"}`,
      ok: facts !== null && facts.failed >= input.unresolvableRows,
    },
    {
      name: "one job_record per row",
      expected: `${options.rows} records, ${options.rows} rows`,
      actual: `${facts?.records ?? "?"} records, ${facts?.distinctRows ?? "?"} rows`,
      ok: facts?.records === options.rows && facts.distinctRows === options.rows && facts.totalRows === options.rows,
    },
    checkRowEvents(events, options.rows),
    ...checkEventOrder(events),
    checkCompletedEvent(events, facts),
    {
      name: "no 5xx answer but 503",
      expected: "0 other 5xx",
      actual: `${client.describeStatuses()}; ${client.networkErrors} without response`,
      ok: client.unexpectedServerErrors() === 0,
    },
    {
      name: "faults injected while the job ran",
      expected: describeFaults(plan.map((fault) => fault.kind)),
      actual:
        describeFaults(faults.filter((fault) => fault.status === "injected").map((fault) => fault.kind)) +
        (faultProblems.length > 0 ? `; ${faultProblems.map((fault) => `${fault.kind} ${fault.status}`).join(", ")}` : ""),
      ok: faultProblems.length === 0,
    },
    {
      name: "no process exited on its own",
      expected: "none",
      actual: exits.map((child) => `${child.name} (pid ${child.pid})`).join(", ") || "none",
      ok: exits.length === 0,
    },
  ];

  console.log("");
  printChecks(checks);
  console.log("");
  for (const error of client.serverErrors) {
    console.log(`server error: ${error.method} ${error.path} returned ${error.status}: ${error.body}`);
  }
  for (const line of summarizeLogs(env.logDir)) console.log(`log ${line}`);
  for (const child of exits) {
    const firstError = readFileSync(child.options.logPath, "utf8")
      .split("\n")
      .find((line) => /^\w*Error\b|"level":[56]0/.test(line));
    console.log(`${child.name} exited on its own with ${child.exitStatus}; first error in ${child.options.logPath}: ${firstError ?? "none logged"}`);
  }
  return checks.every((check) => check.ok);
}

async function run(options: Options, { workspace, cleanup }: ScriptContext): Promise<number> {
  const started = performance.now();
  const env = new ChaosEnvironment(repoRoot, runName, workspace);
  cleanup.add(`remove ${env.name}`, () => env.cleanup());

  let passed = false;
  let exitCode = 1;
  try {
    passed = await runJobUnderFaults(options, env);
    exitCode = passed ? 0 : 1;
  } catch (error) {
    console.error(`chaos run could not finish: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    exitCode = 2;
  } finally {
    const clean = await env.cleanup();
    if (!clean && exitCode === 0) exitCode = 1;
    console.log(`${passed ? "passed" : "FAILED"} in ${((performance.now() - started) / 1000).toFixed(1)} s; logs kept in ${env.logDir}`);
  }
  return exitCode;
}

process.exit(
  await runScript({
    name: "chaos run",
    workspacePrefix: `${runName}-`,
    parse: parseOptions,
    run,
    leftovers: () => `processes and the database ${runName}`,
  }),
);
