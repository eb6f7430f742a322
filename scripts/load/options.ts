// Command-line options of the load script, with their defaults and limits.
import { integerOption, parseFlags } from "../support/options.ts";

export interface Options {
  rows: number;
  clients: number;
  maxRequests: number;
  timeLimitMs: number;
  workers: number;
  tailMs: number;
}

const usage = `Usage: bun run load [options]
  --rows N           rows in the job's file, repeating world-cities.csv (default 100000)
  --clients N        concurrent HTTP clients (default 200)
  --requests N       maximum requests in the run (default 20000)
  --seconds N        time limit of the load phase, in seconds (default 120)
  --workers N        worker processes (default 2)
  --tail-seconds N   seconds the clients keep reading results pages after the job completes (default 5)`;

/** Parses the load script's flags. Prints the usage and exits with 0 for `--help`. */
export function parseOptions(argv: string[]): Options {
  const values = parseFlags(
    argv,
    {
      rows: { type: "string" },
      clients: { type: "string" },
      requests: { type: "string" },
      seconds: { type: "string" },
      workers: { type: "string" },
      "tail-seconds": { type: "string" },
    },
    usage,
  );
  return {
    rows: integerOption("rows", values.rows, 100_000, 1, 5_000_000),
    clients: integerOption("clients", values.clients, 200, 1, 5000),
    maxRequests: integerOption("requests", values.requests, 20_000, 1, 10_000_000),
    timeLimitMs: integerOption("seconds", values.seconds, 120, 1, 86_400) * 1000,
    workers: integerOption("workers", values.workers, 2, 1, 16),
    tailMs: integerOption("tail-seconds", values["tail-seconds"], 5, 1, 3600) * 1000,
  };
}
