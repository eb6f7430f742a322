// Command-line options of the chaos run, with their defaults and limits.
import { integerOption, parseFlags, UsageError } from "../support/options.ts";

const defaultRows = 40_000;
const defaultTimeoutSeconds = 300;

export interface Options {
  rows: number;
  timeoutMs: number;
}

const usage = `Usage: bun run chaos [options]
  --rows N              rows in the job's file: real place names, one value in 50 unresolvable (default ${defaultRows})
  --timeout SECONDS     seconds the job may run, from 10 to 3600, before the run stops watching it and
                        fails (default ${defaultTimeoutSeconds})`;

/** Parses the chaos run's flags. Prints the usage and exits with 0 for `--help`. */
export function parseOptions(argv: string[]): Options {
  const values = parseFlags(argv, { rows: { type: "string" }, timeout: { type: "string" } }, usage);
  const rows = integerOption("rows", values.rows, defaultRows, 1, 5_000_000);
  const timeoutSeconds = values.timeout === undefined ? defaultTimeoutSeconds : Number(values.timeout);
  if (!Number.isInteger(timeoutSeconds) || timeoutSeconds < 10 || timeoutSeconds > 3600) {
    throw new UsageError(`--timeout must be a whole number of seconds from 10 to 3600, got "${values.timeout}"`);
  }
  return { rows, timeoutMs: timeoutSeconds * 1000 };
}
