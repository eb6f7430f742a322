// Tests GET /locations/batch against a real Postgres. It covers newest-first order, the status filter,
// paging and query validation, and checks that indexes provide the order without a sort.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { drizzle } from "drizzle-orm/postgres-js";
import postgres from "postgres";
import { insertJob, listJobs } from "../src/db/jobs.ts";
import * as schema from "../src/db/schema.ts";
import type { JobStatus } from "../src/db/schema.ts";
import { createHarness, type Harness } from "./support/harness.ts";
import { TestClient } from "./support/jobs.ts";

interface JobsPage {
  page: number;
  per_page: number;
  total: number;
  total_pages: number;
  next: string | null;
  data: Record<string, unknown>[];
}

let harness: Harness;
let client: TestClient;
/** Job hashes in the order the list must return them: newest first. */
let newestFirst: string[] = [];
const statusOf = new Map<string, JobStatus>();

beforeAll(async () => {
  harness = await createHarness();
  client = new TestClient(harness);

  // Seven jobs. Two pairs share a created_at, so within a pair the later insert (higher id) comes first.
  const seconds = [10, 20, 20, 30, 40, 40, 50];
  const statuses: JobStatus[] = ["complete", "failed", "complete", "scheduled", "processing", "complete", "scheduled"];
  const inserted: { hash: string; id: number; seconds: number }[] = [];
  for (const [index, offset] of seconds.entries()) {
    const job = await insertJob(harness.db, `list-file-${index}`);
    const status = statuses[index]!;
    await harness.db.$client`
      update jobs set created_at = timestamptz '2026-01-01T00:00:00Z' + make_interval(secs => ${offset}), status = ${status}
      where id = ${job.id}`;
    inserted.push({ hash: job.hash, id: job.id, seconds: offset });
    statusOf.set(job.hash, status);
  }
  newestFirst = inserted.sort((a, b) => b.seconds - a.seconds || b.id - a.id).map((job) => job.hash);
});

afterAll(async () => {
  await harness.cleanup();
});

async function listPage(query = ""): Promise<JobsPage> {
  const response = await client.request(`/locations/batch${query}`);
  expect(response.status).toBe(200);
  return (await response.json()) as JobsPage;
}

describe("jobs list", () => {
  test("newest first, ties broken by id", async () => {
    const page = await listPage();
    expect(page.data.map((job) => job.job_hash)).toEqual(newestFirst);
  });

  test("defaults to page 1 of 500", async () => {
    const page = await listPage();
    expect(page.page).toBe(1);
    expect(page.per_page).toBe(500);
    expect(page.total).toBe(7);
    expect(page.total_pages).toBe(1);
    expect(page.next).toBeNull();
  });

  test("entries equal the status route's body", async () => {
    const page = await listPage();
    for (const entry of page.data) {
      const status = await client.status(String(entry.job_hash));
      expect(entry).toEqual(status);
    }
  });

  test("status filter lists and counts one status", async () => {
    const page = await listPage("?status=complete");
    const expected = newestFirst.filter((hash) => statusOf.get(hash) === "complete");
    expect(expected).toHaveLength(3);
    expect(page.data.map((job) => job.job_hash)).toEqual(expected);
    expect(page.total).toBe(3);
    expect(page.total_pages).toBe(1);
    for (const job of page.data) expect(job.status).toBe("complete");
  });

  test("status with no jobs is an empty first page", async () => {
    await harness.db.$client`update jobs set status = 'scheduled' where status = 'processing'`;
    try {
      const page = await listPage("?status=processing");
      expect(page.total).toBe(0);
      expect(page.total_pages).toBe(0);
      expect(page.data).toEqual([]);
      expect(page.next).toBeNull();
    } finally {
      for (const [hash, status] of statusOf) {
        await harness.db.$client`update jobs set status = ${status} where hash = ${hash}`;
      }
    }
  });

  test("pages of 3: total, total_pages and next", async () => {
    const first = await listPage("?per_page=3");
    expect(first.total).toBe(7);
    expect(first.total_pages).toBe(3);
    expect(first.page).toBe(1);
    expect(first.per_page).toBe(3);
    expect(first.next).toBe("/locations/batch?page=2&per_page=3");
    expect(first.data.map((job) => job.job_hash)).toEqual(newestFirst.slice(0, 3));

    const last = await listPage("?page=3&per_page=3");
    expect(last.data.map((job) => job.job_hash)).toEqual(newestFirst.slice(6));
    expect(last.next).toBeNull();
  });

  test("following next visits every job once, in order", async () => {
    const seen: unknown[] = [];
    let path: string | null = "/locations/batch?per_page=2";
    for (let pages = 0; path !== null && pages < 10; pages += 1) {
      const response: Response = await client.request(path);
      const page = (await response.json()) as JobsPage;
      seen.push(...page.data.map((job) => job.job_hash));
      path = page.next;
    }
    expect(path).toBeNull();
    expect(seen).toEqual(newestFirst);
  });

  test("next keeps the status filter", async () => {
    const page = await listPage("?status=complete&per_page=2");
    expect(page.next).toBe("/locations/batch?page=2&per_page=2&status=complete");
    const second = await listPage("?page=2&per_page=2&status=complete");
    expect(second.data.map((job) => job.status)).toEqual(["complete"]);
  });

  test("page past the end is empty", async () => {
    const page = await listPage("?page=4&per_page=3");
    expect(page.data).toEqual([]);
    expect(page.total).toBe(7);
    expect(page.total_pages).toBe(3);
    expect(page.next).toBeNull();
  });
});

