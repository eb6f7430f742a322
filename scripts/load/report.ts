// The output of a load run: a progress line about once a second, and the summary at the end with
// the job's outcome, the errors by kind and latency percentiles per kind of request.
import type { LatencySeries, LoadRun } from "./clients.ts";

function percentile(sorted: number[], share: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(share * sorted.length) - 1)]!;
}

function latencyLine(series: LatencySeries, values: number[]): string {
  const sorted = [...values].sort((a, b) => a - b);
  const cells = [0.5, 0.9, 0.99].map((share) => percentile(sorted, share));
  cells.push(sorted.at(-1) ?? Number.NaN);
  return `  ${series.padEnd(12)}${String(sorted.length).padStart(8)}${cells.map((ms) => ms.toFixed(1).padStart(9)).join("")}`;
}

export function progressLine(run: LoadRun): string {
  const { stats } = run;
  const seconds = ((Date.now() - run.startedAtMs) / 1000).toFixed(1);
  const job = stats.latest;
  const jobText =
    job === null
      ? "job: no status yet"
      : `job ${job.status} ${job.completed + job.failed}/${job.total_rows ?? "?"} rows (${(job.progress * 100).toFixed(1)}%)`;
  return `[${seconds.padStart(6)} s] requests ${stats.done} (status ${stats.latenciesMs.status.length}, results ${stats.latenciesMs.results.length + stats.latenciesMs["results 409"].length}), errors ${stats.errorCount()}, 409 ${stats.expected409}, ${jobText}`;
}

export function printSummary(run: LoadRun, jobCreatedAtMs: number): void {
  const { stats, options } = run;
  const seconds = (Date.now() - run.startedAtMs) / 1000;
  const job = stats.latest;
  console.log("\nload summary");
  console.log(`  rows ${options.rows}, clients ${options.clients}, workers ${options.workers}, load phase ${seconds.toFixed(1)} s`);
  if (job === null) {
    console.log(`  job ${run.jobHash}: no status read`);
  } else if (stats.completedAtMs !== null) {
    console.log(
      `  job ${run.jobHash}: complete ${((stats.completedAtMs - jobCreatedAtMs) / 1000).toFixed(1)} s after it was created (first seen by a client), ${job.completed} ok, ${job.failed} failed`,
    );
  } else {
    console.log(`  job ${run.jobHash}: ${job.status} when the load phase ended, ${job.completed + job.failed}/${job.total_rows ?? "?"} rows`);
  }
  console.log(`  requests ${stats.done} (${(stats.done / seconds).toFixed(1)} requests/s)`);
  console.log(`  expected 409 (results before completion): ${stats.expected409}`);
  if (stats.errors.size === 0) {
    console.log("  errors: none");
  } else {
    console.log(`  errors: ${stats.errorCount()}`);
    for (const [kind, count] of [...stats.errors].sort((a, b) => b[1] - a[1])) console.log(`    ${String(count).padStart(7)}  ${kind}`);
  }
  console.log(`  latency ms       count      p50      p90      p99      max`);
  console.log(latencyLine("status", stats.latenciesMs.status));
  console.log(latencyLine("results", stats.latenciesMs.results));
  console.log(latencyLine("results 409", stats.latenciesMs["results 409"]));
}
