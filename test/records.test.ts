// The row repositories on a real database: concurrent location upserts, duplicate records, the
// Redis location id cache, and results pages by row range.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { LocationIdCache } from "../src/cache/location-ids.ts";
import { connectDatabase, closeDatabase, type Database } from "../src/db/client.ts";
import { completeJobIfDone, insertJob } from "../src/db/jobs.ts";
import { insertRecords, recordedRows, resultsPage, upsertLocations } from "../src/db/records.ts";
import type { ResolvedLocation } from "../src/resolver/types.ts";
import { createHarness, type Harness } from "./support/harness.ts";

let harness: Harness;
const extraConnections: Database[] = [];

beforeAll(async () => {
  harness = await createHarness();
});
afterAll(async () => {
  for (const db of extraConnections) await closeDatabase(db);
  await harness.cleanup();
});

function place(id: number): ResolvedLocation {
  return {
    locationHash: `hash-${id}`,
    name: `Place ${id}`,
    countryCode: "FR",
    admin1: null,
    latitude: 48 + id / 1000,
    longitude: 2,
    source: "geonames",
    sourceId: String(id),
  };
}

describe("upsertLocations", () => {
  test("concurrent batches of the same places create each place once", async () => {
    for (let index = 0; index < 4; index += 1) extraConnections.push(connectDatabase(harness.config.databaseUrl, 2));
    const places = Array.from({ length: 300 }, (_, index) => place(index));
    const results = await Promise.all(
      extraConnections.map((db, index) => upsertLocations(db, index % 2 === 0 ? places : [...places].reverse())),
    );
    for (const ids of results) {
      expect(ids.size).toBe(300);
      expect(ids).toEqual(results[0]!);
    }
    const [row] = await harness.db.$client`select count(*)::int as n from locations`;
    expect(row!.n).toBe(300);
  });

  test("a batch larger than the bind-parameter limit is one statement", async () => {
    const places = Array.from({ length: 10_000 }, (_, index) => place(100_000 + index));
    const ids = await upsertLocations(harness.db, places);
    expect(ids.size).toBe(10_000);
  });
});

describe("insertRecords", () => {
  test("a repeated row is skipped and not counted twice", async () => {
    const job = await insertJob(harness.db, "file");
    await harness.db.$client`update jobs set status = 'processing', total_rows = 3 where id = ${job.id}`;
    const first = await insertRecords(harness.db, job.id, [
      { row: 1, value: "a", status: "failed", locationId: null, matchLevel: null, error: "no match" },
      { row: 2, value: "b", status: "failed", locationId: null, matchLevel: null, error: "no match" },
    ]);
    expect(first.inserted).toBe(2);
    expect(first.failed).toBe(2);
    const second = await insertRecords(harness.db, job.id, [
      { row: 2, value: "b", status: "failed", locationId: null, matchLevel: null, error: "no match" },
      { row: 3, value: "c", status: "failed", locationId: null, matchLevel: null, error: "no match" },
    ]);
    expect(second.inserted).toBe(1);
    expect(second.failed).toBe(3);
    expect(second.totalRows).toBe(3);
    expect(await recordedRows(harness.db, job.id, [1, 2, 3, 4])).toEqual(new Set([1, 2, 3]));
  });

  test("only one caller completes a finished job", async () => {
    const job = await insertJob(harness.db, "file");
    await harness.db.$client`update jobs set status = 'processing', total_rows = 1, failed = 1 where id = ${job.id}`;
    const winners = (await Promise.all([1, 2, 3].map(() => completeJobIfDone(harness.db, job.id)))).filter((won) => won !== null);
    expect(winners).toHaveLength(1);
  });
});

describe("resultsPage", () => {
  test("pages are row ranges in file order", async () => {
    const job = await insertJob(harness.db, "file");
    const records = Array.from({ length: 1200 }, (_, index) => ({
      row: index + 1,
      value: `v${index + 1}`,
      status: "failed" as const,
      locationId: null,
      matchLevel: null,
      error: "no match",
    }));
    await insertRecords(harness.db, job.id, records.reverse());
    const page = await resultsPage(harness.db, job.id, 3, 500);
    expect(page).toHaveLength(200);
    expect(page[0]!.row).toBe(1001);
    expect(page.at(-1)!.row).toBe(1200);
  });
});

describe("LocationIdCache", () => {
  test("returns what was stored, per database", async () => {
    const cache = new LocationIdCache(harness.config.redisUrl, harness.logger);
    await cache.connect(harness.db, harness.name);
    expect((await cache.get(["x", "y"])).size).toBe(0);
    await cache.set(new Map([["x", 7]]));
    expect(await cache.get(["x", "y"])).toEqual(new Map([["x", 7]]));
    await cache.close();
  });

  test("an unreachable Redis reports misses instead of failing", async () => {
    const cache = new LocationIdCache("redis://127.0.0.1:1", harness.logger);
    await cache.connect(harness.db, harness.name);
    expect((await cache.get(["x"])).size).toBe(0);
    await cache.set(new Map([["x", 7]]));
    await cache.close();
  });
});
