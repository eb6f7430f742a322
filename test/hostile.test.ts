// Hostile input through the real queues and the in-process API: every file of two parser test
// corpora, values built to break one row, a huge unclosed quote, and requests built to break the
// routes. A job must end complete or failed with an error, the worker must keep running, and no
// request may get a 5xx.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { serveApi } from "../src/runtime.ts";
import type { RunningWorker } from "../src/worker/worker.ts";
import { createHarness, testSecret, type Harness } from "./support/harness.ts";
import { TestClient, startTestWorker } from "./support/jobs.ts";
import { adminToken, now, signToken, unsignedToken } from "./support/tokens.ts";

// Resolved from this file so that the tests run wherever the repository is cloned beside shared/.
const corporaUrl = new URL("../../shared/corpora/", import.meta.url);

type RequestBody = NonNullable<RequestInit["body"]>;

let harness: Harness;
let worker: RunningWorker;
let client: TestClient;

beforeAll(async () => {
  harness = await createHarness();
  worker = await startTestWorker(harness);
  client = new TestClient(harness);
});

afterAll(async () => {
  await worker.stop();
  await harness.cleanup();
});

/** Runs `work` on every item with at most `limit` calls in flight, and returns the results in item order. */
async function mapLimit<T, R>(items: T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index]!);
    }
  });
  await Promise.all(lanes);
  return results;
}

/**
 * Polls the status of every job until each is complete or failed or `timeoutMs` has passed. Returns the
 * last status seen of every job, ended or not.
 */
async function waitForAll(jobHashes: string[], timeoutMs: number): Promise<Map<string, Record<string, any>>> {
  const latest = new Map<string, Record<string, any>>();
  const deadline = Date.now() + timeoutMs;
  let open = [...jobHashes];
  while (open.length > 0 && Date.now() < deadline) {
    const statuses = await mapLimit(open, 16, (jobHash) => client.status(jobHash));
    for (const status of statuses) latest.set(status.job_hash, status);
    open = open.filter((jobHash) => {
      const status = latest.get(jobHash)?.status;
      return status !== "complete" && status !== "failed";
    });
    if (open.length > 0) await Bun.sleep(200);
  }
  return latest;
}

/**
 * Lists what is wrong with a job, each entry prefixed by the file name. An empty list means the job
 * failed with an error, or completed with counts that add up and result rows 1 to total_rows.
 */
async function endProblems(name: string, status: Record<string, any> | undefined, waitedMs: number): Promise<string[]> {
  if (status === undefined) return [`${name}: no status read`];
  if (status.status !== "complete" && status.status !== "failed") {
    return [`${name}: still ${status.status} after ${waitedMs} ms (${status.completed} + ${status.failed} of ${status.total_rows} rows)`];
  }
  if (status.status === "failed") {
    return typeof status.error === "string" && status.error.length > 0 ? [] : [`${name}: failed without an error`];
  }
  const problems: string[] = [];
  if (status.error !== null) problems.push(`${name}: complete with error ${JSON.stringify(status.error)}`);
  if (status.completed + status.failed !== status.total_rows) {
    problems.push(`${name}: completed ${status.completed} + failed ${status.failed} != total_rows ${status.total_rows}`);
  }
  const rows = (await client.allResults(status.job_hash)).map((entry) => entry.row);
  const expected = Array.from({ length: status.total_rows }, (_, index) => index + 1);
  if (JSON.stringify(rows) !== JSON.stringify(expected)) {
    problems.push(`${name}: results rows ${JSON.stringify(rows.slice(0, 20))} are not 1..${status.total_rows}`);
  }
  return problems;
}

/**
 * How long the corpus jobs may take to end. When no row is redelivered, the 330 jobs of both corpora
 * (one small file each) end within about 4 s on a 2-core machine. A redelivered row waits
 * ACK_WAIT_SECONDS (10 s in the harness), so this allows one redelivery and ends before the hook timeout.
 */
const corpusWaitMs = 20_000;

interface CorpusJob {
  name: string;
  jobHash: string;
}

