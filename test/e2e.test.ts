// End to end through the real queues: files in, worker stages, Postgres records, results pages and
// the events a NATS subscriber receives, for a good file and for each kind of bad file.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Subscription } from "@nats-io/nats-core";
import type { RunningWorker } from "../src/worker/worker.ts";
import { createHarness, type Harness } from "./support/harness.ts";
import { TestClient, startTestWorker, storedEvents } from "./support/jobs.ts";

let harness: Harness;
let worker: RunningWorker;
let client: TestClient;
let subscription: Subscription;
const liveEvents: { subject: string; payload: Record<string, any> }[] = [];

beforeAll(async () => {
  harness = await createHarness({ MAX_ROWS: "50" });
  subscription = harness.nats.connection.subscribe(harness.nats.names.eventSubjectWildcard, {
    callback: (_error, msg) => {
      liveEvents.push({ subject: msg.subject, payload: msg.json() });
    },
  });
  worker = await startTestWorker(harness);
  client = new TestClient(harness);
});

afterAll(async () => {
  subscription.unsubscribe();
  await worker.stop();
  await harness.cleanup();
});

async function recordCount(jobHash: string): Promise<number> {
  const [row] = await harness.db.$client`
    select count(*)::int as n from job_record r join jobs j on j.id = r.job_id where j.hash = ${jobHash}`;
  return row!.n;
}

function kinds(events: { subject: string }[]): string[] {
  return events.map((event) => event.subject.split(".").at(-1)!);
}

describe("a good CSV file", () => {
  const csv = [
    "Paris, France",
    "",
    '"Springfield, IL"',
    "51.5074,-0.1278",
    "  Tokyo  ",
    "Qwxzzyq Nowhere",
    "\r",
    "91,10",
    "berlin",
  ].join("\n");
  const values = ["Paris, France", "Springfield, IL", "51.5074, -0.1278", "Tokyo", "Qwxzzyq Nowhere", "91, 10", "berlin"];
  let jobHash: string;
  let final: Record<string, any>;

  beforeAll(async () => {
    jobHash = await client.createJob(await client.upload(csv, "text/csv"));
    final = await client.waitForEnd(jobHash);
  });

  test("job completes with counts that add up", () => {
    expect(final.status).toBe("complete");
    expect(final.total_rows).toBe(values.length);
    expect(final.completed + final.failed).toBe(values.length);
    expect(final.failed).toBe(2);
    expect(final.progress).toBe(1);
    expect(final.error).toBeNull();
    expect(final.started_at).not.toBeNull();
    expect(final.finished_at).not.toBeNull();
  });

  test("results are in file order with locations and errors", async () => {
    const results = await client.allResults(jobHash);
    expect(results.map((entry) => entry.row)).toEqual(values.map((_, index) => index + 1));
    expect(results.map((entry) => entry.value)).toEqual(values);
    const byValue = Object.fromEntries(results.map((entry) => [entry.value, entry]));
    expect(byValue["Paris, France"].location.country_code).toBe("FR");
    expect(byValue["Springfield, IL"].location.name).toBe("Springfield");
    expect(byValue["Tokyo"].location.country_code).toBe("JP");
    expect(byValue["51.5074, -0.1278"].location.latitude).toBeCloseTo(51.5074, 4);
    expect(byValue["Qwxzzyq Nowhere"].status).toBe("failed");
    expect(byValue["Qwxzzyq Nowhere"].error).toBe("no match");
    expect(byValue["Qwxzzyq Nowhere"].location).toBeNull();
    expect(byValue["91, 10"].status).toBe("failed");
    expect(byValue["91, 10"].error).toMatch(/latitude/i);
    for (const entry of results.filter((result) => result.status === "ok")) {
      expect(entry.error).toBeNull();
      expect(Object.keys(entry.location).sort()).toEqual(
        ["admin1", "country_code", "latitude", "location_hash", "longitude", "name", "source", "source_id"].sort(),
      );
    }
  });

  test("one job_record per row", async () => {
    expect(await recordCount(jobHash)).toBe(values.length);
  });

  test("pages and the status filter", async () => {
    const first = (await (await client.request(`/locations/batch/${jobHash}/results?per_page=3`)).json()) as any;
    expect(first.total).toBe(values.length);
    expect(first.total_pages).toBe(3);
    expect(first.data.map((entry: any) => entry.row)).toEqual([1, 2, 3]);
    expect(first.next).toBe(`/locations/batch/${jobHash}/results?page=2&per_page=3`);
    const last = (await (await client.request(`/locations/batch/${jobHash}/results?page=3&per_page=3`)).json()) as any;
    expect(last.data.map((entry: any) => entry.row)).toEqual([7]);
    expect(last.next).toBeNull();
    const past = (await (await client.request(`/locations/batch/${jobHash}/results?page=9`)).json()) as any;
    expect(past.data).toEqual([]);
    const failed = (await (await client.request(`/locations/batch/${jobHash}/results?status=failed`)).json()) as any;
    expect(failed.total).toBe(2);
    expect(failed.data.map((entry: any) => entry.row)).toEqual([5, 6]);
  });

  test("events stream has one outcome per row and one terminal event, in order", async () => {
    const events = await storedEvents(harness, jobHash);
    const order = kinds(events);
    expect(order[0]).toBe("scheduled");
    expect(order[1]).toBe("started");
    expect(order.at(-1)).toBe("completed");
    expect(order.filter((kind) => kind === "completed" || kind === "failed")).toHaveLength(1);
    const outcomes = events.filter((event) => event.kind === "tick" || event.kind === "error");
    expect(outcomes.map((event) => event.payload.row).sort((a: any, b: any) => a - b)).toEqual(values.map((_, index) => index + 1));
    const completed = events.at(-1)!.payload;
    expect(completed).toMatchObject({ job_hash: jobHash, total_rows: values.length, completed: 5, failed: 2 });
    for (const event of events) expect(String(event.payload.timestamp)).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    const error = events.find((event) => event.kind === "error")!;
    expect(error.payload).toMatchObject({ job_hash: jobHash, reason: "row failed" });
    const tick = events.find((event) => event.kind === "tick")!;
    expect(typeof tick.payload.location_hash).toBe("string");
  });

  test("a live subscriber receives the same events", () => {
    const mine = liveEvents.filter((event) => event.payload.job_hash === jobHash);
    expect(kinds(mine)[0]).toBe("scheduled");
    expect(kinds(mine).at(-1)).toBe("completed");
    expect(mine.filter((event) => event.subject.endsWith(".tick") || event.subject.endsWith(".error"))).toHaveLength(values.length);
  });

  test("the same place in another job has the same location hash", async () => {
    const second = await client.createJob(await client.upload("Tokyo\nTOKYO\n", "text/csv"));
    expect((await client.waitForEnd(second)).status).toBe("complete");
    const first = (await client.allResults(jobHash)).find((entry) => entry.value === "Tokyo");
    const again = await client.allResults(second);
    expect(again[0].location.location_hash).toBe(first.location.location_hash);
    expect(again[1].location.location_hash).toBe(first.location.location_hash);
    const [row] = await harness.db.$client`select count(*)::int as n from locations where location_hash = ${first.location.location_hash}`;
    expect(row!.n).toBe(1);
  });
});

