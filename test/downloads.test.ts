// Tests the results downloads (results.csv and results.ndjson) against the real Postgres, NATS and Redis.
// They cover columns and quoting, file order, the statuses shared with the results pages, and reading
// the rows in batches of fixed size.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { parse } from "csv-parse/sync";
import { drizzle } from "drizzle-orm/postgres-js";
import postgres from "postgres";
import { createApp } from "../src/api/app.ts";
import type { Database } from "../src/db/client.ts";
import { completeJobIfDone, insertJob } from "../src/db/jobs.ts";
import { insertRecords, upsertLocations, type NewRecord } from "../src/db/records.ts";
import * as schema from "../src/db/schema.ts";
import type { ResolvedLocation } from "../src/resolver/types.ts";
import { resultColumns, toResultRecord, type ResultRecord } from "../src/results/columns.ts";
import { downloadBatchRows, resultsStream } from "../src/results/download.ts";
import type { RunningWorker } from "../src/worker/worker.ts";
import { createHarness, testSecret, type Harness } from "./support/harness.ts";
import { TestClient, startTestWorker } from "./support/jobs.ts";
import { adminToken } from "./support/tokens.ts";

const expectedHeader = "row,value,status,name,country_code,latitude,longitude,location_hash,match_level,error";

let harness: Harness;
let worker: RunningWorker;
let client: TestClient;

/** Parameters of every keyset batch query that `countingClient`'s app sent, in order. */
const batchQueries: unknown[][] = [];
let countingSql: postgres.Sql;
/** A client whose app reads through a connection that records the download's batch queries. */
let countingClient: TestClient;

beforeAll(async () => {
  harness = await createHarness();
  worker = await startTestWorker(harness);
  client = new TestClient(harness);
  countingSql = postgres(harness.config.databaseUrl, {
    max: 2,
    onnotice: () => {},
    fetch_types: false,
    debug: (_connection, query, parameters) => {
      if (/"row" > \$\d+ and r\."row" <= \$\d+\s+order by r\."row"/.test(query)) batchQueries.push([...parameters]);
    },
  });
  const countingDb = drizzle(countingSql, { schema }) as Database;
  countingClient = new TestClient({ ...harness, db: countingDb });
});

afterAll(async () => {
  await countingSql.end({ timeout: 5 });
  await worker.stop();
  await harness.cleanup();
});

function place(id: number, name: string): ResolvedLocation {
  return {
    locationHash: `download-test-${id}`,
    name,
    countryCode: "FR",
    admin1: null,
    latitude: 48.8566 + id / 1000,
    longitude: -2.3522,
    source: "geonames",
    sourceId: String(id),
  };
}

interface SeedRow {
  value: string;
  location?: ResolvedLocation;
  error?: string;
}

/**
 * Records a complete job directly in the database, without a file or a worker. Rows are inserted in
 * batches from the last batch to the first, so ordering by record id would not give file order.
 */
async function seedCompleteJob(rows: SeedRow[], insertBatchRows = 1000): Promise<{ hash: string; id: number }> {
  const job = await insertJob(harness.db, "seeded-file");
  await harness.db.$client`
    update jobs set status = 'processing', total_rows = ${rows.length}, started_at = now() where id = ${job.id}`;
  const ids = await upsertLocations(
    harness.db,
    rows.flatMap((row) => (row.location ? [row.location] : [])),
  );
  const records: NewRecord[] = rows.map((row, index) => ({
    row: index + 1,
    value: row.value,
    status: row.location ? "ok" : "failed",
    locationId: row.location ? ids.get(row.location.locationHash)! : null,
    matchLevel: row.location ? "place" : null,
    error: row.location ? null : (row.error ?? "no match"),
  }));
  const batches: NewRecord[][] = [];
  for (let start = 0; start < records.length; start += insertBatchRows) batches.push(records.slice(start, start + insertBatchRows));
  for (const batch of batches.reverse()) await insertRecords(harness.db, job.id, batch);
  const completed = await completeJobIfDone(harness.db, job.id);
  if (completed === null) throw new Error(`seeded job ${job.hash} did not complete`);
  return { hash: job.hash, id: job.id };
}

/** Returns the flat record that a seeded row is expected to download as. */
function expectedRecord(row: SeedRow, index: number): ResultRecord {
  const location = row.location;
  return {
    row: index + 1,
    value: row.value,
    status: location ? "ok" : "failed",
    name: location?.name ?? null,
    country_code: location?.countryCode ?? null,
    latitude: location?.latitude ?? null,
    longitude: location?.longitude ?? null,
    location_hash: location?.locationHash ?? null,
    match_level: location ? "place" : null,
    error: location ? null : (row.error ?? "no match"),
  };
}