/** Submits every file of a corpus folder as a job, without waiting for the jobs. */
async function submitCorpus(folder: URL, contentType: string): Promise<CorpusJob[]> {
  const path = fileURLToPath(folder);
  const names = (await readdir(path)).sort();
  return mapLimit(names, 8, async (name) => {
    // Joined as a path, because some corpus names contain "#", which a URL would read as a fragment.
    const bytes = await Bun.file(join(path, name)).bytes();
    return { name, jobHash: await client.createJob(await client.upload(bytes, contentType)) };
  });
}

describe("parser corpora as jobs", () => {
  let csvJobs: CorpusJob[];
  let jsonJobs: CorpusJob[];
  let statuses: Map<string, Record<string, any>>;

  // Both corpora are submitted before any job is waited for, so the jobs run side by side.
  beforeAll(async () => {
    csvJobs = await submitCorpus(new URL("csv-spectrum/csvs/", corporaUrl), "text/csv");
    jsonJobs = await submitCorpus(new URL("JSONTestSuite/test_parsing/", corporaUrl), "application/json");
    statuses = await waitForAll(
      [...csvJobs, ...jsonJobs].map((job) => job.jobHash),
      corpusWaitMs,
    );
  }, corpusWaitMs + 20_000);

  async function problemsOf(jobs: CorpusJob[]): Promise<string[]> {
    const problems = await mapLimit(jobs, 8, (job) => endProblems(job.name, statuses.get(job.jobHash), corpusWaitMs));
    return problems.flat();
  }

  test("every csv-spectrum file ends complete or failed", async () => {
    expect(csvJobs.length).toBeGreaterThan(10);
    expect(await problemsOf(csvJobs)).toEqual([]);
  });

  test("every JSONTestSuite parsing file ends complete or failed", async () => {
    expect(jsonJobs.length).toBeGreaterThan(300);
    expect(await problemsOf(jsonJobs)).toEqual([]);
  });

  test("worker still runs after the corpora", async () => {
    const final = await client.waitForEnd(await client.createJob(await client.upload("Lyon\nOslo\n", "text/csv")));
    expect(final.status).toBe("complete");
    expect(final.completed).toBe(2);
  });
});

