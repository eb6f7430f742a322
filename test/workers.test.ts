// Several workers on one job: they share its rows, and the job still closes exactly once.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { createMetrics } from "../src/metrics.ts";
import type { RunningWorker } from "../src/worker/worker.ts";
import { createHarness, type Harness } from "./support/harness.ts";
import { TestClient, startTestWorker, storedEvents } from "./support/jobs.ts";

let harness: Harness;
const workers: RunningWorker[] = [];
const workerMetrics = [createMetrics(), createMetrics(), createMetrics()];

beforeAll(async () => {
  harness = await createHarness({ ROW_BATCH_SIZE: "50" });
  for (const metrics of workerMetrics) workers.push(await startTestWorker(harness, metrics));
});
afterAll(async () => {
  for (const worker of workers) await worker.stop();
  await harness.cleanup();
});

async function rowsRecordedBy(metrics: ReturnType<typeof createMetrics>): Promise<number> {
  const counter = await metrics.rowsProcessed.get();
  return counter.values.reduce((sum, sample) => sum + sample.value, 0);
}

test("three workers share one job", async () => {
  const client = new TestClient(harness);
  const names = ["Paris", "London", "Berlin", "Madrid", "Rome", "Vienna", "Prague", "Lisbon", "Oslo", "Nowhere Qxz"];
  const rows = Array.from({ length: 3000 }, (_, index) => names[index % names.length]).join("\n");
  const jobHash = await client.createJob(await client.upload(rows, "text/csv"));
  const final = await client.waitForEnd(jobHash, 120_000);

  expect(final.status).toBe("complete");
  expect(final.total_rows).toBe(3000);
  expect(final.completed).toBe(2700);
  expect(final.failed).toBe(300);

  const perWorker = await Promise.all(workerMetrics.map(rowsRecordedBy));
  expect(perWorker.reduce((sum, count) => sum + count, 0)).toBe(3000);
  expect(perWorker.filter((count) => count > 0).length).toBeGreaterThanOrEqual(2);

  const events = await storedEvents(harness, jobHash);
  const outcomes = events.filter((event) => event.kind === "tick" || event.kind === "error");
  expect(new Set(outcomes.map((event) => event.payload.row)).size).toBe(3000);
  expect(outcomes).toHaveLength(3000);
  expect(events.filter((event) => event.kind === "completed")).toHaveLength(1);
  expect(events.at(-1)!.kind).toBe("completed");

  const [records] = await harness.db.$client`
    select count(*)::int as n, count(distinct "row")::int as distinct_rows
    from job_record r join jobs j on j.id = r.job_id where j.hash = ${jobHash}`;
  expect(records!.n).toBe(3000);
  expect(records!.distinct_rows).toBe(3000);
}, 180_000);
