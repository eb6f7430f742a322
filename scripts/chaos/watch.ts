// Watching the job of a chaos run: its status polled through the API, progress printed about once
// a second, and the state that the faults read to decide when to strike.
import type { JobStatus } from "../../src/cli/client.ts";
import type { ApiClient } from "./api-client.ts";
import type { ChaosEnvironment } from "./environment.ts";
import { sleep } from "../support/processes.ts";

const pollIntervalMs = 250;
const progressIntervalMs = 1000;


/** The job as last read from the API, shared by the watcher and the faults. */
export interface JobWatch {
  last: JobStatus | null;
  over: boolean;
  startedAt: number;
}

export function elapsed(watch: JobWatch): string {
  return `[${((performance.now() - watch.startedAt) / 1000).toFixed(1).padStart(6)} s]`;
}

export function describeProgress(job: JobStatus | null): string {
  if (job === null) return "no status yet";
  const done = job.completed + job.failed;
  const total = job.total_rows === null ? "?" : String(job.total_rows);
  return `${job.status.padEnd(10)} ${String(done).padStart(7)} of ${total} rows (${job.completed} ok, ${job.failed} failed)`;
}

export function jobProgress(job: JobStatus | null): number {
  return job?.total_rows ? (job.completed + job.failed) / job.total_rows : 0;
}

/**
 * Polls the job every 250 ms and /health every second, printing progress, until the job ends, the
 * time is up, or the processes that could finish the job have all exited.
 */
export async function watchJob(env: ChaosEnvironment, client: ApiClient, jobHash: string, timeoutMs: number, watch: JobWatch): Promise<void> {
  const deadline = watch.startedAt + timeoutMs;
  const maxPolls = Math.ceil(timeoutMs / pollIntervalMs) + 1;
  let lastProgressAt = 0;
  for (let poll = 0; poll < maxPolls && performance.now() < deadline; poll += 1) {
    const response = await client.request(`/locations/batch/${jobHash}`);
    if (response?.status === 200) watch.last = (await response.json()) as JobStatus;
    else await response?.body?.cancel();

    const ended = watch.last?.status === "complete" || watch.last?.status === "failed";
    if (ended || performance.now() - lastProgressAt >= progressIntervalMs) {
      lastProgressAt = performance.now();
      const health = await client.request("/health");
      await health?.body?.cancel();
      const healthText = health === null ? "no response" : String(health.status);
      console.log(`${elapsed(watch)} ${describeProgress(watch.last)}  health ${healthText}`);
    }
    if (ended) {
      watch.over = true;
      return;
    }
    const stalled = env.whyStalled();
    if (stalled !== null) {
      console.log(`${elapsed(watch)} stopped waiting for the job: ${stalled}`);
      watch.over = true;
      return;
    }
    await sleep(pollIntervalMs);
  }
  console.log(`${elapsed(watch)} the job did not end within ${timeoutMs / 1000} s`);
  watch.over = true;
}