describe("bad values fail only their own row", () => {
  const longValue = "a".repeat(10_000);

  async function runJob(content: string, contentType: string): Promise<{ final: Record<string, any>; results: any[] }> {
    const jobHash = await client.createJob(await client.upload(content, contentType));
    const final = await client.waitForEnd(jobHash, 30_000);
    return { final, results: final.status === "complete" ? await client.allResults(jobHash) : [] };
  }

  function expectOk(entry: any, country: string) {
    expect(entry.status).toBe("ok");
    expect(entry.error).toBeNull();
    expect(entry.location.country_code).toBe(country);
  }

  // NOTE: no documented rule says that a value with a control character fails, and the resolver drops
  // control characters like punctuation, so "Par\u0001is" resolves to Paris. Either outcome passes
  // as long as the row stays confined: failed with an error, or resolved to the place its letters spell.
  function expectFailedOrParis(entry: any) {
    if (entry.status === "ok") {
      expectOk(entry, "FR");
      expect(entry.location.name).toBe("Paris");
    } else {
      expectFailed(entry);
    }
  }

  function expectFailed(entry: any) {
    expect(entry.status).toBe("failed");
    expect(entry.location).toBeNull();
    expect(typeof entry.error).toBe("string");
    expect(entry.error.length).toBeGreaterThan(0);
  }

  test("CSV rows", async () => {
    const lines = [
      "Paris",
      '"Berlin, Germany"',
      "Par\u0001is",
      longValue,
      "9007199254740993",
      "1e400",
      "9007199254740993,1",
      "Berlin, Germany",
      "Paris",
    ];
    const { final, results } = await runJob(lines.join("\n"), "text/csv");
    expect(final.status).toBe("complete");
    expect(final.total_rows).toBe(lines.length);
    expect(results.map((entry) => entry.row)).toEqual(lines.map((_, index) => index + 1));

    expectOk(results[0], "FR");
    expectOk(results[1], "DE");
    expectFailedOrParis(results[2]);
    expectFailed(results[3]);
    expect(results[3].error).toMatch(/512/);
    expect(results[3].value.length).toBeLessThanOrEqual(512);
    expectFailed(results[4]);
    expectFailed(results[5]);
    expectFailed(results[6]);
    expect(results[6].error).toMatch(/latitude/);
    expectOk(results[7], "DE");
    expectOk(results[8], "FR");
    expect(final.completed + final.failed).toBe(lines.length);
    expect(final.failed).toBeGreaterThanOrEqual(4);
  });

  test("JSON elements", async () => {
    // Written as JSON text, not built with JSON.stringify, so that the escapes and the numbers
    // beyond 2^53 reach the reader exactly as a hostile client would send them.
    const elements = [
      '"Paris"',
      '"Berlin, Germany"',
      '"Par\\u0001is"',
      '"\\u0000"',
      '"Paris\\u0000"',
      '"\\ud800"',
      '"Par\\udc00is"',
      '"\\ud800\\ud800"',
      `"${longValue}"`,
      "9007199254740993",
      "1e400",
      '[["Paris"]]',
      '{"name": "Paris"}',
      '{"lat": "48.85", "lng": "2.35"}',
      '{"lat": 1e400, "lng": 2}',
      '{"lat": 9007199254740993, "lng": 2}',
      '{"lat": 48.8566, "lng": 2.3522}',
      '"Berlin, Germany"',
    ];
    const { final, results } = await runJob(`[${elements.join(",\n")}]`, "application/json");
    expect(final.status).toBe("complete");
    expect(final.total_rows).toBe(elements.length);
    expect(results.map((entry) => entry.row)).toEqual(elements.map((_, index) => index + 1));

    expectOk(results[0], "FR");
    expectOk(results[1], "DE");
    expectFailedOrParis(results[2]);
    for (const index of [3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]) {
      expectFailed(results[index]);
    }
    expect(results[3].error).toMatch(/NUL|surrogate/);
    expect(results[5].error).toMatch(/NUL|surrogate/);
    expect(results[8].error).toMatch(/512/);
    expectOk(results[16], "FR");
    expectOk(results[17], "DE");
    expect(final.completed + final.failed).toBe(elements.length);
    expect(final.failed).toBeGreaterThanOrEqual(13);
  });
});

describe("one unclosed quote over a large file", () => {
  const sizeBytes = 100 * 1000 * 1000;

  test("fails its job naming the unclosed quote", async () => {
    const content = new Uint8Array(sizeBytes);
    const letters = new TextEncoder().encode("abcdefghijklmnopqrstuvwxyz".repeat(40_000));
    for (let offset = 0; offset < sizeBytes; offset += letters.length) {
      content.set(letters.subarray(0, Math.min(letters.length, sizeBytes - offset)), offset);
    }
    content[0] = 0x22;
    const jobHash = await client.createJob(await client.upload(content, "text/csv"));
    const final = await client.waitForEnd(jobHash, 50_000);
    expect(final.status).toBe("failed");
    expect(final.error).toMatch(/unclosed quote/);
    expect(final.error).toMatch(/line 1\b/);
    expect(final.total_rows).toBeNull();
  }, 60_000);
});

