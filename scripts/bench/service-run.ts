// One service run, with a nats-server, database and Redis key prefix of its own and the API and N
// worker processes. It times one big job from its POST to its completed event and a 10-row job
// submitted while the big one runs. Once the big job is complete, it times results pages and reads
// each process's peak memory.
import { jetstreamManager } from "@nats-io/jetstream";
import { signAdminToken } from "../../src/api/auth.ts";
import { withCleanup } from "../support/cleanup.ts";
import { deleteRedisKeys, randomHex, type ServiceSettings } from "../support/environment.ts";
import { freePort, loopback, waitForHealthy } from "../support/processes.ts";
import type { Workspace } from "../support/run-script.ts";
import { ApiClient } from "./api-client.ts";
import { createDatabase, ServiceProcesses, startNatsServer, waitForWorkers } from "./environment.ts";
import type { InputFiles } from "./input.ts";
import { JobEvents } from "./job-events.ts";
import { waitForSmallJob, watchBigJob, type WatchContext } from "./job-watch.ts";
import { readPeakMemory, type PeakMemory } from "./machine.ts";

const startupTimeoutMs = 120_000;
const resultsPerPage = 500;
const pageRequests = 5;

export interface PageLatency {
  position: "first" | "middle" | "last";
  page: number;
  medianMs: number;
  maxMs: number;
}

export interface ServiceRunResult {
  workers: number;
  /** Null when the run completed; else what went wrong. */
  error: string | null;
  /** From the big job's POST to its completed event. */
  seconds: number | null;
  rowsPerSecond: number | null;
  /** From the big job's POST to its started event: the file stage's validating read. */
  startedSeconds: number | null;
  /** From the big job's POST to the first status poll, every 250 ms, that found all its rows in the work stream. */
  dispatchedSeconds: number | null;
  /** From the big job's POST to the last status poll that found rows still to be dispatched. */
  undispatchedSeconds: number | null;
  completedRows: number | null;
  failedRows: number | null;
  smallJob: { seconds: number; bigJobProgress: number; duringBigJob: boolean } | null;
  pages: PageLatency[];
  memory: PeakMemory[];
}

export interface ServiceRunRequest {
  workers: number;
  rows: number;
  files: InputFiles;
  workspace: Workspace;
  timeLimitMs: number;
  signal: AbortSignal;
}

/** Reads a page five times and returns the median and maximum latency. */
async function timePage(client: ApiClient, jobHash: string, position: PageLatency["position"], page: number, rows: number): Promise<PageLatency> {
  const latencies: number[] = [];
  for (let request = 0; request < pageRequests; request += 1) latencies.push(await client.timeResultsPage(jobHash, page, rows));
  latencies.sort((a, b) => a - b);
  return { position, page, medianMs: latencies[Math.floor(latencies.length / 2)]!, maxMs: latencies.at(-1)! };
}

/** Runs one service run with `workers` worker processes. A failure of the run is returned in `error`, and a failure of its cleanup is printed. */
export function runService(request: ServiceRunRequest): Promise<ServiceRunResult> {
  const { workers, rows, workspace, signal } = request;
  const result: ServiceRunResult = {
    workers,
    error: null,
    seconds: null,
    rowsPerSecond: null,
    startedSeconds: null,
    dispatchedSeconds: null,
    undispatchedSeconds: null,
    completedRows: null,
    failedRows: null,
    smallJob: null,
    pages: [],
    memory: [],
  };
  const label = `${workers} worker${workers === 1 ? "" : "s"}`;

  return withCleanup(async (cleanup) => {
    const name = `bench_${randomHex(5)}`;
    const deadline = Date.now() + request.timeLimitMs;
    let processes: ServiceProcesses | null = null;
    try {
      const nats = await startNatsServer(cleanup, workspace, name);
      cleanup.add(`delete Redis keys ${name}:*`, () => deleteRedisKeys(name));
      await createDatabase(cleanup, name);
      const settings: ServiceSettings = { databaseName: name, natsPrefix: name, natsUrl: nats.url, jwtSecret: randomHex(32), apiPort: freePort() };
      processes = new ServiceProcesses(cleanup, settings, workspace);
      const baseUrl = `http://${loopback}:${settings.apiPort}`;

      // The API first: it migrates the new database, which workers starting alongside would race to do.
      processes.start("api", "src/bin/api.ts");
      await waitForHealthy(baseUrl, { timeoutMs: startupTimeoutMs, children: processes.children, signal });
      for (let index = 1; index <= workers; index += 1) processes.start(`worker-${index}`, "src/bin/worker.ts");
      await waitForWorkers(processes, nats.url, workers, startupTimeoutMs);
      if (signal.aborted) throw new Error("interrupted");
      console.log(`${label}: ${name}, nats-server on ${nats.url}, ${processes.children.map((child) => `${child.name} pid ${child.pid}`).join(", ")}`);

      const client = new ApiClient(baseUrl, await signAdminToken(settings.jwtSecret, 2 * 3600, "bench"));
      const bigFileHash = await client.upload(request.files.big);
      const smallFileHash = await client.upload(request.files.small);
      const events = await JobEvents.subscribe(nats.url, `${name}.location.batch`);
      cleanup.add("close the event subscriptions", () => events.close());
      console.log(`${label}: uploaded ${rows} rows (${(request.files.big.length / 1e6).toFixed(1)} MB) as ${bigFileHash}; posting the job`);

      const jsm = await jetstreamManager(events.connection);
      const workStream = `${name.toUpperCase()}_WORK`;
      const context: WatchContext = { label, client, events, processes, smallFileHash, jsm, workStream, rows, deadline, signal };
      const postedAt = performance.now();
      const jobHash = await client.createJob(bigFileHash);
      void events.arrival("started", jobHash).then((event) => {
        result.startedSeconds = (event.arrivedAt - postedAt) / 1000;
      });
      const { terminal, small, dispatchedSeconds, undispatchedSeconds } = await watchBigJob(context, jobHash, postedAt);
      result.dispatchedSeconds = dispatchedSeconds;
      result.undispatchedSeconds = undispatchedSeconds;
      result.seconds = (terminal.arrivedAt - postedAt) / 1000;
      result.rowsPerSecond = rows / result.seconds;
      result.completedRows = terminal.payload.completed ?? null;
      result.failedRows = terminal.payload.failed ?? null;
      if (terminal.payload.total_rows !== rows) throw new Error(`the completed event has total_rows ${terminal.payload.total_rows}, expected ${rows}`);

      const smallSeconds = await waitForSmallJob(context, small);
      result.smallJob = { seconds: smallSeconds, bigJobProgress: small.bigJobProgress, duringBigJob: small.duringBigJob };
      console.log(`${label}: the 10-row job took ${smallSeconds.toFixed(2)} s from its POST to its completed event`);

      const lastPage = Math.ceil(rows / resultsPerPage);
      for (const [position, page] of [["first", 1], ["middle", Math.ceil(lastPage / 2)], ["last", lastPage]] as const) {
        result.pages.push(await timePage(client, jobHash, position, page, rows));
      }
    } catch (error) {
      result.error = error instanceof Error ? error.message : String(error);
      console.error(`${label}: run failed: ${result.error}`);
    } finally {
      // Peak memory is read just before the processes stop, also after a failure, from those still running.
      if (processes !== null) {
        result.memory = processes.children.filter((child) => child.running).map((child) => readPeakMemory(child.name, child.pid));
        const failures = await processes.stopAll();
        for (const failure of failures) console.error(`${label}: ${failure}`);
      }
    }
    return result;
  });
}
