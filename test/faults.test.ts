// Faults the worker must survive: a row that keeps failing, a file that cannot be fetched, rows the
// server gave up on, a fan-out cut short, a file stage that keeps stopping, and a SIGTERM.
import { afterEach, describe, expect, test } from "bun:test";
import { findJobByHash, insertJob } from "../src/db/jobs.ts";
import { insertRecords } from "../src/db/records.ts";
import { LocationIdCache } from "../src/cache/location-ids.ts";
import { loadEmbeddedResolver } from "../src/resolver/index.ts";
import type { WorkerDeps } from "../src/worker/deps.ts";
import { sweep } from "../src/worker/sweeper.ts";
import type { RunningWorker } from "../src/worker/worker.ts";
import { dispatchFile } from "../src/nats/work-messages.ts";
import { createHarness, testSecret, type Harness } from "./support/harness.ts";
import { TestClient, startTestWorker, storedEvents } from "./support/jobs.ts";

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setUp(overrides: Record<string, string> = {}, withWorker = true) {
  const harness = await createHarness(overrides);
  cleanups.push(() => harness.cleanup());
  let worker: RunningWorker | null = null;
  if (withWorker) {
    worker = await startTestWorker(harness);
    cleanups.push(() => worker!.stop());
  }
  return { harness, client: new TestClient(harness), worker };
}

async function sweepDeps(harness: Harness): Promise<WorkerDeps> {
  const locationIds = new LocationIdCache(harness.config.redisUrl, harness.logger);
  await locationIds.connect(harness.db, harness.name);
  cleanups.push(() => locationIds.close());
  return { ...harness, resolver: loadEmbeddedResolver(), locationIds };
}

function outcomeRows(events: { kind: string; payload: Record<string, unknown> }[]): number[] {
  return events
    .filter((event) => event.kind === "tick" || event.kind === "error")
    .map((event) => Number(event.payload.row))
    .sort((a, b) => a - b);
}

describe("redelivery", () => {
  test("row that keeps failing is given up", async () => {
    const { harness, client } = await setUp({ MAX_DELIVERIES: "3", ROW_BATCH_SIZE: "10" });
    // A database error on one row only: inserting Lyon as resolved always fails.
    await harness.db.$client.unsafe(`
      create function reject_lyon() returns trigger language plpgsql as $$
      begin raise exception 'rejected for the test'; end $$;
      create trigger reject_lyon before insert on job_record
      for each row when (new.value = 'Lyon' and new.status = 'ok') execute function reject_lyon();`);

    const jobHash = await client.createJob(await client.upload("Paris\nLyon\nBerlin\n", "text/csv"));
    const final = await client.waitForEnd(jobHash, 60_000);

    expect(final.status).toBe("complete");
    expect(final.completed).toBe(2);
    expect(final.failed).toBe(1);
    const results = await client.allResults(jobHash);
    expect(results.map((entry) => entry.status)).toEqual(["ok", "failed", "ok"]);
    expect(results[1].error).toBe("row could not be processed after 3 tries");
    const events = await storedEvents(harness, jobHash);
    expect(outcomeRows(events)).toEqual([1, 2, 3]);
    expect(events.at(-1)!.kind).toBe("completed");
  }, 90_000);

  test("file whose fetch keeps failing fails its job", async () => {
    let requests = 0;
    const filesService = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch() {
        requests += 1;
        return new Response("unavailable", { status: 503 });
      },
    });
    cleanups.push(async () => filesService.stop(true));
    const { client } = await setUp({
      MAX_DELIVERIES: "2",
      FILES_SERVICE_URL: `http://127.0.0.1:${filesService.port}/files/{hash}`,
    });

    const jobHash = await client.createJob("somefile");
    const final = await client.waitForEnd(jobHash, 60_000);

    expect(final.status).toBe("failed");
    expect(final.error).toContain("503");
    expect(requests).toBe(2);
  }, 90_000);
});

