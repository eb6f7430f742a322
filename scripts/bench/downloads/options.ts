// Command-line options of the downloads benchmark, with their defaults and limits.
import { integerOption, parseFlags, UsageError } from "../../support/options.ts";

export interface DownloadOptions {
  /** Job sizes in rows, smallest first, one run each. */
  sizes: number[];
  /** Time limit in ms for one run, from creating its database to its last figure. */
  timeLimitMs: number;
}

const defaultRows = 1_000_000;
const minRows = 1000;
const maxRows = 5_000_000;

const usage = `Usage: bun run bench:downloads [options]
  --rows LIST           job sizes in rows, comma-separated, one run each. A single N runs N/10 and N,
                        so that memory at two sizes can be compared (default ${defaultRows})
  --timeout-minutes N   minutes after which one run fails (default 20)`;

/**
 * Parses the sizes of `--rows`, each an integer from 1,000 to 5,000,000, and returns them sorted and
 * without repeats. A single size N also adds N/10 when that is at least 1,000.
 */
function sizesOption(raw: string | undefined): number[] {
  const parts = (raw ?? String(defaultRows)).split(",").map((part) => part.trim());
  const sizes = parts.map((part) => Number(part));
  if (parts.some((part) => part === "") || sizes.some((size) => !Number.isInteger(size) || size < minRows || size > maxRows)) {
    throw new UsageError(`--rows must be one integer or a comma-separated list of integers from ${minRows} to ${maxRows}, such as 100000,1000000, got "${raw}"`);
  }
  if (sizes.length === 1) {
    const single = sizes[0]!;
    const tenth = Math.floor(single / 10);
    if (tenth >= minRows) sizes.unshift(tenth);
  }
  return [...new Set(sizes)].sort((a, b) => a - b);
}

/** Parses the flags. Prints the usage and exits with 0 for `--help`. */
export function parseDownloadOptions(argv: string[]): DownloadOptions {
  const values = parseFlags(argv, { rows: { type: "string" }, "timeout-minutes": { type: "string" } }, usage);
  return {
    sizes: sizesOption(values.rows),
    timeLimitMs: integerOption("timeout-minutes", values["timeout-minutes"], 20, 1, 24 * 60) * 60_000,
  };
}
