// Tests `bun run batch`. The progress renderer and the argument parser are tested as pure functions.
// The command then runs as a child process against the real HTTP server and worker. A stub server
// produces the faults that a real server does not produce on demand: a cut download, 503 responses
// and a job that never ends.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { parse as parseCsv } from "csv-parse/sync";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { createApp } from "../src/api/app.ts";
import type { JobStatus } from "../src/cli/client.ts";
import { UsageError, defaultOutPath, parseBatchArguments, resumeCommand, type BatchOptions } from "../src/cli/options.ts";
import { ProgressReporter, type ProgressStream } from "../src/cli/progress-reporter.ts";
import {
  PlainLineSchedule,
  RateMeter,
  estimateSecondsLeft,
  formatCount,
  formatDuration,
  formatPercent,
  formatRate,
  renderBar,
  renderPlainLine,
  renderTerminalLine,
  smoothedRate,
  type ProgressSnapshot,
} from "../src/cli/progress.ts";
import { resultColumns } from "../src/results/columns.ts";
import type { RunningWorker } from "../src/worker/worker.ts";
import { createHarness, type Harness } from "./support/harness.ts";
import { listenTestApp, startTestWorker } from "./support/jobs.ts";
import { adminToken, signToken } from "./support/tokens.ts";

const batchScript = join(import.meta.dir, "..", "src", "bin", "batch.ts");
const controlCodes = /[\r\x1b]/;

// ---------------------------------------------------------------------------------------------------
// Pure functions

function snapshot(overrides: Partial<ProgressSnapshot> = {}): ProgressSnapshot {
  return { status: "processing", totalRows: 1000, completed: 480, failed: 20, elapsedMs: 5000, rowsPerSecond: 100, ...overrides };
}

describe("progress formatting", () => {
  test("durations in s, m and h", () => {
    expect(formatDuration(0)).toBe("0s");
    expect(formatDuration(42.2)).toBe("43s");
    expect(formatDuration(59)).toBe("59s");
    expect(formatDuration(60)).toBe("1m 00s");
    expect(formatDuration(187)).toBe("3m 07s");
    expect(formatDuration(3600)).toBe("1h 00m");
    expect(formatDuration(7500)).toBe("2h 05m");
    expect(formatDuration(-3)).toBe("0s");
  });

  test("counts, rates and percents", () => {
    expect(formatCount(0)).toBe("0");
    expect(formatCount(999)).toBe("999");
    expect(formatCount(1234567)).toBe("1,234,567");
    expect(formatRate(2.46)).toBe("2.5 rows/s");
    expect(formatRate(1234.4)).toBe("1,234 rows/s");
    expect(formatPercent(1, 3)).toBe("33.3%");
    expect(formatPercent(9995, 10000)).toBe("99.9%");
    expect(formatPercent(10000, 10000)).toBe("100.0%");
    expect(formatPercent(0, 0)).toBe("100.0%");
  });

  test("bar fills by fraction", () => {
    expect(renderBar(0, 10)).toBe("[----------]");
    expect(renderBar(0.5, 10)).toBe("[#####-----]");
    expect(renderBar(0.99, 10)).toBe("[#########-]");
    expect(renderBar(1, 10)).toBe("[##########]");
    expect(renderBar(1.5, 10)).toBe("[##########]");
    expect(renderBar(Number.NaN, 4)).toBe("[----]");
  });

  test("time left from the rate", () => {
    expect(estimateSecondsLeft(1000, 500, 100)).toBe(5);
    expect(estimateSecondsLeft(1000, 500, null)).toBeNull();
    expect(estimateSecondsLeft(1000, 500, 0)).toBeNull();
    expect(estimateSecondsLeft(1000, 1000, null)).toBe(0);
  });
});