describe("stranded jobs", () => {
  test("rows the server gave up on are recorded as failed", async () => {
    const { harness, client } = await setUp({}, false);
    const deps = await sweepDeps(harness);
    const fileHash = await client.upload("Paris\nLyon\nBerlin\n", "text/csv");
    const job = await insertJob(harness.db, fileHash);
    await harness.db.$client`update jobs set status = 'processing', total_rows = 3, rows_dispatched_at = now() where id = ${job.id}`;
    await insertRecords(harness.db, job.id, [
      { row: 1, value: "Paris", status: "failed", locationId: null, matchLevel: null, error: "no match" },
    ]);
    await harness.db.$client`update jobs set progressed_at = now() - interval '1 hour' where id = ${job.id}`;

    await sweep(deps);

    const after = await findJobByHash(harness.db, job.hash);
    expect(after?.status).toBe("complete");
    expect(after?.failed).toBe(3);
    const records = await harness.db.$client`select "row", value, error from job_record where job_id = ${job.id} order by "row"`;
    expect(records.map((record) => record.value)).toEqual(["Paris", "Lyon", "Berlin"]);
    expect(records[1]!.error).toContain("could not be processed");
    // Row 1 was recorded directly by this test; a worker would have published its event before.
    expect(outcomeRows(await storedEvents(harness, job.hash))).toEqual([2, 3]);
  });

  test("fan-out cut short is dispatched again", async () => {
    const { harness, client } = await setUp();
    const deps = await sweepDeps(harness);
    const fileHash = await client.upload("Paris\nLyon\nBerlin\n", "text/csv");
    const job = await insertJob(harness.db, fileHash);
    await harness.db.$client`
      update jobs set status = 'processing', total_rows = 3, file_attempts = 1,
        progressed_at = now() - interval '1 hour' where id = ${job.id}`;

    await sweep(deps);
    const final = await client.waitForEnd(job.hash, 30_000);

    expect(final.status).toBe("complete");
    expect(final.completed).toBe(3);
  });

  test("file stage that keeps stopping fails the job", async () => {
    const { harness } = await setUp({ MAX_DELIVERIES: "2" }, false);
    const deps = await sweepDeps(harness);
    const job = await insertJob(harness.db, "somefile");
    await harness.db.$client`
      update jobs set status = 'processing', file_attempts = 2,
        progressed_at = now() - interval '1 hour' where id = ${job.id}`;
    await dispatchFile(harness.nats, job.hash, job.fileHash);

    await sweep(deps);

    const after = await findJobByHash(harness.db, job.hash);
    expect(after?.status).toBe("failed");
    expect(after?.error).toContain("stopped 2 times");
  });

  test("file nak'd past MAX_DELIVERIES still runs", async () => {
    const { harness, client } = await setUp({ MAX_DELIVERIES: "2" }, false);
    const fileHash = await client.upload("Paris\nLyon\nBerlin\n", "text/csv");
    const jobHash = await client.createJob(fileHash);

    // Each worker that stops at shutdown naks the file message, which JetStream counts as a delivery.
    const consumer = await harness.nats.js.consumers.get(harness.nats.names.workStream, harness.nats.names.fileConsumer);
    for (let handBack = 1; handBack <= 4; handBack += 1) {
      const message = await consumer.next({ expires: 5000 });
      expect(`hand-back ${handBack}: ${message?.info.deliveryCount ?? "no message"}`).toBe(`hand-back ${handBack}: ${handBack}`);
      message!.nak();
    }

    const worker = await startTestWorker(harness);
    cleanups.push(() => worker.stop());
    const final = await client.waitForEnd(jobHash, 30_000);
    expect(final.status).toBe("complete");
    expect(final.completed).toBe(3);
  });

  test("file stage fails after MAX_DELIVERIES crashes", async () => {
    const { harness, client } = await setUp({ MAX_DELIVERIES: "2" });
    const job = await insertJob(harness.db, await client.upload("Paris\n", "text/csv"));
    await harness.db.$client`update jobs set file_attempts = 2 where id = ${job.id}`;
    await dispatchFile(harness.nats, job.hash, job.fileHash);

    const final = await client.waitForEnd(job.hash, 30_000);
    expect(final.status).toBe("failed");
    expect(final.error).toContain("stopped 2 times");
  });
});