/** Converts a record to the fields CSV shows: numbers as decimal text, null as an empty field. */
function asCsvFields(record: ResultRecord): string[] {
  return resultColumns.map((column) => {
    const value = record[column];
    return value === null ? "" : String(value);
  });
}

function parseNdjson(text: string): Record<string, unknown>[] {
  expect(text.endsWith("\n")).toBe(true);
  return text
    .slice(0, -1)
    .split("\n")
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

const trickyRows: SeedRow[] = [
  { value: "Paris, France", location: place(1, "Paris") },
  { value: 'He said "hi", twice', error: "no match" },
  { value: "first line\nsecond line", error: "value has a line break" },
  { value: "carriage\rreturn and\r\nCRLF", location: place(2, 'Saint-"Quoted", Place') },
  { value: "  spaced out  ", error: "no match" },
  { value: "=1+2", location: place(3, "Formula\nTown") },
  { value: "naïve café, 東京", error: 'error with "quotes", commas\nand lines' },
  { value: "", error: "empty value" },
];

describe("results.csv", () => {
  let job: { hash: string; id: number };

  beforeAll(async () => {
    job = await seedCompleteJob(trickyRows, 3);
  });

  test("header names the columns in order", async () => {
    const response = await client.request(`/locations/batch/${job.hash}/results.csv`);
    expect(response.status).toBe(200);
    const text = await response.text();
    expect(text.split("\n")[0]).toBe(expectedHeader);
    expect(resultColumns.join(",")).toBe(expectedHeader);
  });

  test("content type and file name", async () => {
    const response = await client.request(`/locations/batch/${job.hash}/results.csv`);
    expect(response.headers.get("content-type")).toBe("text/csv; charset=utf-8");
    expect(response.headers.get("content-disposition")).toBe(`attachment; filename="${job.hash}.results.csv"`);
  });

  test("commas, quotes and line breaks round-trip", async () => {
    const text = await (await client.request(`/locations/batch/${job.hash}/results.csv`)).text();
    const [header, ...rows] = parse(text) as string[][];
    expect(header).toEqual([...resultColumns]);
    expect(rows).toHaveLength(trickyRows.length);
    trickyRows.forEach((row, index) => {
      expect(rows[index]).toEqual(asCsvFields(expectedRecord(row, index)));
    });
  });

  test("rows are in file order", async () => {
    const text = await (await client.request(`/locations/batch/${job.hash}/results.csv`)).text();
    const rows = (parse(text, { from_line: 2 }) as string[][]).map((fields) => fields[0]);
    expect(rows).toEqual(trickyRows.map((_, index) => String(index + 1)));
  });

  test("failed rows keep only the error", async () => {
    const text = await (await client.request(`/locations/batch/${job.hash}/results.csv`)).text();
    const records = parse(text, { columns: true }) as Record<string, string>[];
    const failed = records.filter((record) => record.status === "failed");
    expect(failed).toHaveLength(trickyRows.filter((row) => !row.location).length);
    for (const record of failed) {
      for (const column of ["name", "country_code", "latitude", "longitude", "location_hash", "match_level"]) {
        expect(record[column]).toBe("");
      }
      expect(record.error!.length).toBeGreaterThan(0);
    }
    const ok = records.filter((record) => record.status === "ok");
    for (const record of ok) {
      expect(record.error).toBe("");
      expect(record.location_hash).toStartWith("download-test-");
    }
  });
});

describe("results.ndjson", () => {
  let job: { hash: string; id: number };

  beforeAll(async () => {
    job = await seedCompleteJob(trickyRows, 3);
  });

  test("content type and file name", async () => {
    const response = await client.request(`/locations/batch/${job.hash}/results.ndjson`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("application/x-ndjson");
    expect(response.headers.get("content-disposition")).toBe(`attachment; filename="${job.hash}.results.ndjson"`);
  });

  test("lines have exactly the column keys", async () => {
    const lines = parseNdjson(await (await client.request(`/locations/batch/${job.hash}/results.ndjson`)).text());
    expect(lines).toHaveLength(trickyRows.length);
    for (const line of lines) expect(Object.keys(line)).toEqual([...resultColumns]);
  });

  test("values in file order, null when absent", async () => {
    const lines = parseNdjson(await (await client.request(`/locations/batch/${job.hash}/results.ndjson`)).text());
    expect(lines).toEqual(trickyRows.map((row, index) => expectedRecord(row, index)));
    const failed = lines.find((line) => line.status === "failed")!;
    expect(failed.name).toBeNull();
    expect(failed.latitude).toBeNull();
    expect(failed.location_hash).toBeNull();
  });
});

describe("a job run by the worker", () => {
  test("files match the results pages", async () => {
    const csv = ["Paris, France", '"Springfield, IL"', "51.5074,-0.1278", "Qwxzzyq Nowhere", "berlin"].join("\n");
    const jobHash = await client.createJob(await client.upload(csv, "text/csv"));
    expect((await client.waitForEnd(jobHash)).status).toBe("complete");
    const expected = (await client.allResults(jobHash)).map(toResultRecord);
    expect(expected).toHaveLength(5);

    const lines = parseNdjson(await (await client.request(`/locations/batch/${jobHash}/results.ndjson`)).text());
    expect(lines).toEqual(expected);

    const [header, ...rows] = parse(await (await client.request(`/locations/batch/${jobHash}/results.csv`)).text()) as string[][];
    expect(header!.join(",")).toBe(expectedHeader);
    expect(rows).toEqual(expected.map(asCsvFields));
  });
});

describe("statuses shared with the results pages", () => {
  const formats = ["csv", "ndjson"] as const;
  let scheduled: string;
  let processing: string;
  let complete: string;

  beforeAll(async () => {
    scheduled = (await insertJob(harness.db, "not-started")).hash;
    const running = await insertJob(harness.db, "running");
    await harness.db.$client`update jobs set status = 'processing', total_rows = 10 where id = ${running.id}`;
    processing = running.hash;
    complete = (await seedCompleteJob([{ value: "x" }])).hash;
  });

  for (const format of formats) {
    test(`${format}: 409 with the status before complete`, async () => {
      for (const [jobHash, status] of [
        [scheduled, "scheduled"],
        [processing, "processing"],
      ] as const) {
        const response = await client.request(`/locations/batch/${jobHash}/results.${format}`);
        expect(response.status).toBe(409);
        expect(response.headers.get("content-type")).toStartWith("application/json");
        const body = (await response.json()) as { error: string; status: string };
        expect(body.status).toBe(status);
        expect(body.error).toContain(status);
      }
    });

    test(`${format}: 404 for an unknown job`, async () => {
      for (const jobHash of ["0123456789abcdef01234567", "not-a-job-hash"]) {
        const response = await client.request(`/locations/batch/${jobHash}/results.${format}`);
        expect(response.status).toBe(404);
        expect(((await response.json()) as { error: string }).error).toBe("job not found");
      }
    });

    test(`${format}: 401 without a token`, async () => {
      const response = await client.app.handle(new Request(`http://localhost/locations/batch/${complete}/results.${format}`));
      expect(response.status).toBe(401);
      expect(response.headers.get("www-authenticate")).toStartWith("Bearer");
      expect(((await response.json()) as { error: string }).error.length).toBeGreaterThan(0);
    });
  }

  test("other suffixes return 404", async () => {
    const response = await client.request(`/locations/batch/${complete}/results.json`);
    expect(response.status).toBe(404);
  });
});

describe("a job of 5,000 rows", () => {
  const rowCount = 5000;
  let job: { hash: string; id: number };

  beforeAll(async () => {
    const rows: SeedRow[] = Array.from({ length: rowCount }, (_, index) =>
      index % 7 === 0 ? { value: `nowhere ${index + 1}` } : { value: `place ${index + 1}`, location: place(1000 + (index % 50), `Place ${index % 50}`) },
    );
    job = await seedCompleteJob(rows);
  });

  test("csv streams every row, 1 to N in order", async () => {
    const response = await client.request(`/locations/batch/${job.hash}/results.csv`);
    expect(response.status).toBe(200);
    const rows = parse(await response.text(), { from_line: 2 }) as string[][];
    expect(rows).toHaveLength(rowCount);
    expect(rows.map((fields) => Number(fields[0]))).toEqual(Array.from({ length: rowCount }, (_, index) => index + 1));
    expect(rows.at(-1)![1]).toBe(`place ${rowCount}`);
  });

  test("ndjson streams every row, 1 to N in order", async () => {
    const lines = parseNdjson(await (await client.request(`/locations/batch/${job.hash}/results.ndjson`)).text());
    expect(lines).toHaveLength(rowCount);
    expect(lines.map((line) => line.row)).toEqual(Array.from({ length: rowCount }, (_, index) => index + 1));
  });

  test("reads keyset batches of fixed size", async () => {
    batchQueries.length = 0;
    const response = await countingClient.request(`/locations/batch/${job.hash}/results.ndjson`);
    expect(response.status).toBe(200);
    expect(parseNdjson(await response.text())).toHaveLength(rowCount);

    // Each batch takes one query, the last batch ends at total_rows, and no query follows it.
    const expectedQueries = Math.ceil(rowCount / downloadBatchRows);
    expect(downloadBatchRows).toBeLessThan(rowCount);
    expect(batchQueries).toHaveLength(expectedQueries);
    // Parameters: job id, the last row already sent, the last row of the batch.
    expect(batchQueries.map((parameters) => Number(parameters[1]))).toEqual(
      Array.from({ length: expectedQueries }, (_, index) => index * downloadBatchRows),
    );
    expect(batchQueries.map((parameters) => Number(parameters[2]))).toEqual(
      Array.from({ length: expectedQueries }, (_, index) => (index + 1) * downloadBatchRows),
    );
  });

  test("reading follows client and stops on cancel", async () => {
    batchQueries.length = 0;
    const response = await countingClient.request(`/locations/batch/${job.hash}/results.csv`);
    const reader = response.body!.getReader();
    expect((await reader.read()).done).toBe(false);
    await Bun.sleep(300);
    // While the client does not read, the route reads the first batch and at most one batch ahead of it.
    const whileHolding = batchQueries.length;
    expect(whileHolding).toBeGreaterThanOrEqual(1);
    expect(whileHolding).toBeLessThanOrEqual(2);

    await reader.cancel();
    await Bun.sleep(300);
    expect(batchQueries.length).toBe(whileHolding);
  });

  test("pause past idle timeout gets whole file", async () => {
    const app = createApp({ ...harness, jwtSecret: testSecret });
    // The server's idle timeout is 2 s, and the route raises it for the connection of its own response.
    app.listen({ hostname: "127.0.0.1", port: 0, idleTimeout: 2 });
    try {
      const response = await fetch(`http://127.0.0.1:${app.server!.port}/locations/batch/${job.hash}/results.csv`, {
        headers: { authorization: `Bearer ${await adminToken()}` },
      });
      const reader = response.body!.getReader();
      const first = await reader.read();
      expect(first.done).toBe(false);
      await Bun.sleep(3500);
      let text = new TextDecoder().decode(first.value);
      for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) text += new TextDecoder().decode(chunk.value);
      expect(text.trimEnd().split("\n")).toHaveLength(rowCount + 1);
    } finally {
      await app.stop(true);
    }
  }, 30_000);

  test("HTTP disconnect stops reading", async () => {
    const app = createApp({ ...harness, db: countingClient.harness.db, jwtSecret: testSecret });
    app.listen({ hostname: "127.0.0.1", port: 0 });
    try {
      batchQueries.length = 0;
      const abort = new AbortController();
      const response = await fetch(`http://127.0.0.1:${app.server!.port}/locations/batch/${job.hash}/results.ndjson`, {
        headers: { authorization: `Bearer ${await adminToken()}` },
        signal: abort.signal,
      });
      expect(response.status).toBe(200);
      await response.body!.getReader().read();
      abort.abort();
      await Bun.sleep(300);
      const afterAbort = batchQueries.length;
      await Bun.sleep(500);
      expect(batchQueries.length).toBe(afterAbort);
      expect(afterAbort).toBeLessThan(Math.floor(rowCount / downloadBatchRows) + 1);
    } finally {
      await app.stop(true);
    }
  });
});

describe("resultsStream", () => {
  test("failed read errors the stream", async () => {
    const reported: unknown[] = [];
    const failure = new Error("connection lost");
    let calls = 0;
    const stream = resultsStream(
      async (afterRow) => {
        calls += 1;
        if (calls > 1) throw failure;
        return [{ row: afterRow + 1, value: "a", status: "failed", match_level: null, error: "no match", location: null }];
      },
      "ndjson",
      { totalRows: 3, batchRows: 1, onError: (error) => reported.push(error) },
    );
    const reader = stream.getReader();
    const first = await reader.read();
    expect(first.done).toBe(false);
    expect(new TextDecoder().decode(first.value)).toContain('"row":1');
    // The client sees a generic message. The database's own error, which names the query, goes to onError.
    await expect(reader.read()).rejects.toThrow("results download failed: reading the next rows from the database failed");
    expect(reported).toEqual([failure]);
  });
});