describe("rate smoothing", () => {
  test("rate over evenly spaced samples", () => {
    expect(smoothedRate([{ atMs: 0, done: 0 }, { atMs: 1000, done: 100 }, { atMs: 2000, done: 200 }])).toBe(100);
  });

  test("no rate from one sample or a short span", () => {
    expect(smoothedRate([])).toBeNull();
    expect(smoothedRate([{ atMs: 0, done: 0 }])).toBeNull();
    expect(smoothedRate([{ atMs: 0, done: 0 }, { atMs: 100, done: 50 }])).toBeNull();
  });

  test("only the last window counts", () => {
    const samples = [
      { atMs: 0, done: 0 },
      { atMs: 5000, done: 0 },
      { atMs: 6000, done: 100 },
      { atMs: 10000, done: 500 },
    ];
    // The 5 s window that ends at 10 s starts at the sample taken at 5 s, so the rate is 500 rows in 5 s.
    expect(smoothedRate(samples, 5000)).toBe(100);
    expect(smoothedRate(samples, 20000)).toBe(50);
  });

  test("meter follows a change of pace", () => {
    const meter = new RateMeter(5000);
    for (let second = 0; second <= 20; second += 1) meter.add(second * 1000, second * 10);
    expect(meter.rowsPerSecond()).toBe(10);
    for (let second = 21; second <= 30; second += 1) meter.add(second * 1000, 200 + (second - 20) * 50);
    expect(meter.rowsPerSecond()).toBe(50);
  });

  test("meter keeps a baseline at long poll intervals", () => {
    const meter = new RateMeter(5000);
    meter.add(0, 0);
    meter.add(10_000, 100);
    meter.add(20_000, 300);
    expect(meter.rowsPerSecond()).toBe(20);
  });
});

describe("progress lines", () => {
  test("terminal line shows every figure", () => {
    const line = renderTerminalLine(snapshot(), 120);
    expect(line).toContain("[");
    expect(line).toContain("500/1,000 rows 50.0%");
    expect(line).toContain("20 failed");
    expect(line).toContain("100 rows/s");
    expect(line).toContain("ETA 5s");
    expect(line).not.toMatch(controlCodes);
  });

  test("terminal line fits the width", () => {
    for (const columns of [20, 40, 60, 80, 200]) {
      expect(renderTerminalLine(snapshot({ completed: 123456, failed: 7, totalRows: 9999999 }), columns).length).toBeLessThanOrEqual(columns - 1);
    }
    expect(renderTerminalLine(snapshot(), 60)).not.toContain("[");
    expect(renderTerminalLine(snapshot(), 200)).toContain(`[${"#".repeat(15)}${"-".repeat(15)}]`);
  });

  test("unknown total shows file reading", () => {
    const unknown = snapshot({ status: "scheduled", totalRows: null, completed: 0, failed: 0, elapsedMs: 3200, rowsPerSecond: null });
    expect(renderTerminalLine(unknown)).toBe("scheduled: reading the file... 4s");
    expect(renderPlainLine(unknown)).toBe("scheduled: reading the file (4s)");
  });

  test("job ended before rows were counted", () => {
    const failed = snapshot({ status: "failed", totalRows: null, completed: 0, failed: 0, elapsedMs: 2000, rowsPerSecond: null });
    expect(renderTerminalLine(failed)).toBe("failed after 2s, before any rows were counted");
    expect(renderPlainLine(failed)).toBe("failed after 2s, before any rows were counted");
  });

  test("no ETA before 100 rows", () => {
    const early = renderTerminalLine(snapshot({ totalRows: 34_032, completed: 2, failed: 0, rowsPerSecond: 1.9 }), 120);
    expect(early).toContain("ETA --");
    const later = renderTerminalLine(snapshot({ totalRows: 34_032, completed: 100, failed: 0, rowsPerSecond: 1000 }), 120);
    expect(later).toContain("ETA 34s");
  });

  test("unknown rate shows dashes", () => {
    const line = renderTerminalLine(snapshot({ rowsPerSecond: null }), 120);
    expect(line).toContain("-- rows/s");
    expect(line).toContain("ETA --");
  });

  test("plain line has no control codes", () => {
    const line = renderPlainLine(snapshot());
    expect(line).toBe("processing: 500 of 1,000 rows (50.0%), 20 failed, 100 rows/s, time left 5s");
    expect(line).not.toMatch(controlCodes);
  });
});

describe("plain line schedule", () => {
  test("first line, steps, intervals and status changes", () => {
    const schedule = new PlainLineSchedule();
    const at = (done: number, status = "processing") => snapshot({ status, completed: done, failed: 0 });

    expect(schedule.isDue(at(0), 0)).toBe(true);
    schedule.markWritten(at(0), 0);
    expect(schedule.isDue(at(50), 1000)).toBe(false);
    // 100 of 1,000 rows is a new 10% step.
    expect(schedule.isDue(at(100), 1500)).toBe(true);
    schedule.markWritten(at(100), 1500);
    expect(schedule.isDue(at(150), 6400)).toBe(false);
    expect(schedule.isDue(at(150), 6500)).toBe(true);
    schedule.markWritten(at(150), 6500);
    // While the counts do not change, only the heartbeat makes a line due.
    expect(schedule.isDue(at(150), 40_000)).toBe(false);
    expect(schedule.isDue(at(150), 66_500)).toBe(true);
    expect(schedule.isDue(at(150, "complete"), 7000)).toBe(true);
  });
});

