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
import { join } from "node:path";
import { startNatsServer } from "./bench/environment.ts";
import { floorMode, runFloor, type FloorResult } from "./bench/floor.ts";
import { buildInputFiles } from "./bench/input.ts";
import { readMachine } from "./bench/machine.ts";
import { parseOptions, type Options } from "./bench/options.ts";
import { printSummary, ratioToFloor, writeSummaryJson, type Summary } from "./bench/report.ts";
import { runService, type ServiceRunResult } from "./bench/service-run.ts";
import { withCleanup } from "./support/cleanup.ts";
import { describeError, runScript, type ScriptContext, type Workspace } from "./support/run-script.ts";

/** The binary that NatsServer starts by default. */
const natsServerBinary = "/usr/sbin/nats-server";

async function measureFloor(options: Options, workspace: Workspace, signal: AbortSignal): Promise<FloorResult> {
  console.log(`\nfloor: ${options.rows} rows, ${floorMode}`);
  return withCleanup(async (cleanup) => {
    const nats = await startNatsServer(cleanup, workspace, "floor");
    return runFloor(nats.url, options.rows, options.timeLimitMs, signal);
  });
}

async function run(options: Options, { workspace, signal }: ScriptContext): Promise<number> {
  const machine = readMachine(natsServerBinary);
  console.log(`benchmark: ${options.rows} rows, worker counts ${options.workerCounts.join(", ")}; logs in ${workspace.logDirectory}`);

  let floor: FloorResult | null = null;
  let floorError: string | null = null;
  if (!options.skipFloor) {
    try {
      floor = await measureFloor(options, workspace, signal);
    } catch (error) {
      floorError = describeError(error);
      console.error(`floor failed: ${floorError}`);
    }
  }

  const runs: ServiceRunResult[] = [];
  if (!options.skipService && !signal.aborted) {
    let files;
    try {
      files = await buildInputFiles(options.rows);
    } catch (error) {
      console.error(`failed to build the input file: ${describeError(error)}`);
      return 2;
    }
    for (const workers of options.workerCounts) {
      if (signal.aborted) break;
      console.log(`\nservice run with ${workers} worker${workers === 1 ? "" : "s"}`);
      runs.push(await runService({ workers, rows: options.rows, files, workspace, timeLimitMs: options.timeLimitMs, signal }));
    }
  }
  if (signal.aborted) return 130;

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
  const jsonPath = join(workspace.directory, "summary.json");
  writeSummaryJson(summary, jsonPath);
  console.log(`\nsummary as JSON: ${jsonPath}`);
  const failed = floorError !== null || runs.some((run) => run.error !== null);
  return failed ? 1 : 0;
}

process.exit(
  await runScript({
    name: "benchmark",
    workspacePrefix: "location-batch-bench-",
    parse: parseOptions,
    run,
    leftovers: (workspace) => `bench_ databases, processes and ${workspace.directory}`,
  }),
);
