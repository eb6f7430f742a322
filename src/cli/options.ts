// Command line of `bun run batch`: its help text, and the parsing of its arguments into checked options.
import { basename } from "node:path";
import { parseArgs } from "node:util";
import { localTokenFile } from "../config.ts";
import type { ResultsFormat } from "../results/columns.ts";

export const pollDefaultSecondsTerminal = 0.5;
export const pollDefaultSecondsPlain = 1;
const pollMinSeconds = 0.1;
const pollMaxSeconds = 3600;

export const usage = `usage: bun run batch FILE [options]
       bun run batch --job JOB_HASH [options]

Uploads FILE (CSV with one value per line, or a JSON array of values), creates a batch job for it,
shows the job's progress until it ends, and writes its results to a file. With --job, follows a
job created earlier instead and writes its results the same way. FILE and --job cannot be combined.

options:
  --job JOB_HASH       follow this existing job instead of uploading a file
  --format csv|ndjson  format of the results: csv (a header line, then one line per row) or ndjson
                       (one JSON object per line); default csv. Both have the columns row, value,
                       status, name, country_code, latitude, longitude, location_hash,
                       match_level, error
  --out PATH           where the results go; default FILE's name (or JOB_HASH) without its
                       extension, plus .results.csv or .results.ndjson, in the working directory.
                       "-" writes them to stdout
  --url URL            the service; default $LOCATION_BATCH_URL, else http://127.0.0.1:3000
  --token JWT          an admin token; default $LOCATION_BATCH_TOKEN, else one signed with
                       $JWT_SECRET, else the token \`bun run start\` wrote to ${localTokenFile}
  --poll SECONDS       seconds between two status requests, ${pollMinSeconds} to ${pollMaxSeconds}; default ${pollDefaultSecondsTerminal} when
                       stderr is a terminal, else ${pollDefaultSecondsPlain}
  -h, --help           print this help and exit

Progress goes to stderr: on a terminal, one line redrawn in place (rows done of the total,
percent, failed rows, rows per second over the last 5 seconds, time left); otherwise a plain
line at most every 5 seconds or at each further 10% of the rows, and a last line at the end.
The summary goes to stdout, or to stderr when the results go to stdout. A download that breaks
off leaves the output file as it was. Status requests that get no response, 502, 503 or 504
are retried for up to 60 seconds.

exit codes:
  0    the job completed and its results were written
  1    the job failed; its error is printed
  2    bad usage, or the service could not be used: unreachable, token rejected, job not
       found, an HTTP error, or the results could not be downloaded or written
  130  interrupted (Ctrl-C, or 143 for SIGTERM); the job keeps running on the service, and
       the command prints the \`bun run batch --job JOB_HASH\` line that follows it again`;

/** Bad command-line usage, with a message naming the argument and what was expected. Exit code 2. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

export interface BatchOptions {
  /** The file to upload, or null when following an existing job. */
  file: string | null;
  /** The job to follow, or null when a file is uploaded. */
  jobHash: string | null;
  format: ResultsFormat;
  /** Output path of the results, or "-" for stdout. */
  outPath: string;
  /** Whether --out was given, so that the resume command repeats it. */
  outPathGiven: boolean;
  /** The service URL from --url, or null to use the configured one. */
  url: string | null;
  /** The token from --token, or null to look for one elsewhere. */
  token: string | null;
  pollMs: number;
}

/** Builds the default output path: the base name without its extension, plus `.results.csv` or `.results.ndjson`. */
export function defaultOutPath(source: string, format: ResultsFormat): string {
  const name = basename(source);
  const stem = name.replace(/\.[^.]*$/, "") || name;
  return `${stem}.results.${format}`;
}

function parseFormat(raw: string | undefined): ResultsFormat {
  if (raw === undefined) return "csv";
  if (raw === "csv" || raw === "ndjson") return raw;
  throw new UsageError(`--format must be csv or ndjson, got "${raw}"`);
}

function checkServiceUrl(raw: string): void {
  const protocol = URL.canParse(raw) ? new URL(raw).protocol : null;
  if (protocol !== "http:" && protocol !== "https:") {
    throw new UsageError(`--url must be an http or https URL, such as http://127.0.0.1:3000, got "${raw}"`);
  }
}

function parsePollMs(raw: string | undefined, isTerminal: boolean): number {
  if (raw === undefined) return (isTerminal ? pollDefaultSecondsTerminal : pollDefaultSecondsPlain) * 1000;
  const seconds = Number(raw);
  if (raw.trim() === "" || !Number.isFinite(seconds) || seconds < pollMinSeconds || seconds > pollMaxSeconds) {
    throw new UsageError(`--poll must be a number of seconds from ${pollMinSeconds} to ${pollMaxSeconds}, got "${raw}"`);
  }
  return seconds * 1000;
}

/**
 * Parses the arguments after the script name. Returns "help" for -h or --help, else the checked
 * options. Throws UsageError for an unknown option, a missing or extra FILE, or an invalid value.
 */
export function parseBatchArguments(args: string[], isTerminal: boolean): BatchOptions | "help" {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      strict: true,
      options: {
        job: { type: "string" },
        format: { type: "string" },
        out: { type: "string" },
        url: { type: "string" },
        token: { type: "string" },
        poll: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) return "help";

  if (positionals.length > 1) throw new UsageError(`expected one FILE, got ${positionals.length}: ${positionals.join(" ")}`);
  const file = positionals[0] ?? null;
  const jobHash = values.job ?? null;
  if (file !== null && jobHash !== null) throw new UsageError("give either FILE or --job JOB_HASH, not both");
  if (file === null && jobHash === null) throw new UsageError("missing FILE (or --job JOB_HASH to follow an existing job)");
  if (file === "") throw new UsageError("FILE is empty: expected the path of a CSV or JSON file");
  if (jobHash !== null && jobHash.trim() === "") throw new UsageError("--job is empty: expected the job_hash printed when the job was created");
  if (values.out === "") throw new UsageError('--out is empty: expected a path, or "-" for stdout');
  if (values.url !== undefined) checkServiceUrl(values.url);
  if (values.token === "") throw new UsageError("--token is empty: expected an admin JWT");

  const format = parseFormat(values.format);
  return {
    file,
    jobHash,
    format,
    outPath: values.out ?? defaultOutPath(file ?? jobHash ?? "", format),
    outPathGiven: values.out !== undefined,
    url: values.url ?? null,
    token: values.token ?? null,
    pollMs: parsePollMs(values.poll, isTerminal),
  };
}

/** Builds the command that follows the job again with the same output settings, for the Ctrl-C and error messages. */
export function resumeCommand(jobHash: string, options: BatchOptions): string {
  const parts = ["bun run batch --job", jobHash];
  if (options.format !== "csv") parts.push("--format", options.format);
  if (options.outPathGiven) parts.push("--out", shellQuote(options.outPath));
  if (options.url !== null) parts.push("--url", shellQuote(options.url));
  return parts.join(" ");
}

function shellQuote(text: string): string {
  return /^[A-Za-z0-9_./:@%+=,-]+$/.test(text) ? text : `'${text.replaceAll("'", "'\\''")}'`;
}