describe("uploads over MAX_FILE_BYTES", () => {
  const maxFileBytes = 1024 * 1024;
  const overLimit = new Uint8Array(2_000_000).fill(0x61);
  let smallHarness: Harness;
  let smallClient: TestClient;
  let server: ReturnType<typeof serveApi>;
  let baseUrl: string;

  beforeAll(async () => {
    smallHarness = await createHarness({ MAX_FILE_BYTES: String(maxFileBytes), PORT: "0" });
    smallClient = new TestClient(smallHarness);
    server = serveApi(smallHarness, testSecret);
    baseUrl = `http://127.0.0.1:${server.server!.port}`;
  });

  afterAll(async () => {
    // Closes the connections of the rejected uploads too, which Bun may keep open.
    await server.stop(true);
    await smallHarness.cleanup();
  });

  async function expectTooLarge(response: Response) {
    expect(response.status).toBe(413);
    const body = (await response.json()) as { error: string; max_bytes: number };
    expect(body.error).toMatch(/MAX_FILE_BYTES/);
    expect(body.max_bytes).toBe(maxFileBytes);
  }

  async function httpUpload(body: RequestBody, token: string | null = null): Promise<Response> {
    return fetch(`${baseUrl}/files`, {
      method: "POST",
      body,
      headers: { authorization: `Bearer ${token ?? (await adminToken())}`, "content-type": "text/csv" },
      duplex: "half",
    } as RequestInit);
  }

  test("raw body in-process gets 413", async () => {
    await expectTooLarge(await smallClient.request("/files", { method: "POST", body: overLimit }));
  });

  test("multipart file in-process gets 413", async () => {
    const form = new FormData();
    form.set("file", new Blob([overLimit], { type: "text/csv" }), "big.csv");
    await expectTooLarge(await smallClient.request("/files", { method: "POST", body: form }));
  });

  test("body with Content-Length over HTTP gets 413", async () => {
    await expectTooLarge(await httpUpload(overLimit));
  });

  test("chunked body over HTTP gets 413", async () => {
    const chunk = overLimit.subarray(0, 64 * 1024);
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent >= overLimit.length) return controller.close();
        controller.enqueue(chunk);
        sent += chunk.length;
      },
    });
    await expectTooLarge(await httpUpload(stream));
  });

  test("body over the server's own cap gets 413", async () => {
    // NOTE: Bun 1.4.5 rejects a body over maxRequestBodySize (MAX_FILE_BYTES + 1 MiB) itself, with an
    // empty body instead of a JSON error, so only the status is checked here.
    const response = await httpUpload(new Uint8Array(4 * maxFileBytes));
    expect(response.status).toBe(413);
  });

  test("file exactly at the limit is stored", async () => {
    const response = await httpUpload(new Uint8Array(maxFileBytes).fill(0x62));
    expect(response.status).toBe(201);
    expect(((await response.json()) as { size: number }).size).toBe(maxFileBytes);
  });

  test("oversized body without a token gets 401", async () => {
    const response = await fetch(`${baseUrl}/files`, { method: "POST", body: overLimit });
    expect(response.status).toBe(401);
    expect(response.headers.get("www-authenticate")).toStartWith("Bearer");
  });
});

describe("hostile POST /locations/batch bodies", () => {
  const encoder = new TextEncoder();
  // Cases that test/routes.test.ts does not cover. Each must get 400 and create no job.
  const cases: [string, RequestBody, string | null][] = [
    ["empty body", "", "application/json"],
    ["no content type, empty body", "", null],
    ["JSON null", "null", "application/json"],
    ["JSON array", '[{"file_hash": "abc"}]', "application/json"],
    ["JSON string", '"abc"', "application/json"],
    ["truncated JSON", '{"file_hash": "abc"', "application/json"],
    ["trailing garbage", '{"file_hash": "abc"} x', "application/json"],
    ["byte order mark", '\ufeff{"file_hash": "abc"}', "application/json"],
    ["invalid UTF-8", new Uint8Array([...encoder.encode('{"file_hash": "ab'), 0xff, ...encoder.encode('c"}')]), "application/json"],
    ["text/plain body", "file_hash=abc", "text/plain"],
    ["XML body", "<job><file_hash>abc</file_hash></job>", "application/xml"],
    ["null file_hash", '{"file_hash": null}', "application/json"],
    ["array file_hash", '{"file_hash": ["abc"]}', "application/json"],
    ["operator object file_hash", '{"file_hash": {"$ne": ""}}', "application/json"],
    ["1 MB file_hash", JSON.stringify({ file_hash: "a".repeat(1_000_000) }), "application/json"],
    ["duplicate key, bad last", '{"file_hash": "abc", "file_hash": "../etc/passwd"}', "application/json"],
    ["camelCase field", '{"fileHash": "abc"}', "application/json"],
    ["__proto__ field", '{"file_hash": "abc", "__proto__": {"admin": true}}', "application/json"],
    ["constructor field", '{"file_hash": "abc", "constructor": {"prototype": {}}}', "application/json"],
    ["status field", '{"file_hash": "abc", "status": "complete"}', "application/json"],
    ["job_hash field", '{"file_hash": "abc", "job_hash": "000000000000000000000000"}', "application/json"],
  ];
  const multipart = new FormData();
  multipart.set("file_hash", "abc");
  cases.push(["multipart form", multipart, null]);

  async function jobCount(): Promise<number> {
    const [row] = await harness.db.$client`select count(*)::int as n from jobs`;
    return row!.n;
  }

  for (const [name, body, contentType] of cases) {
    test(`${name} gets 400`, async () => {
      const before = await jobCount();
      const headers: Record<string, string> = contentType === null ? {} : { "content-type": contentType };
      const response = await client.request("/locations/batch", { method: "POST", body, headers });
      expect(response.status).toBe(400);
      const error = ((await response.json()) as { error: string }).error;
      expect(error.length).toBeGreaterThan(0);
      expect(await jobCount()).toBe(before);
    });
  }
});