describe("jobs list rejects", () => {
  const cases: [string, string, RegExp][] = [
    ["per_page of 0", "?per_page=0", /per_page/],
    ["per_page over 500", "?per_page=501", /per_page/],
    ["per_page not a number", "?per_page=ten", /per_page/],
    ["page of 0", "?page=0", /page/],
    ["fractional page", "?page=1.5", /page/],
    ["unknown status", "?status=done", /status/],
    ["unknown query field", "?sort=asc", /sort|propert/i],
  ];
  for (const [name, query, message] of cases) {
    test(`${name} with 400`, async () => {
      const response = await client.request(`/locations/batch${query}`);
      expect(response.status).toBe(400);
      const body = (await response.json()) as { error: string };
      expect(body.error).toMatch(message);
    });
  }

  test("request without a token with 401", async () => {
    const response = await client.app.handle(new Request("http://localhost/locations/batch"));
    expect(response.status).toBe(401);
    expect(response.headers.get("www-authenticate")).toStartWith("Bearer");
  });
});

describe("jobs list query plan", () => {
  /** Runs `listJobs` on a connection of its own and returns the SQL text and parameters it sent. */
  async function sentQuery(page: Parameters<typeof listJobs>[1]): Promise<{ text: string; parameters: unknown[] }> {
    let sent: { text: string; parameters: unknown[] } | null = null;
    const capture = postgres(harness.config.databaseUrl, {
      max: 1,
      onnotice: () => {},
      fetch_types: false,
      debug: (_connection, text, parameters) => {
        sent = { text, parameters: [...parameters] };
      },
    });
    try {
      await listJobs(drizzle(capture, { schema }), page);
    } finally {
      await capture.end({ timeout: 5 });
    }
    if (sent === null) throw new Error("listJobs sent no query");
    return sent;
  }

  // Returns the query's EXPLAIN plan. Turning off enable_seqscan and enable_sort only makes those steps very
  // costly, so a query without a matching index still shows a Sort node.
  async function plan(query: { text: string; parameters: unknown[] }): Promise<string> {
    return harness.db.$client.begin(async (sql) => {
      await sql.unsafe("set local enable_seqscan = off");
      await sql.unsafe("set local enable_sort = off");
      const rows = await sql.unsafe(`explain ${query.text}`, query.parameters as postgres.ParameterOrJSON<never>[]);
      return rows.map((row) => String(row["QUERY PLAN"])).join("\n");
    });
  }

  test("all jobs read backward along an index", async () => {
    const text = await plan(await sentQuery({ limit: 500, offset: 0 }));
    expect(text).toContain("Index Scan Backward using jobs_created_at_id_idx");
    expect(text).not.toContain("Sort");
  });

  test("one status read backward along an index", async () => {
    const text = await plan(await sentQuery({ status: "complete", limit: 500, offset: 0 }));
    expect(text).toContain("Index Scan Backward using jobs_status_created_at_id_idx");
    expect(text).not.toContain("Sort");
  });
});

describe("jobs list in the OpenAPI document", () => {
  test("documents the route and its query fields", async () => {
    const response = await client.request("/swagger/json");
    expect(response.status).toBe(200);
    const document = (await response.json()) as { paths: Record<string, Record<string, { parameters?: { name: string; in: string }[] }>> };
    const operation = document.paths["/locations/batch"]?.get;
    expect(operation).toBeDefined();
    const query = (operation!.parameters ?? []).filter((parameter) => parameter.in === "query").map((parameter) => parameter.name);
    expect(query.sort()).toEqual(["page", "per_page", "status"]);
  });
});