class RecordingStream implements ProgressStream {
  readonly writes: string[] = [];
  constructor(
    readonly isTTY: boolean,
    readonly columns = 100,
  ) {}
  write(text: string): boolean {
    this.writes.push(text);
    return true;
  }
}

function jobStatus(overrides: Partial<JobStatus> = {}): JobStatus {
  return {
    job_hash: "0123456789abcdef01234567",
    file_hash: "f".repeat(64),
    status: "processing",
    total_rows: 100,
    completed: 0,
    failed: 0,
    progress: 0,
    error: null,
    created_at: "2026-01-01T00:00:00.000Z",
    started_at: "2026-01-01T00:00:00.000Z",
    finished_at: null,
    ...overrides,
  };
}

describe("progress reporter", () => {
  test("terminal redraws one line in place", () => {
    const stream = new RecordingStream(true);
    let now = 0;
    const reporter = new ProgressReporter(stream, () => now);
    reporter.update(jobStatus({ completed: 10 }));
    now = 1000;
    reporter.update(jobStatus({ completed: 30 }));
    reporter.note("a notice");
    now = 2000;
    reporter.finish(jobStatus({ status: "complete", completed: 90, failed: 10 }));

    expect(stream.writes[0]).toStartWith("\r");
    expect(stream.writes[0]).toEndWith("\x1b[K");
    expect(stream.writes[1]).toContain("20 rows/s");
    expect(stream.writes[2]).toBe("\r\x1b[K");
    expect(stream.writes[3]).toBe("a notice\n");
    expect(stream.writes[4]).toContain("100/100 rows 100.0%");
    expect(stream.writes.at(-1)).toBe("\n");
    for (const text of stream.writes) expect(text.length).toBeLessThanOrEqual(100 + 4);
  });

  test("plain output writes due lines only", () => {
    const stream = new RecordingStream(false);
    let now = 0;
    const reporter = new ProgressReporter(stream, () => now);
    for (let step = 0; step <= 8; step += 1) {
      now = step * 500;
      reporter.update(jobStatus({ completed: step }));
    }
    now = 5000;
    reporter.finish(jobStatus({ status: "complete", completed: 100 }));

    // Nine updates within 4 s stay below 10% of the rows, so only the first update and the final line are written.
    expect(stream.writes).toEqual([
      "processing: 0 of 100 rows (0.0%), 0 failed, -- rows/s, time left --\n",
      "complete: 100 of 100 rows (100.0%), 0 failed, 20 rows/s, time left 0s\n",
    ]);
    for (const text of stream.writes) expect(text).not.toMatch(controlCodes);
  });
});

describe("command-line parsing", () => {
  const parse = (...args: string[]) => parseBatchArguments(args, false);

  test("defaults for a file", () => {
    const options = parse("data/world-cities.csv") as BatchOptions;
    expect(options.file).toBe("data/world-cities.csv");
    expect(options.jobHash).toBeNull();
    expect(options.format).toBe("csv");
    expect(options.outPath).toBe("world-cities.results.csv");
    expect(options.outPathGiven).toBe(false);
    expect(options.pollMs).toBe(1000);
    expect((parseBatchArguments(["a.csv"], true) as BatchOptions).pollMs).toBe(500);
  });

  test("defaults for a job", () => {
    const options = parse("--job", "0123456789abcdef01234567", "--format", "ndjson") as BatchOptions;
    expect(options.file).toBeNull();
    expect(options.outPath).toBe("0123456789abcdef01234567.results.ndjson");
  });

  test("default output names", () => {
    expect(defaultOutPath("dir/places.json", "ndjson")).toBe("places.results.ndjson");
    expect(defaultOutPath("places", "csv")).toBe("places.results.csv");
    expect(defaultOutPath(".hidden", "csv")).toBe(".hidden.results.csv");
  });

  test("--help and -h request help", () => {
    expect(parse("--help")).toBe("help");
    expect(parse("-h")).toBe("help");
  });

  test("invalid arguments throw UsageError", () => {
    const cases: string[][] = [
      [],
      ["a.csv", "b.csv"],
      ["a.csv", "--job", "0123456789abcdef01234567"],
      ["a.csv", "--format", "xml"],
      ["a.csv", "--poll", "0"],
      ["a.csv", "--poll", "soon"],
      ["a.csv", "--poll", ""],
      ["a.csv", "--out", ""],
      ["a.csv", "--url", "ftp://127.0.0.1"],
      ["a.csv", "--url", "not a url"],
      ["a.csv", "--token", ""],
      ["a.csv", "--colour"],
      ["--job", ""],
    ];
    for (const args of cases) expect(() => parse(...args), args.join(" ")).toThrow(UsageError);
  });

  test("resume command repeats output settings", () => {
    const plain = parse("a.csv") as BatchOptions;
    expect(resumeCommand("abc", plain)).toBe("bun run batch --job abc");
    const custom = parse("a.csv", "--format", "ndjson", "--out", "my results.ndjson", "--url", "http://127.0.0.1:9/") as BatchOptions;
    expect(resumeCommand("abc", custom)).toBe("bun run batch --job abc --format ndjson --out 'my results.ndjson' --url http://127.0.0.1:9/");
  });
});