describe("shutdown", () => {
  test("worker stopped mid-job leaves nothing half-written", async () => {
    const { harness, client, worker } = await setUp({ ROW_BATCH_SIZE: "100" });
    const rows = Array.from({ length: 20_000 }, (_, index) => (index % 7 === 0 ? "Qxzv Nowhere" : "Paris")).join("\n");
    const jobHash = await client.createJob(await client.upload(rows, "text/csv"));
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      const status = await client.status(jobHash);
      if (status.completed + status.failed >= 2000) break;
      await Bun.sleep(50);
    }

    await worker!.stop();

    const [job] = await harness.db.$client`select id, completed, failed, status from jobs where hash = ${jobHash}`;
    const [records] = await harness.db.$client`select count(*)::int as recorded from job_record where job_id = ${job!.id}`;
    expect(job!.status).toBe("processing");
    expect(records!.recorded).toBe(job!.completed + job!.failed);
    // Messages the worker had not processed were handed back (nak), so the next pull gets them at once,
    // marked redelivered. A message it had dropped would come back only after the ack wait.
    const { jsm, js, names } = harness.nats;
    const held = (await jsm.consumers.info(names.workStream, names.rowConsumer(jobHash))).num_ack_pending;
    const consumer = await js.consumers.get(names.workStream, names.rowConsumer(jobHash));
    let redelivered = 0;
    for await (const msg of await consumer.fetch({ max_messages: held + 100, expires: 1000 })) {
      if (msg.redelivered) redelivered += 1;
      msg.nak();
    }
    expect(redelivered).toBe(held);

    const replacement = await startTestWorker(harness);
    cleanups.push(() => replacement.stop());
    const final = await client.waitForEnd(jobHash, 120_000);
    expect(final.status).toBe("complete");
    expect(final.completed + final.failed).toBe(20_000);
    expect(outcomeRows(await storedEvents(harness, jobHash))).toEqual(Array.from({ length: 20_000 }, (_, index) => index + 1));
  }, 180_000);

  for (const [entry, ready] of [
    ["src/bin/worker.ts", "worker started"],
    ["src/bin/api.ts", "api listening"],
  ] as const) {
    test(`${entry} exits cleanly on SIGTERM`, async () => {
      const { harness } = await setUp({}, false);
      const { config } = harness;
      const child = Bun.spawn(["bun", "run", entry], {
        cwd: new URL("..", import.meta.url).pathname,
        env: {
          ...process.env,
          DATABASE_URL: config.databaseUrl,
          NATS_URL: config.natsUrl,
          REDIS_URL: config.redisUrl,
          JWT_SECRET: testSecret,
          NATS_PREFIX: config.natsPrefix,
          EVENT_SUBJECT_PREFIX: config.eventSubjectPrefix,
          PORT: "0",
          LOG_LEVEL: "info",
        },
        stdout: "pipe",
        stderr: "pipe",
      });
      cleanups.push(async () => child.kill("SIGKILL"));

      const reader = child.stdout.getReader();
      let output = "";
      const deadline = Date.now() + 30_000;
      while (!output.includes(ready) && Date.now() < deadline) {
        const { value, done } = await reader.read();
        if (done) break;
        output += new TextDecoder().decode(value);
      }
      expect(output).toContain(ready);

      child.kill("SIGTERM");
      const exitCode = await Promise.race([child.exited, Bun.sleep(35_000).then(() => "timed out")]);
      expect(exitCode).toBe(0);
    }, 90_000);
  }
});
