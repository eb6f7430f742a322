// `bun run load [--rows N] [--clients N] [--requests N] [--seconds N] [--workers N] [--tail-seconds N]`:
// a load test on loopback. It starts its own API and worker processes on the local Postgres, NATS and
// Redis under names of its own, uploads a file of real place names and creates one job. Many concurrent
// clients then poll the job's status and, once it is complete, read random results pages. It prints a
// progress line about once a second and a summary at the end, and removes everything it made:
// processes, database, streams and Redis keys. Exit codes: 0 no request failed, 1 a request
// failed (a 5xx, another unexpected status, a wrong body or a network error) or the job failed,
// 2 bad usage or the run could not start, 130 interrupted.
import { signAdminToken } from "../src/api/auth.ts";
import { LoadStats, runClient, type LoadRun } from "./load/clients.ts";
import { createDatabase, removeDeployment, startChild, stopChildren, type Deployment } from "./load/deployment.ts";
import { parseOptions, type Options } from "./load/options.ts";
import { printSummary, progressLine } from "./load/report.ts";
import { randomHex } from "./support/environment.ts";
import { readPlaceLines } from "./support/places.ts";
import { freePort, loopback, waitForHealthy, type Child } from "./support/processes.ts";
import { runScript, type ScriptContext } from "./support/run-script.ts";

const progressIntervalMs = 1000;
const healthTimeoutMs = 60_000;
/** Name of this run, used as database name, NATS prefix and Redis key prefix. */
const name = `load_${randomHex(5)}`;

/** Builds a CSV of `rows` values by repeating the place names of world-cities.csv in order. */
async function buildInputFile(rows: number): Promise<string> {
  const lines = await readPlaceLines();
  const values: string[] = new Array(rows);
  for (let row = 0; row < rows; row += 1) values[row] = lines[row % lines.length]!;
  return `${values.join("\n")}\n`;
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

async function runLoadTest(options: Options, { workspace, signal, cleanup }: ScriptContext): Promise<number> {
  const deployment: Deployment = {
    prefix: name,
    databaseName: name,
    jwtSecret: randomHex(32),
    port: freePort(),
    logDirectory: workspace.logDirectory,
  };
  const baseUrl = `http://${loopback}:${deployment.port}`;
  const children: Child[] = [];

  cleanup.add(`remove ${name}`, async () => {
    const failures = [...(await stopChildren(children)), ...(await removeDeployment(deployment))];
    for (const failure of failures) console.error(`cleanup failed: ${failure}`);
    console.log(`removed ${name} (processes, database, streams and Redis keys), logs kept in ${deployment.logDirectory}`);
  });

  console.log(`deployment ${name} on ${baseUrl}, child logs in ${deployment.logDirectory}`);
  try {
    const content = await buildInputFile(options.rows);
    await createDatabase(deployment);
    children.push(startChild(deployment, "api", "src/bin/api.ts"));
    for (let index = 1; index <= options.workers; index += 1) {
      children.push(startChild(deployment, `worker-${index}`, "src/bin/worker.ts"));
    }
    console.log(`started ${children.map((child) => `${child.name} (pid ${child.pid})`).join(", ")}`);
    await waitForHealthy(baseUrl, { timeoutMs: healthTimeoutMs, children, signal });
    if (signal.aborted) return 130;

    const token = await signAdminToken(deployment.jwtSecret, 3600, "load-test");
    const fileHash = await upload(baseUrl, token, content);
    const jobCreatedAtMs = Date.now();
    const jobHash = await createJob(baseUrl, token, fileHash);
    console.log(`uploaded ${options.rows} rows (${(content.length / 1e6).toFixed(1)} MB) as ${fileHash}, job ${jobHash}`);

    const run: LoadRun = { baseUrl, token, jobHash, options, stats: new LoadStats(), signal, startedAtMs: Date.now() };
    const progress = setInterval(() => console.log(progressLine(run)), progressIntervalMs);
    try {
      await Promise.all(Array.from({ length: options.clients }, () => runClient(run)));
    } finally {
      clearInterval(progress);
    }
    if (signal.aborted) return 130;
    console.log(progressLine(run));
    printSummary(run, jobCreatedAtMs);
    const failed = run.stats.errorCount() > 0;
    return failed ? 1 : 0;
  } catch (error) {
    if (signal.aborted) return 130;
    console.error(`load run could not complete: ${(error as Error).message}`);
    return 2;
  }
}

process.exit(
  await runScript({
    name: "load run",
    workspacePrefix: `location-batch-${name}-`,
    parse: parseOptions,
    run: runLoadTest,
    leftovers: () => `processes, the database ${name}, the streams ${name.toUpperCase()}_WORK, ${name.toUpperCase()}_EVENTS and OBJ_${name}_files, and Redis keys ${name}:*`,
  }),
);
