// The clients of a load run: each one polls the job's status and, once the job is complete, reads
// random results pages, checking every response and adding its latency to the shared statistics.
import type { JobStatus } from "../../src/cli/client.ts";
import { sleep } from "../support/processes.ts";
import type { Options } from "./options.ts";

const resultsPerPage = 500;
const requestTimeoutMs = 30_000;
/** Pause between one client's status polls while the job runs, as a polling client would wait. */
const statusPollMs = 1000;
/** Share of the status polls before completion that also request a results page, which must get 409. */
const earlyResultsShare = 0.1;

export type RequestKind = "status" | "results";
/** Latency series. Results requests that got 409 before completion are kept apart from served pages. */
export type LatencySeries = RequestKind | "results 409";


/** Counters and latencies that every client adds to. */
export class LoadStats {
  issued = 0;
  done = 0;
  expected409 = 0;
  readonly errors = new Map<string, number>();
  readonly latenciesMs: Record<LatencySeries, number[]> = { status: [], results: [], "results 409": [] };
  latest: JobStatus | null = null;
  jobFailed = false;
  completedAtMs: number | null = null;

  recordError(kind: string): void {
    this.errors.set(kind, (this.errors.get(kind) ?? 0) + 1);
  }

  errorCount(): number {
    let total = 0;
    for (const count of this.errors.values()) total += count;
    return total;
  }
}

export interface LoadRun {
  baseUrl: string;
  token: string;
  jobHash: string;
  options: Options;
  stats: LoadStats;
  signal: AbortSignal;
  startedAtMs: number;
}

/** Reports whether the load phase is over: the request budget is spent, the time limit passed, or the tail after completion ended. */
function loadOver(run: LoadRun): boolean {
  const { stats, options } = run;
  if (run.signal.aborted || stats.issued >= options.maxRequests) return true;
  const now = Date.now();
  if (now - run.startedAtMs >= options.timeLimitMs) return true;
  return stats.completedAtMs !== null && now - stats.completedAtMs >= options.tailMs;
}

/** Sends one GET, records its latency, and returns its status and parsed body, or null after a network error. */
async function timedGet(run: LoadRun, kind: RequestKind, path: string): Promise<{ status: number; body: unknown } | null> {
  run.stats.issued += 1;
  const started = performance.now();
  try {
    const response = await fetch(`${run.baseUrl}${path}`, {
      headers: { authorization: `Bearer ${run.token}` },
      signal: AbortSignal.any([run.signal, AbortSignal.timeout(requestTimeoutMs)]),
    });
    const text = await response.text();
    const series: LatencySeries = kind === "results" && response.status === 409 ? "results 409" : kind;
    run.stats.latenciesMs[series].push(performance.now() - started);
    run.stats.done += 1;
    let body: unknown = null;
    try {
      body = JSON.parse(text);
    } catch {
      body = null;
    }
    return { status: response.status, body };
  } catch (error) {
    run.stats.done += 1;
    if (run.signal.aborted) return null;
    const name = (error as Error).name === "TimeoutError" ? `timed out after ${requestTimeoutMs} ms` : (error as Error).message;
    run.stats.recordError(`${kind} network error: ${name}`);
    return null;
  }
}

/** Checks one results page against the job's row count: the right number of rows, numbered from the page's first row. */
function checkResultsPage(body: unknown, page: number, totalRows: number): string | null {
  const data = (body as { data?: { row?: number }[] } | null)?.data;
  if (!Array.isArray(data)) return "results body without a data array";
  const firstRow = (page - 1) * resultsPerPage + 1;
  const expected = Math.max(0, Math.min(resultsPerPage, totalRows - firstRow + 1));
  if (data.length !== expected) return "results page with the wrong number of rows";
  if (expected > 0 && (data[0]?.row !== firstRow || data.at(-1)?.row !== firstRow + expected - 1)) {
    return "results page with the wrong rows";
  }
  return null;
}

/** Runs one client: polls the status, then reads random results pages once the job is complete, until the load phase is over. */
export async function runClient(run: LoadRun): Promise<void> {
  const { stats } = run;
  let lastDone = 0;
  // Bounded by the request budget: every pass sends at least one request.
  while (!loadOver(run)) {
    const status = await timedGet(run, "status", `/locations/batch/${run.jobHash}`);
    if (status === null) {
      await sleep(statusPollMs, run.signal);
      continue;
    }
    if (status.status !== 200) {
      stats.recordError(`status ${status.status}`);
      await sleep(statusPollMs, run.signal);
      continue;
    }
    const job = status.body as JobStatus;
    const done = job.completed + job.failed;
    if (done < lastDone) stats.recordError("status counts moved backwards");
    lastDone = done;
    if (stats.latest === null || done >= stats.latest.completed + stats.latest.failed) stats.latest = job;
    if (job.status === "failed") {
      // Every client sees the failure, but it is counted once.
      if (!stats.jobFailed) stats.recordError(`job failed: ${job.error}`);
      stats.jobFailed = true;
      return;
    }

    const complete = job.status === "complete";
    if (complete) stats.completedAtMs ??= Date.now();
    if (!complete && Math.random() >= earlyResultsShare) {
      await sleep(statusPollMs * (0.5 + Math.random()), run.signal);
      continue;
    }
    if (loadOver(run)) break;

    const totalRows = job.total_rows ?? 0;
    const pages = Math.max(1, Math.ceil(totalRows / resultsPerPage));
    const page = 1 + Math.floor(Math.random() * pages);
    const results = await timedGet(run, "results", `/locations/batch/${run.jobHash}/results?page=${page}`);
    if (results === null) continue;
    if (results.status === 409 && !complete) {
      stats.expected409 += 1;
      await sleep(statusPollMs * (0.5 + Math.random()), run.signal);
      continue;
    }
    if (results.status !== 200) {
      stats.recordError(`results ${results.status}${complete ? " after the job completed" : ""}`);
      continue;
    }
    const problem = checkResultsPage(results.body, page, totalRows);
    if (problem !== null) stats.recordError(problem);
  }
}
