// `bun run batch FILE` or `bun run batch --job JOB_HASH`: uploads a file and creates a job (or follows an
// existing one), shows its progress on stderr until it ends, and streams its results to a file.
// Exit codes: 0 complete, 1 the job failed, 2 bad usage or the service could not be used, 130 Ctrl-C
// (SIGINT), 143 SIGTERM.
import { constants } from "node:fs";
import { access, readFile, stat } from "node:fs/promises";
import { signAdminToken } from "../api/auth.ts";
import { ApiClient, ApiError, type JobStatus } from "../cli/client.ts";
import { DownloadError, outputDirectoryError, removeTemporaryFile, saveResponse, stdoutPath } from "../cli/download.ts";
import { followJob } from "../cli/follow.ts";
import { UsageError, parseBatchArguments, resumeCommand, usage, type BatchOptions } from "../cli/options.ts";
import { ProgressReporter } from "../cli/progress-reporter.ts";
import { ConfigError, localTokenFile, type Config } from "../config.ts";
import { configFromEnvironment } from "../runtime.ts";

// 130 and 143 are what a shell reports for a command ended by SIGINT and SIGTERM.
const exitCodes = { complete: 0, jobFailed: 1, unusable: 2, interrupted: 130, terminated: 143 } as const;

function exitWith(message: string, code: number): never {
  console.error(message);
  process.exit(code);
}

function readOptions(): BatchOptions {
  try {
    const parsed = parseBatchArguments(process.argv.slice(2), process.stderr.isTTY === true);
    if (parsed === "help") {
      console.log(usage);
      process.exit(exitCodes.complete);
    }
    return parsed;
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    const synopsis = usage.split("\n").slice(0, 2).join("\n");
    exitWith(`${error.message}\n\n${synopsis}\nRun \`bun run batch --help\` for every option.`, exitCodes.unusable);
  }
}

function readConfig(): Config {
  try {
    return configFromEnvironment();
  } catch (error) {
    if (error instanceof ConfigError) exitWith(error.message, exitCodes.unusable);
    throw error;
  }
}

/**
 * Returns the admin token and its source, which the message for a rejected token names. Tries --token,
 * LOCATION_BATCH_TOKEN, a token signed with JWT_SECRET, then the local token file, and exits with code 2
 * when none is found.
 */
async function findToken(options: BatchOptions, config: Config): Promise<{ token: string; source: string }> {
  if (options.token !== null) return { token: options.token, source: "--token" };
  if (config.batchToken !== null) return { token: config.batchToken, source: "LOCATION_BATCH_TOKEN" };
  if (config.jwtSecret !== null) return { token: await signAdminToken(config.jwtSecret, 3600, "batch-cli"), source: "JWT_SECRET" };
  try {
    return { token: (await readFile(localTokenFile, "utf8")).trim(), source: localTokenFile };
  } catch {
    exitWith(`no admin token: pass --token, set LOCATION_BATCH_TOKEN or JWT_SECRET, or run \`bun run start\` here first`, exitCodes.unusable);
  }
}

/**
 * Returns why FILE cannot be uploaded, or null when it is a readable file. It runs before the upload,
 * because a failed read during the upload would look like a network error.
 */
async function inputFileError(file: string): Promise<string | null> {
  try {
    const info = await stat(file);
    if (!info.isFile()) return `${file} is not a file: expected a CSV or JSON file`;
    await access(file, constants.R_OK);
    return null;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code === "ENOENT" ? `file not found: ${file}` : `cannot read ${file}: ${(error as Error).message}`;
  }
}

const options = readOptions();
const config = readConfig();
if (options.file !== null) {
  const fileError = await inputFileError(options.file);
  if (fileError !== null) exitWith(fileError, exitCodes.unusable);
}
const outputError = await outputDirectoryError(options.outPath);
if (outputError !== null) exitWith(outputError, exitCodes.unusable);

