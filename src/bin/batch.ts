// `bun run batch FILE`: uploads a file, creates a job, shows its progress until it ends, and writes
// the results as CSV. Exit code: 0 complete, 1 the job failed, 2 bad usage or no connection.
import { stringify } from "csv-stringify";
import { createWriteStream } from "node:fs";
import { readFile } from "node:fs/promises";
import { basename } from "node:path";
import { parseArgs } from "node:util";
import { signAdminToken } from "../api/auth.ts";
import { ApiClient, ApiError, type JobStatus } from "../cli/client.ts";
import { localTokenFile } from "../config.ts";
import { configFromEnvironment } from "../runtime.ts";

const usage = `usage: bun run batch FILE [--out PATH] [--url URL] [--token JWT] [--poll SECONDS]

Uploads FILE (CSV, one value a line, or a JSON array), runs a batch job on it, and writes the
results to PATH (default: FILE's name with .results.csv, in the working directory).
  --url     the service, default $LOCATION_BATCH_URL or http://127.0.0.1:3000
  --token   an admin JWT, default $LOCATION_BATCH_TOKEN, else one signed with $JWT_SECRET,
            else the token \`bun run start\` wrote to ${localTokenFile}
  --poll    seconds between progress checks, default 1`;

const pollDefaultSeconds = 1;

function fail(message: string, code: number): never {
  console.error(message);
  process.exit(code);
}

function parseCommandLine() {
  try {
    return parseArgs({
      allowPositionals: true,
      options: {
        out: { type: "string" },
        url: { type: "string" },
        token: { type: "string" },
        poll: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (error) {
    fail(`${(error as Error).message}\n\n${usage}`, 2);
  }
}
const args = parseCommandLine();
if (args.values.help) fail(usage, 0);
const [path] = args.positionals;
if (!path) fail(`missing FILE\n\n${usage}`, 2);
if (!(await Bun.file(path).exists())) fail(`file not found: ${path}`, 2);

const config = configFromEnvironment();
const baseUrl = args.values.url ?? config.batchServiceUrl;
/** Finds the admin token and where it came from, so a rejected token can be traced. */
async function findToken(): Promise<{ token: string; source: string }> {
  if (args.values.token) return { token: args.values.token, source: "--token" };
  if (config.batchToken !== null) return { token: config.batchToken, source: "LOCATION_BATCH_TOKEN" };
  if (config.jwtSecret !== null) return { token: await signAdminToken(config.jwtSecret, 3600, "batch-cli"), source: "JWT_SECRET" };
  try {
    return { token: (await readFile(localTokenFile, "utf8")).trim(), source: localTokenFile };
  } catch {
    fail(`no admin token: pass --token, set LOCATION_BATCH_TOKEN or JWT_SECRET, or run \`bun run start\` here first`, 2);
  }
}
const pollMs = Math.max(0.1, Number(args.values.poll ?? pollDefaultSeconds)) * 1000;
const outPath = args.values.out ?? `${basename(path).replace(/\.[^.]*$/, "")}.results.csv`;
const credentials = await findToken();
const client = new ApiClient(baseUrl, credentials.token);

function progressLine(job: JobStatus, startedMs: number): string {
  const done = job.completed + job.failed;
  if (job.total_rows === null) return `${job.status}: reading the file`;
  const seconds = (performance.now() - startedMs) / 1000;
  const rate = seconds > 0 ? Math.round(done / seconds) : 0;
  const percent = ((100 * done) / Math.max(1, job.total_rows)).toFixed(1);
  return `${job.status}: ${done} of ${job.total_rows} rows (${percent}%), ${job.failed} failed, ${rate} rows/s`;
}

try {
  const stored = await client.uploadFile(path);
  console.log(`uploaded ${path}: ${stored.size} bytes, file_hash ${stored.file_hash}`);
  const { job_hash } = await client.createJob(stored.file_hash);
  console.log(`job ${job_hash} scheduled`);

  const started = performance.now();
  let job = await client.jobStatus(job_hash);
  let last = "";
  while (job.status === "scheduled" || job.status === "processing") {
    const line = progressLine(job, started);
    if (line !== last) console.log(line);
    last = line;
    await Bun.sleep(pollMs);
    job = await client.jobStatus(job_hash);
  }
  if (job.status === "failed") fail(`job ${job_hash} failed: ${job.error}`, 1);
  console.log(progressLine(job, started));

  const out = stringify({
    header: true,
    columns: ["row", "value", "status", "name", "country_code", "latitude", "longitude", "location_hash", "error"],
  });
  const sink = createWriteStream(outPath);
  out.pipe(sink);
  for await (const entry of client.results(job_hash)) {
    const location = entry.location;
    const ready = out.write([
      entry.row,
      entry.value,
      entry.status,
      location?.name ?? "",
      location?.country_code ?? "",
      location?.latitude ?? "",
      location?.longitude ?? "",
      location?.location_hash ?? "",
      entry.error ?? "",
    ]);
    if (!ready) await new Promise((resolve) => out.once("drain", resolve));
  }
  out.end();
  await new Promise((resolve, reject) => sink.on("finish", resolve).on("error", reject));
  console.log(`job ${job_hash} complete: ${job.completed} resolved, ${job.failed} failed; results written to ${outPath}`);
} catch (error) {
  if (error instanceof ApiError && error.status === 401) {
    fail(`${error.message}\n(the token came from ${credentials.source}; a server restarted with another secret rejects it)`, 2);
  }
  if (error instanceof ApiError) fail(error.message, 2);
  throw error;
}
