// `bun run bench:downloads [--rows N[,M...]] [--timeout-minutes N]` measures how fast the results
// downloads are, and whether the API's memory stays flat as the job grows. It runs once per job size,
// by default 100,000 and 1,000,000 rows. Each run creates a fresh database and seeds one complete job
// straight into it. It starts the API as a child process on the machine's Postgres and NATS, under
// names of its own. It then reads results.csv and results.ndjson to the end over HTTP once each, and
// reads the paginated results route, while it samples the API's VmRSS every 100 ms. It prints figures
// and never compares them to a target. The database and the streams are removed at the end, on an
// error and on SIGINT or SIGTERM. Exit codes: 0 when every run completed, 1 when a run failed
// (including a download without one line per row), 2 on invalid usage or when the benchmark failed
// to start, 130 when interrupted.
import { parseDownloadOptions, type DownloadOptions } from "./bench/downloads/options.ts";
import { printDownloadSummary } from "./bench/downloads/report.ts";
import { runDownloads, type DownloadRunResult } from "./bench/downloads/run.ts";
import { buildValuePools, type ValuePools } from "./bench/downloads/values.ts";
import { readMachine } from "./bench/machine.ts";
import { connectPostgresAdmin } from "./support/environment.ts";
import { describeError, runScript, type ScriptContext } from "./support/run-script.ts";

/**
 * Path of the nats-server binary, whose version readMachine also reads. The summary leaves that version
 * out because downloads do not go through NATS.
 */
const natsServerBinary = "/usr/sbin/nats-server";

async function readPostgresVersion(): Promise<string> {
  const admin = connectPostgresAdmin();
  try {
    const [row] = await admin<{ server_version: string }[]>`show server_version`;
    return row?.server_version ?? "unknown";
  } finally {
    await admin.end({ timeout: 5 });
  }
}

async function run(options: DownloadOptions, { workspace, signal }: ScriptContext): Promise<number> {
  const machine = readMachine(natsServerBinary);
  let postgresVersion: string;
  let pools: ValuePools;
  try {
    postgresVersion = await readPostgresVersion();
    console.log(`downloads benchmark: job sizes ${options.sizes.join(", ")} rows; API logs in ${workspace.logDirectory}`);
    console.log("resolving the seed values with the embedded resolver");
    pools = await buildValuePools();
  } catch (error) {
    console.error(`benchmark failed to start: ${describeError(error)}`);
    return 2;
  }

  const runs: DownloadRunResult[] = [];
  let failure: string | null = null;
  for (const rows of options.sizes) {
    if (signal.aborted) break;
    try {
      runs.push(await runDownloads({ rows, pools, workspace, timeLimitMs: options.timeLimitMs, signal }));
    } catch (error) {
      failure = `the run of ${rows} rows failed: ${describeError(error)}`;
      break;
    }
  }
  if (signal.aborted) return 130;

  printDownloadSummary({ machine, postgresVersion, pools, runs });
  if (failure !== null) {
    console.error(`\n${failure}`);
    return 1;
  }
  return 0;
}

process.exit(
  await runScript({
    name: "benchmark",
    workspacePrefix: "location-batch-bench-downloads-",
    parse: parseDownloadOptions,
    run,
    leftovers: () => "bench_dl_ databases, streams and processes",
  }),
);
