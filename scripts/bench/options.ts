// Command-line options of the benchmark, with their defaults and limits.
import { integerOption, parseFlags, UsageError } from "../support/options.ts";

export interface Options {
  rows: number;
  /** Worker process counts, one service run each, in the order given. */
  workerCounts: number[];
  skipFloor: boolean;
  skipService: boolean;
  /** Limit of the floor and of each service run, from its start to its last figure. */
  timeLimitMs: number;
}

const usage = `Usage: bun run bench [options]
  --rows N              rows in the floor and in each service job (default 1000000)
  --workers LIST        worker process counts, one service run each, comma-separated (default 1,2,4)
  --skip-floor          leave out the NATS floor
  --skip-service        leave out the service runs
  --timeout-minutes N   minutes after which the floor or a service run fails (default 20)`;

/** Parses a comma-separated list of worker counts, each from 1 to 16. */
function workerCountsOption(raw: string | undefined): number[] {
  if (raw === undefined) return [1, 2, 4];
  const counts = raw.split(",").map((part) => Number(part.trim()));
  if (counts.length === 0 || counts.some((count) => !Number.isInteger(count) || count < 1 || count > 16)) {
    throw new UsageError(`--workers must be a comma-separated list of integers from 1 to 16, such as 1,2,4; got "${raw}"`);
  }
  return counts;
}

/** Parses the benchmark's flags. Prints the usage and exits with 0 for `--help`. */
export function parseOptions(argv: string[]): Options {
  const values = parseFlags(
    argv,
    {
      rows: { type: "string" },
      workers: { type: "string" },
      "skip-floor": { type: "boolean" },
      "skip-service": { type: "boolean" },
      "timeout-minutes": { type: "string" },
    },
    usage,
  );
  return {
    rows: integerOption("rows", values.rows, 1_000_000, 10, 5_000_000),
    workerCounts: workerCountsOption(values.workers),
    skipFloor: values["skip-floor"] === true,
    skipService: values["skip-service"] === true,
    timeLimitMs: integerOption("timeout-minutes", values["timeout-minutes"], 20, 1, 24 * 60) * 60_000,
  };
}
