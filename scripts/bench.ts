// `bun run bench [--rows N] [--workers 1,2,4] [--skip-floor] [--skip-service] [--timeout-minutes N]`:
// a benchmark on this machine. It measures the floor, which is the rate of JetStream alone with the
// service's pattern of row messages and row events. It then measures the service's end-to-end rate on
// N real place names, from POST /locations/batch to the completed event, once per worker count, with
// the API and each worker as separate processes. Each service run also times a 10-row job submitted
// at about 30% of the big one, reads the first, a middle and the last results page five times each,
// and reads each process's peak resident memory. Every phase has its own nats-server and store, and
// each service run its own database and Redis key prefix. All of it is removed at the end of the
// phase or on SIGINT. The benchmark prints a summary table and writes the figures as JSON.
// Exit codes: 0 every phase completed, 1 a phase failed, 2 bad usage or the benchmark could not
// start, 130 interrupted.
import { mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openCleanups, withCleanup } from "./bench/cleanup.ts";
import { startNatsServer, type Workspace } from "./bench/environment.ts";
import { floorMode, runFloor, type FloorResult } from "./bench/floor.ts";
import { buildInputFiles } from "./bench/input.ts";
import { readMachine } from "./bench/machine.ts";
import { parseOptions, type Options } from "./bench/options.ts";
import { printSummary, ratioToFloor, writeSummaryJson, type Summary } from "./bench/report.ts";
import { runService, type ServiceRunResult } from "./bench/service-run.ts";
import { UsageError } from "./support/options.ts";

/** The binary that NatsServer starts by default. */
const natsServerBinary = "/usr/sbin/nats-server";

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

async function measureFloor(options: Options, workspace: Workspace, signal: AbortSignal): Promise<FloorResult> {
  console.log(`\nfloor: ${options.rows} rows, ${floorMode}`);
  return withCleanup(async (cleanup) => {
    const nats = await startNatsServer(cleanup, workspace, "floor");
    return runFloor(nats.url, options.rows, options.timeLimitMs, signal);
  });
}

async function main(): Promise<number> {
  let options: Options;
  try {
    options = parseOptions(Bun.argv.slice(2));
  } catch (error) {
    console.error(describe(error));
    return error instanceof UsageError ? 2 : 1;
  }

  const directory = mkdtempSync(join(tmpdir(), "location-batch-bench-"));
  const workspace: Workspace = { directory, logDirectory: join(directory, "logs") };
  mkdirSync(workspace.logDirectory);
  const abort = new AbortController();
  let interrupted = false;
  const onSignal = (signal: string) => {
    if (interrupted) {
      console.error(`${signal} again: exiting before cleanup ended; check for bench_ databases, processes and ${directory}`);
      process.exit(130);
    }
    interrupted = true;
    console.error(`${signal}: stopping and removing what the benchmark made`);
    abort.abort();
    void Promise.allSettled([...openCleanups].map((cleanup) => cleanup.run())).finally(() => process.exit(130));
  };
  process.on("SIGINT", () => onSignal("SIGINT"));
  process.on("SIGTERM", () => onSignal("SIGTERM"));

  const machine = readMachine(natsServerBinary);
  console.log(`benchmark: ${options.rows} rows, worker counts ${options.workerCounts.join(", ")}; logs in ${workspace.logDirectory}`);

  let floor: FloorResult | null = null;
  let floorError: string | null = null;
  if (!options.skipFloor) {
    try {
      floor = await measureFloor(options, workspace, abort.signal);
    } catch (error) {
      floorError = describe(error);
      console.error(`floor failed: ${floorError}`);
    }
  }

  const runs: ServiceRunResult[] = [];
  if (!options.skipService && !abort.signal.aborted) {
    let files;
    try {
      files = await buildInputFiles(options.rows);
    } catch (error) {
      console.error(`could not build the input file: ${describe(error)}`);
      return 2;
    }
    for (const workers of options.workerCounts) {
      if (abort.signal.aborted) break;
      console.log(`\nservice run with ${workers} worker${workers === 1 ? "" : "s"}`);
      runs.push(await runService({ workers, rows: options.rows, files, workspace, timeLimitMs: options.timeLimitMs, signal: abort.signal }));
    }
  }
  if (abort.signal.aborted) return 130;

  const summary: Summary = {
    finishedAt: new Date().toISOString(),
    machine,
    rows: options.rows,
    floor,
    floorError,
    runs,
    ratiosToFloor: runs.map((run) => ratioToFloor(run, floor)),
    logDirectory: workspace.logDirectory,
  };
  printSummary(summary);
  const jsonPath = join(directory, "summary.json");
  writeSummaryJson(summary, jsonPath);
  console.log(`\nsummary as JSON: ${jsonPath}`);
  const failed = floorError !== null || runs.some((run) => run.error !== null);
  return failed ? 1 : 0;
}

process.exit(await main());