describe("a JSON file", () => {
  test("strings and points resolve, other elements fail their own rows", async () => {
    const json = JSON.stringify(["Madrid, Spain", { lat: 48.8566, lng: 2.3522 }, { latitude: 40.7, longitude: -74 }, 42, null, "", ["x"], { name: "x" }]);
    const jobHash = await client.createJob(await client.upload(json, "application/json"));
    const final = await client.waitForEnd(jobHash);
    expect(final.status).toBe("complete");
    expect(final.total_rows).toBe(8);
    expect(final.completed).toBe(3);
    expect(final.failed).toBe(5);
    const results = await client.allResults(jobHash);
    expect(results[0].location.country_code).toBe("ES");
    expect(results[1].location.country_code).toBe("FR");
    expect(results[2].location.country_code).toBe("US");
    for (const entry of results.slice(3)) {
      expect(entry.status).toBe("failed");
      expect(entry.error.length).toBeGreaterThan(0);
    }
  });
});

describe("bad files fail their job with no row events", () => {
  const cases: [string, string | Uint8Array, string, RegExp][] = [
    ["empty file", "", "text/csv", /^file contains no rows$/],
    ["blank lines only", "\n\n  \n", "text/csv", /^file contains no rows$/],
    ["empty JSON array", "[]", "application/json", /^file contains no rows$/],
    ["unclosed quote", 'Paris\n"London\nBerlin\n', "text/csv", /line 2/],
    ["NUL byte", "Paris\u0000\nLondon\n", "application/octet-stream", /^unsupported file format$/],
    ["invalid UTF-8", new Uint8Array([0x50, 0x61, 0xff, 0xfe, 0x0a]), "application/octet-stream", /^unsupported file format$/],
    ["invalid JSON", '["Paris", ', "application/json", /JSON/],
    ["JSON object at the top", '{"a": "Paris"}', "application/json", /array/],
    ["more rows than MAX_ROWS", Array.from({ length: 51 }, (_, index) => `City ${index}`).join("\n"), "text/csv", /50/],
  ];
  for (const [name, content, contentType, error] of cases) {
    test(name, async () => {
      const jobHash = await client.createJob(await client.upload(content === "" ? new Uint8Array() : content, contentType));
      const final = await client.waitForEnd(jobHash);
      expect(final.status).toBe("failed");
      expect(final.error).toMatch(error);
      expect(final.finished_at).not.toBeNull();
      expect(await recordCount(jobHash)).toBe(0);
      const events = await storedEvents(harness, jobHash);
      expect(kinds(events)).toEqual(["scheduled", "failed"]);
      expect(events[1]!.payload).toMatchObject({ job_hash: jobHash, error: final.error });
    });
  }

  test("large file rejected early leaves the worker running", async () => {
    const content = new Uint8Array(3 * 1024 * 1024).fill(0x41);
    content[0] = 0;
    const failed = await client.waitForEnd(await client.createJob(await client.upload(content)));
    expect(failed.error).toBe("unsupported file format");
    const next = await client.waitForEnd(await client.createJob(await client.upload("Lyon\n", "text/csv")));
    expect(next.status).toBe("complete");
  });

  test("unknown file hash fails with file not found", async () => {
    const jobHash = await client.createJob("no-such-file-here");
    const final = await client.waitForEnd(jobHash);
    expect(final.status).toBe("failed");
    expect(final.error).toBe("file not found");
    const results = await client.request(`/locations/batch/${jobHash}/results`);
    expect(results.status).toBe(409);
  });
});

describe("after the jobs end", () => {
  test("work stream holds no row messages", async () => {
    const { jsm, names } = harness.nats;
    const info = await jsm.streams.info(names.workStream);
    expect(info.state.messages).toBe(0);
  });
});
