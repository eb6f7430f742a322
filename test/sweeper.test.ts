// The sweeper on jobs a crash left behind: a job whose counts reached the total but was never
// closed, a closed job whose terminal event was lost, and a scheduled job whose file message was lost.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { LocationIdCache } from "../src/cache/location-ids.ts";
import { insertJob } from "../src/db/jobs.ts";
import { loadEmbeddedResolver } from "../src/resolver/index.ts";
import type { WorkerDeps } from "../src/worker/deps.ts";
import { sweep } from "../src/worker/sweeper.ts";
import { createHarness, type Harness } from "./support/harness.ts";
import { storedEvents } from "./support/jobs.ts";

let harness: Harness;
let deps: WorkerDeps;

beforeAll(async () => {
  harness = await createHarness();
  const locationIds = new LocationIdCache(harness.config.redisUrl, harness.logger);
  await locationIds.connect(harness.db, harness.name);
  deps = { ...harness, resolver: loadEmbeddedResolver(), locationIds };
});
afterAll(async () => {
  await deps.locationIds.close();
  await harness.cleanup();
});

async function jobStatus(jobId: number) {
  const [job] = await harness.db.$client`select status, completed, failed, terminal_event_at from jobs where id = ${jobId}`;
  return job!;
}

test("job whose counts reached the total is closed once", async () => {
  const job = await insertJob(harness.db, "file");
  await harness.db.$client`update jobs set status = 'processing', total_rows = 1, completed = 1 where id = ${job.id}`;

  await sweep(deps);
  await sweep(deps);

  expect((await jobStatus(job.id)).status).toBe("complete");
  const events = await storedEvents(harness, job.hash);
  expect(events.filter((event) => event.kind === "completed")).toHaveLength(1);
});

test("lost terminal event is published again", async () => {
  const job = await insertJob(harness.db, "file");
  await harness.db.$client`
    update jobs set status = 'failed', error = 'file not found', finished_at = now() - interval '1 minute' where id = ${job.id}`;

  await sweep(deps);

  expect((await jobStatus(job.id)).terminal_event_at).not.toBeNull();
  const events = await storedEvents(harness, job.hash);
  expect(events.map((event) => event.kind)).toEqual(["failed"]);
  expect(events[0]!.payload.error).toBe("file not found");
});

test("scheduled job whose file message was lost is dispatched again", async () => {
  const job = await insertJob(harness.db, "file");
  await harness.db.$client`update jobs set created_at = now() - interval '1 hour' where id = ${job.id}`;

  await sweep(deps);

  const { nats } = harness;
  const info = await nats.jsm.consumers.info(nats.names.workStream, nats.names.fileConsumer);
  expect(info.num_pending).toBe(1);
});