describe("hostile tokens", () => {
  const base64url = (text: string) => Buffer.from(text).toString("base64url");

  /** Builds a compact JWS from raw header and payload text, signed with HMAC-SHA256 whatever alg the header names. */
  function compactToken(header: string, payload: string, secret = testSecret): string {
    const signingInput = `${base64url(header)}.${base64url(payload)}`;
    const signature = new Bun.CryptoHasher("sha256", secret).update(signingInput).digest("base64url");
    return `${signingInput}.${signature}`;
  }

  const exp = now() + 600;
  const adminClaims = JSON.stringify({ role: "admin", exp });
  const otherSecret = new TextEncoder().encode(`${testSecret}-rotated`);

  // Cases that test/routes.test.ts does not cover. Each builds the whole Authorization header.
  const unauthorized: [string, () => Promise<string> | string][] = [
    ["empty Bearer", () => "Bearer "],
    ["Bearer alone", () => "Bearer"],
    ["two segments", () => "Bearer aaaa.bbbb"],
    ["four segments", async () => `Bearer ${await signToken({ role: "admin" })}.xyz`],
    ["padded base64", async () => `Bearer ${(await signToken({ role: "admin" })).replace(".", "=.")}`],
    ["two tokens", async () => `Bearer ${await signToken({ role: "admin" })}, Bearer ${await signToken({ role: "admin" })}`],
    ["100 KB header segment", () => `Bearer ${"a".repeat(100_000)}.b.c`],
    ["header not JSON", () => `Bearer ${base64url("not json")}.${base64url(adminClaims)}.c2ln`],
    ["header a JSON array", () => `Bearer ${compactToken("[]", adminClaims)}`],
    ["numeric alg", () => `Bearer ${compactToken('{"alg": 256}', adminClaims)}`],
    ["payload not JSON", () => `Bearer ${compactToken('{"alg": "HS256"}', "not json")}`],
    ["payload JSON null", () => `Bearer ${compactToken('{"alg": "HS256"}', "null")}`],
    ["payload a JSON array", () => `Bearer ${compactToken('{"alg": "HS256"}', '[{"role": "admin"}]')}`],
    ["unknown crit header", () => `Bearer ${compactToken('{"alg": "HS256", "crit": ["exp"], "exp": 1}', adminClaims)}`],
    ["alg None", () => `Bearer ${base64url('{"alg": "None"}')}.${base64url(adminClaims)}.`],
    ["alg NONE", () => `Bearer ${base64url('{"alg": "NONE"}')}.${base64url(adminClaims)}.`],
    ["alg none with a real signature", async () => {
      const [, payload, signature] = (await signToken({ role: "admin" })).split(".");
      return `Bearer ${base64url('{"alg": "none"}')}.${payload}.${signature}`;
    }],
    ["unsigned from the test helper", () => `Bearer ${unsignedToken({ roles: ["admin"] })}`],
    ["HS256 without signature", async () => `Bearer ${(await signToken({ role: "admin" })).split(".").slice(0, 2).join(".")}.`],
    ["RS256 header signed with the secret", () => `Bearer ${compactToken('{"alg": "RS256"}', adminClaims)}`],
    ["claims swapped to admin", async () => {
      const [header, , signature] = (await signToken({ role: "user" })).split(".");
      return `Bearer ${header}.${base64url(adminClaims)}.${signature}`;
    }],
    ["signature of another token", async () => {
      const [header, payload] = (await signToken({ role: "admin" })).split(".");
      const signature = (await signToken({ role: "user" })).split(".")[2];
      return `Bearer ${header}.${payload}.${signature}`;
    }],
    ["signature one character short", async () => `Bearer ${(await signToken({ role: "admin" })).slice(0, -1)}`],
    ["rotated secret", async () => `Bearer ${await signToken({ role: "admin" }, { secret: otherSecret })}`],
    ["expired one second ago", async () => `Bearer ${await signToken({ role: "admin" }, { exp: now() - 1 })}`],
    ["exp zero", async () => `Bearer ${await signToken({ role: "admin" }, { exp: 0 })}`],
    ["exp as a string", () => `Bearer ${compactToken('{"alg": "HS256"}', JSON.stringify({ role: "admin", exp: String(exp) }))}`],
    ["exp null", () => `Bearer ${compactToken('{"alg": "HS256"}', JSON.stringify({ role: "admin", exp: null }))}`],
    ["nbf as a string", () => `Bearer ${compactToken('{"alg": "HS256"}', JSON.stringify({ role: "admin", exp, nbf: "0" }))}`],
  ];

  const forbidden: [string, Record<string, unknown>][] = [
    ["no role claim", {}],
    ["role Admin", { role: "Admin" }],
    ["role with a space", { role: " admin" }],
    ["role as an array", { role: ["admin"] }],
    ["roles as a string", { roles: "admin" }],
    ["roles ADMIN", { roles: ["ADMIN"] }],
    ["roles nested", { roles: [["admin"]] }],
    ["roles array-like object", { roles: { 0: "admin", length: 1 } }],
    ["admin flag", { admin: true, sub: "admin", scope: "admin" }],
  ];

  // A request per kind of route, so the guard is seen to cover each.
  const routes: [string, () => RequestInit][] = [
    ["/locations/batch/000000000000000000000000", () => ({})],
    ["/locations/batch/000000000000000000000000/results", () => ({})],
    ["/locations/batch", () => ({ method: "POST", body: '{"file_hash": "abc"}', headers: { "content-type": "application/json" } })],
    ["/files", () => ({ method: "POST", body: "Paris\n", headers: { "content-type": "text/csv" } })],
    [`/files/${"0".repeat(64)}`, () => ({})],
  ];

  async function send(path: string, init: RequestInit, authorization: string): Promise<Response> {
    const headers = new Headers(init.headers);
    headers.set("authorization", authorization);
    return client.app.handle(new Request(`http://localhost${path}`, { ...init, headers }));
  }

  for (const [name, makeHeader] of unauthorized) {
    test(`${name} gets 401`, async () => {
      const authorization = await makeHeader();
      for (const [path, init] of routes) {
        const response = await send(path, init(), authorization);
        expect(`${path} ${response.status}`).toBe(`${path} 401`);
        expect(response.headers.get("www-authenticate")).toStartWith("Bearer");
        expect(((await response.json()) as { error: string }).error.length).toBeGreaterThan(0);
      }
    });
  }

  for (const [name, claims] of forbidden) {
    test(`${name} gets 403`, async () => {
      const authorization = `Bearer ${await signToken(claims)}`;
      for (const [path, init] of routes) {
        const response = await send(path, init(), authorization);
        expect(`${path} ${response.status}`).toBe(`${path} 403`);
        expect(((await response.json()) as { error: string }).error.length).toBeGreaterThan(0);
      }
    });
  }

  test("rejected requests create no job and store no file", async () => {
    const [jobs] = await harness.db.$client`select count(*)::int as n from jobs where file_hash = 'abc'`;
    expect(jobs!.n).toBe(0);
    const fileHash = new Bun.CryptoHasher("sha256").update("Paris\n").digest("hex");
    expect((await client.request(`/files/${fileHash}`)).status).toBe(404);
  });
});