const baseUrl = options.url ?? config.batchServiceUrl;
const credentials = await findToken(options, config);
const client = new ApiClient(baseUrl, credentials.token);
const reporter = new ProgressReporter(process.stderr);
// With the results on stdout, the summary moves to stderr so that stdout contains only the results.
const printSummary = options.outPath === stdoutPath ? console.error : console.log;

/** Current step of the command, for the Ctrl-C and error messages. */
type Phase = { kind: "starting" } | { kind: "following" | "downloading"; jobHash: string };
let phase = { kind: "starting" } as Phase;

function onInterrupt(signal: "SIGINT" | "SIGTERM"): void {
  removeTemporaryFile(options.outPath);
  if (phase.kind === "starting") {
    reporter.note("interrupted before the service returned a job hash");
  } else {
    const state = phase.kind === "following" ? "keeps running on the service" : "is complete";
    reporter.note(`interrupted: job ${phase.jobHash} ${state}. To follow it again and write its results, run:\n  ${resumeCommand(phase.jobHash, options)}`);
  }
  process.exit(signal === "SIGINT" ? exitCodes.interrupted : exitCodes.terminated);
}
process.on("SIGINT", () => onInterrupt("SIGINT"));
process.on("SIGTERM", () => onInterrupt("SIGTERM"));

/**
 * Reads the first status of the job named by --job. For an unknown job, it exits with code 2 and a
 * message that names the job and the URL.
 */
async function existingJob(jobHash: string): Promise<JobStatus> {
  try {
    return await client.jobStatus(jobHash);
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) exitWith(`job ${jobHash} not found at ${baseUrl}: check the job hash and --url`, exitCodes.unusable);
    throw error;
  }
}

async function startJob(file: string): Promise<JobStatus> {
  const stored = await client.uploadFile(file);
  printSummary(`uploaded ${file}: ${stored.size} bytes, file_hash ${stored.file_hash}`);
  const { job_hash } = await client.createJob(stored.file_hash);
  printSummary(`job ${job_hash} scheduled`);
  phase = { kind: "following", jobHash: job_hash };
  return client.jobStatus(job_hash);
}

async function run(): Promise<void> {
  let job: JobStatus;
  if (options.jobHash !== null) {
    job = await existingJob(options.jobHash);
    phase = { kind: "following", jobHash: job.job_hash };
  } else {
    job = await startJob(options.file!);
  }

  job = await followJob(client, job, reporter, options.pollMs);
  if (job.status === "failed") exitWith(`job ${job.job_hash} failed: ${job.error ?? "no error was recorded"}`, exitCodes.jobFailed);

  phase = { kind: "downloading", jobHash: job.job_hash };
  const destination = options.outPath === stdoutPath ? "stdout" : options.outPath;
  const response = await client.downloadResults(job.job_hash, options.format);
  const written = await saveResponse(response, options.outPath);
  if (written === -1) process.exit(exitCodes.complete);
  printSummary(`job ${job.job_hash} complete: ${job.completed} resolved, ${job.failed} failed; results written to ${destination}`);
}

try {
  await run();
} catch (error) {
  reporter.close();
  if (error instanceof ApiError && error.status === 401) {
    exitWith(`${error.message}\n(the token came from ${credentials.source}. A server restarted with another JWT secret rejects it.)`, exitCodes.unusable);
  }
  if (error instanceof ApiError && error.status === 403) {
    exitWith(`${error.message}\n(the token from ${credentials.source} is valid but not an admin's)`, exitCodes.unusable);
  }
  if (error instanceof ApiError || error instanceof DownloadError) {
    const retry = phase.kind === "starting" ? "" : `\nTo try again without a new job, run:\n  ${resumeCommand(phase.jobHash, options)}`;
    exitWith(`${error.message}${retry}`, exitCodes.unusable);
  }
  // Exit code 1 means that the job failed, so an unexpected fault of this command exits with 2, like
  // the other faults.
  console.error("unexpected error:", error);
  process.exit(exitCodes.unusable);
}