// ---------------------------------------------------------------------------------------------------
// The command as a child process

interface RunResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Time in ms after which a run of the command is killed, so a hang fails the test instead of stalling the suite. */
const runTimeoutMs = 45_000;

async function runBatch(args: string[], cwd: string, env: Record<string, string> = {}): Promise<RunResult> {
  const child = Bun.spawn([process.execPath, "run", batchScript, ...args], {
    cwd,
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: cwd, ...env },
    stdout: "pipe",
    stderr: "pipe",
    timeout: runTimeoutMs,
  });
  const [stdout, stderr, exitCode] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  return { exitCode, stdout, stderr };
}

/** Returns a loopback port that nothing listens on, by binding a port the kernel picks and closing it again. */
function closedPort(): number {
  const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("") });
  const port = server.port!;
  server.stop(true);
  return port;
}

function jobHashFrom(stdout: string): string {
  const match = /job ([0-9a-f]{24}) scheduled/.exec(stdout);
  if (match === null) throw new Error(`no "job … scheduled" line in stdout: ${stdout}`);
  return match[1]!;
}

async function partFiles(directory: string): Promise<string[]> {
  return (await readdir(directory)).filter((name) => name.endsWith(".part"));
}

describe("bun run batch against the service", () => {
  let harness: Harness;
  let worker: RunningWorker;
  let app: ReturnType<typeof createApp>;
  let workDir: string;
  let env: Record<string, string>;
  let baseUrl: string;
  let token: string;

  const values = ["Paris, France", "Berlin", "Qwxzzyq Nowhere", "51.5074,-0.1278", "Tokyo"];
  let csvRun: RunResult;
  let completeJobHash: string;
  let csvText: string;

  beforeAll(async () => {
    harness = await createHarness();
    worker = await startTestWorker(harness);
    ({ app, baseUrl } = listenTestApp(harness));
    token = await adminToken();
    env = { LOCATION_BATCH_URL: baseUrl, LOCATION_BATCH_TOKEN: token };
    workDir = await mkdtemp(join(tmpdir(), "batch-cli-"));
    await Bun.write(join(workDir, "places.csv"), values.map((value) => (value.includes(",") ? `"${value}"` : value)).join("\n"));

    csvRun = await runBatch(["places.csv", "--poll", "0.2"], workDir, env);
    completeJobHash = jobHashFrom(csvRun.stdout);
    csvText = await Bun.file(join(workDir, "places.results.csv")).text();
  });

  afterAll(async () => {
    await app?.stop();
    await worker?.stop();
    await harness?.cleanup();
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });

  test("small CSV exits 0 with results", () => {
    expect(csvRun.stderr).not.toContain("error");
    expect(csvRun.exitCode).toBe(0);
    expect(csvRun.stdout).toContain(`uploaded places.csv:`);
    expect(csvRun.stdout).toContain(`job ${completeJobHash} complete: 4 resolved, 1 failed; results written to places.results.csv`);
  });

  test("CSV has header and one line per row", () => {
    const lines = csvText.trimEnd().split("\n");
    expect(lines[0]).toBe(resultColumns.join(","));
    const records = parseCsv(csvText, { columns: true }) as Record<string, string>[];
    expect(records).toHaveLength(values.length);
    expect(records.map((record) => record.row)).toEqual(["1", "2", "3", "4", "5"]);
    expect(records.map((record) => record.value)).toEqual(values);
    expect(records[0]!.country_code).toBe("FR");
    expect(records[2]!.status).toBe("failed");
    expect(records[2]!.error).toBe("no match");
  });

  test("pipe gets plain progress lines", () => {
    expect(csvRun.stderr).not.toMatch(controlCodes);
    const lines = csvRun.stderr.trimEnd().split("\n");
    expect(lines.at(-1)).toStartWith("complete: 5 of 5 rows (100.0%), 1 failed,");
    expect(lines.length).toBeLessThanOrEqual(15);
  });

  test("ndjson output has the same rows", async () => {
    const run = await runBatch(["places.csv", "--format", "ndjson", "--poll", "0.2"], workDir, env);
    expect(run.exitCode).toBe(0);

    const text = await Bun.file(join(workDir, "places.results.ndjson")).text();
    const lines = text.trimEnd().split("\n");
    expect(lines).toHaveLength(values.length);
    const records = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    for (const record of records) expect(Object.keys(record)).toEqual([...resultColumns]);
    expect(records.map((record) => record.value)).toEqual(values);
    expect(records[2]!.name).toBeNull();
    expect(typeof records[0]!.latitude).toBe("number");
  });

  test("--job writes a complete job's results", async () => {
    const run = await runBatch(["--job", completeJobHash], workDir, env);
    expect(run.exitCode).toBe(0);
    expect(run.stdout).not.toContain("uploaded");
    expect(await Bun.file(join(workDir, `${completeJobHash}.results.csv`)).text()).toBe(csvText);
  });

  test("--out - writes results to stdout", async () => {
    const run = await runBatch(["--job", completeJobHash, "--out", "-"], workDir, env);
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toBe(csvText);
    expect(run.stderr).toContain(`job ${completeJobHash} complete`);
  });

  test("failed job exits 1 with its error", async () => {
    await Bun.write(join(workDir, "object.json"), '{"city": "Paris"}');
    const run = await runBatch(["object.json", "--poll", "0.2"], workDir, env);
    expect(run.exitCode).toBe(1);

    const jobHash = jobHashFrom(run.stdout);
    const response = await fetch(`${baseUrl}/locations/batch/${jobHash}`, { headers: { authorization: `Bearer ${token}` } });
    const status = (await response.json()) as JobStatus;
    expect(status.status).toBe("failed");
    expect(status.error).not.toBeNull();
    expect(run.stderr).toContain(`job ${jobHash} failed: ${status.error}`);
    expect(await Bun.file(join(workDir, "object.results.csv")).exists()).toBe(false);
  });

  test("bad usage exits 2", async () => {
    const cases: { args: string[]; message: string }[] = [
      { args: [], message: "missing FILE" },
      { args: ["places.csv", "--job", completeJobHash], message: "not both" },
      { args: ["places.csv", "--format", "xml"], message: "--format must be csv or ndjson" },
      { args: ["missing.csv"], message: "file not found: missing.csv" },
      { args: ["places.csv", "--out", "no-such-dir/out.csv"], message: "output directory no-such-dir not found" },
      { args: ["places.csv", "--out", "."], message: "--out . is a directory" },
    ];
    for (const { args, message } of cases) {
      const run = await runBatch(args, workDir, env);
      expect(run.exitCode, args.join(" ")).toBe(2);
      expect(run.stderr, args.join(" ")).toContain(message);
    }
  });

  test("unreachable service exits 2", async () => {
    const run = await runBatch(["places.csv", "--url", `http://127.0.0.1:${closedPort()}`], workDir, env);
    expect(run.exitCode).toBe(2);
    expect(run.stderr).toContain("could not reach");
  });

  test("rejected token exits 2", async () => {
    const wrongSecret = new TextEncoder().encode("another-secret-that-is-long-enough-for-hs256");
    const badToken = await signToken({ role: "admin" }, { secret: wrongSecret });
    const run = await runBatch(["places.csv"], workDir, { ...env, LOCATION_BATCH_TOKEN: badToken });
    expect(run.exitCode).toBe(2);
    expect(run.stderr).toContain("returned 401");
    expect(run.stderr).toContain("LOCATION_BATCH_TOKEN");
  });

  test("unknown job exits 2", async () => {
    const run = await runBatch(["--job", "0".repeat(24)], workDir, env);
    expect(run.exitCode).toBe(2);
    expect(run.stderr).toContain(`job ${"0".repeat(24)} not found at ${baseUrl}`);
  });

  test("help lists options, columns and exit codes", async () => {
    const run = await runBatch(["--help"], workDir, env);
    expect(run.exitCode).toBe(0);
    for (const option of ["--job", "--format", "--out", "--url", "--token", "--poll", "--help"]) expect(run.stdout).toContain(option);
    for (const column of resultColumns) expect(run.stdout).toContain(column);
    for (const code of ["  0 ", "  1 ", "  2 ", "  130 "]) expect(run.stdout).toContain(code);
  });

  test("no part files left behind", async () => {
    expect(await partFiles(workDir)).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------------
// Faults, against a stub of the status and download routes

/**
 * Starts a raw TCP server that sends one response per connection. A status request gets `status` as
 * JSON. A results download gets a response that announces 100,000 bytes and closes after the header
 * and one row. A Bun.serve stream that errors would also cut the transfer, but Bun would print the
 * stream's error into the test output.
 */
function startCuttingServer(status: JobStatus): { port: number; stop(): void } {
  const respond = (head: string, body: string) => `HTTP/1.1 200 OK\r\n${head}connection: close\r\n\r\n${body}`;
  const listener = Bun.listen<{ answered: boolean }>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(socket) {
        socket.data = { answered: false };
      },
      data(socket, data) {
        if (socket.data.answered) return;
        socket.data.answered = true;
        const path = data.toString("latin1").split(" ")[1] ?? "";
        if (path.endsWith("/results.csv")) {
          socket.write(respond("content-type: text/csv\r\ncontent-length: 100000\r\n", `${resultColumns.join(",")}\n1,x,ok,,,,,,,\n`));
        } else {
          const body = JSON.stringify(status);
          socket.write(respond(`content-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n`, body));
        }
        socket.end();
      },
    },
  });
  return { port: listener.port, stop: () => listener.stop(true) };
}

type StubHandler = (request: Request) => Response | Promise<Response>;

describe("bun run batch against a stub service", () => {
  const jobHash = "abcdefabcdefabcdefabcdef";
  let server: ReturnType<typeof Bun.serve>;
  let handler: StubHandler = () => new Response("no handler", { status: 500 });
  let workDir: string;
  let env: Record<string, string>;

  const statusResponse = (overrides: Partial<JobStatus>) => Response.json(jobStatus({ job_hash: jobHash, ...overrides }));

  beforeAll(async () => {
    server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: (request) => handler(request) });
    env = { LOCATION_BATCH_URL: `http://127.0.0.1:${server.port}`, LOCATION_BATCH_TOKEN: "stub-token" };
    workDir = await mkdtemp(join(tmpdir(), "batch-cli-stub-"));
  });

  afterAll(async () => {
    server?.stop(true);
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });

  test("cut download leaves no file", async () => {
    const cutting = startCuttingServer(jobStatus({ job_hash: jobHash, status: "complete", completed: 100, progress: 1 }));
    await Bun.write(join(workDir, "kept.csv"), "the previous results\n");

    const run = await runBatch(["--job", jobHash, "--out", "kept.csv"], workDir, { ...env, LOCATION_BATCH_URL: `http://127.0.0.1:${cutting.port}` });
    cutting.stop();
    expect(run.exitCode).toBe(2);
    expect(run.stderr).toContain("download to kept.csv failed");
    expect(run.stderr).toContain(`bun run batch --job ${jobHash} --out kept.csv`);
    expect(await Bun.file(join(workDir, "kept.csv")).text()).toBe("the previous results\n");
    expect(await partFiles(workDir)).toEqual([]);
  });

  test("reader closing stdout early exits 0", async () => {
    const line = `1,Paris,ok,Paris,FR,48.85341,2.3488,114009559021cefd8826f378ccb4c85a,place,\n`;
    handler = (request) => {
      if (new URL(request.url).pathname.endsWith("/results.csv")) return new Response(`row,value\n${line.repeat(50_000)}`);
      return statusResponse({ status: "complete", total_rows: 50_000, completed: 50_000, progress: 1 });
    };
    // `head` closes the pipe after 100 bytes, as a user's `| head` does. PIPESTATUS[0] is the exit code of
    // the command itself, not of `head`.
    const script = `"${process.execPath}" run "${batchScript}" --job ${jobHash} --out - 2>stderr.txt | head -c 100 >/dev/null; echo "\${PIPESTATUS[0]}"`;
    const child = Bun.spawn(["bash", "-c", script], { cwd: workDir, env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: workDir, ...env }, stdout: "pipe", timeout: runTimeoutMs });
    const exitCode = (await new Response(child.stdout).text()).trim();
    const stderr = await Bun.file(join(workDir, "stderr.txt")).text();
    expect(exitCode).toBe("0");
    expect(stderr).not.toContain("broke off");
  });

  test("503 during polling is retried", async () => {
    let statusRequests = 0;
    handler = (request) => {
      const path = new URL(request.url).pathname;
      if (path.endsWith("/results.csv")) return new Response(`${resultColumns.join(",")}\n1,x,ok,,,,,,,\n`);
      statusRequests += 1;
      if (statusRequests === 1) return statusResponse({ completed: 10 });
      if (statusRequests <= 3) return Response.json({ error: "Postgres or NATS is not answering" }, { status: 503 });
      return statusResponse({ status: "complete", completed: 100, progress: 1 });
    };

    const run = await runBatch(["--job", jobHash, "--poll", "0.1"], workDir, env);
    expect(run.exitCode).toBe(0);
    expect(run.stderr).toContain("returned 503: Postgres or NATS is not answering; trying again for up to 60 s");
    expect(run.stderr).toContain("status requests work again");
    expect(await Bun.file(join(workDir, `${jobHash}.results.csv`)).text()).toBe(`${resultColumns.join(",")}\n1,x,ok,,,,,,,\n`);
  });

  test.each([
    ["SIGINT", 130],
    ["SIGTERM", 143],
  ] as const)("%s prints how to resume and exits %d", async (signal, code) => {
    handler = () => statusResponse({ completed: 10 });
    const child = Bun.spawn([process.execPath, "run", batchScript, "--job", jobHash, "--poll", "0.2", "--format", "ndjson"], {
      cwd: workDir,
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: workDir, ...env },
      stdout: "pipe",
      stderr: "pipe",
      timeout: runTimeoutMs,
    });
    const reader = child.stderr.getReader();
    const decoder = new TextDecoder();
    let stderr = "";
    const readChunk = async (): Promise<boolean> => {
      const { value, done } = await reader.read();
      if (!done) stderr += decoder.decode(value, { stream: true });
      return !done;
    };
    // The first progress line shows that the command is following the job, so its signal handlers are set.
    // If that line never comes, the spawn timeout kills the child, which ends this loop.
    while (!stderr.includes("processing:") && (await readChunk()));
    child.kill(signal);
    while (await readChunk());
    const exitCode = await child.exited;

    expect(exitCode).toBe(code);
    expect(stderr).toContain(`interrupted: job ${jobHash} keeps running on the service`);
    expect(stderr).toContain(`bun run batch --job ${jobHash} --format ndjson`);
  });

  test("terminal shows a line redrawn in place", async () => {
    let statusRequests = 0;
    handler = (request) => {
      const path = new URL(request.url).pathname;
      if (path.endsWith("/results.csv")) return new Response(`${resultColumns.join(",")}\n`);
      statusRequests += 1;
      if (statusRequests === 1) return statusResponse({ status: "scheduled", total_rows: null, started_at: null });
      if (statusRequests < 8) return statusResponse({ completed: statusRequests * 10, failed: 1 });
      return statusResponse({ status: "complete", completed: 99, failed: 1, progress: 1 });
    };

    const chunks: Uint8Array[] = [];
    const child = Bun.spawn([process.execPath, "run", batchScript, "--job", jobHash, "--poll", "0.1"], {
      cwd: workDir,
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: workDir, ...env },
      terminal: { cols: 100, rows: 24, data: (_terminal, data) => chunks.push(data.slice()) },
      timeout: runTimeoutMs,
    });
    const exitCode = await child.exited;
    child.terminal?.close();
    const output = Buffer.concat(chunks).toString("utf8");

    expect(exitCode).toBe(0);
    expect(output).toContain("scheduled: reading the file...");
    expect(output).toContain("\r[");
    expect(output).toContain("\x1b[K");
    expect(output).toContain("100/100 rows 100.0%");
    expect(output).toContain("ETA");
    expect(output).toContain(`job ${jobHash} complete`);
  });
});
