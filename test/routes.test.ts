// The HTTP API in-process (app.handle): token rules, request validation, statuses and shapes.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createApp } from "../src/api/app.ts";
import { closeDatabase, connectDatabase } from "../src/db/client.ts";
import { insertJob } from "../src/db/jobs.ts";
import { stopApi } from "../src/runtime.ts";
import { createHarness, testSecret, type Harness } from "./support/harness.ts";
import { adminToken, now, signToken, unsignedToken } from "./support/tokens.ts";

let harness: Harness;
let app: ReturnType<typeof createApp>;
let token: string;

beforeAll(async () => {
  harness = await createHarness();
  app = createApp({ ...harness, jwtSecret: testSecret });
  token = await adminToken();
});
afterAll(async () => {
  await harness.cleanup();
});

function request(path: string, init: RequestInit & { token?: string | null } = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  const bearer = init.token === undefined ? token : init.token;
  if (bearer !== null) headers.set("authorization", `Bearer ${bearer}`);
  return app.handle(new Request(`http://localhost${path}`, { ...init, headers }));
}

function postJson(path: string, body: unknown, init: RequestInit & { token?: string | null } = {}) {
  return request(path, {
    ...init,
    method: "POST",
    body: typeof body === "string" ? body : JSON.stringify(body),
    headers: { "content-type": "application/json", ...(init.headers ?? {}) },
  });
}

describe("admin tokens", () => {
  const cases: [string, () => Promise<string | null> | string | null, Record<string, string>?][] = [
    ["no header", () => null],
    ["expired token", () => signToken({ role: "admin" }, { exp: now() - 60 })],
    ["token without exp", () => signToken({ role: "admin" }, { exp: null })],
    ["token not valid yet", () => signToken({ role: "admin" }, { nbf: now() + 600 })],
    ["wrong secret", () => signToken({ role: "admin" }, { secret: new TextEncoder().encode("another-secret-another-secret-123") })],
    ["HS512 token", () => signToken({ role: "admin" }, { alg: "HS512" })],
    ["HS384 token", () => signToken({ role: "admin" }, { alg: "HS384" })],
    ["alg none", () => unsignedToken({ role: "admin" })],
    ["garbage token", () => "not-a-jwt"],
  ];
  for (const [name, make] of cases) {
    test(`${name} gets 401 with a Bearer challenge`, async () => {
      const bearer = await make();
      const response = await request("/locations/batch/abc", { token: bearer });
      expect(response.status).toBe(401);
      expect(response.headers.get("www-authenticate")).toStartWith("Bearer");
      const body = (await response.json()) as { error: string };
      expect(body.error.length).toBeGreaterThan(0);
    });
  }

  test("header that is not Bearer gets 401", async () => {
    const response = await request("/locations/batch/abc", { token: null, headers: { authorization: `Basic ${btoa("a:b")}` } });
    expect(response.status).toBe(401);
    expect(response.headers.get("www-authenticate")).toStartWith("Bearer");
  });

  test("valid token without admin role gets 403", async () => {
    const response = await request("/locations/batch/abc", { token: await signToken({ role: "user", roles: ["reader"] }) });
    expect(response.status).toBe(403);
  });

  test("admin in roles array passes", async () => {
    const response = await request("/locations/batch/abc", { token: await signToken({ roles: ["reader", "admin"] }) });
    expect(response.status).toBe(404);
  });

  test("rejected request never reaches the handler", async () => {
    const before = await harness.db.$client`select count(*)::int as n from jobs`;
    const response = await postJson("/locations/batch", { file_hash: "abc" }, { token: await signToken({ role: "user" }) });
    expect(response.status).toBe(403);
    const after = await harness.db.$client`select count(*)::int as n from jobs`;
    expect(after[0]!.n).toBe(before[0]!.n);
  });

  test("token is checked before the body is validated", async () => {
    const response = await request("/locations/batch", { method: "POST", token: null, body: "not json" });
    expect(response.status).toBe(401);
    const query = await request("/locations/batch/abc/results?page=0", { token: await signToken({ role: "user" }) });
    expect(query.status).toBe(403);
  });

  test("bearer scheme is case-insensitive", async () => {
    const response = await request("/locations/batch/abc", { token: null, headers: { authorization: `bearer ${token}` } });
    expect(response.status).toBe(404);
  });

  test("health, metrics and swagger need no token", async () => {
    for (const path of ["/health", "/metrics", "/swagger/json"]) {
      const response = await request(path, { token: null });
      expect(response.status).toBe(200);
    }
  });
});

describe("POST /locations/batch", () => {
  test("creates a scheduled job with a Location header", async () => {
    const response = await postJson("/locations/batch", { file_hash: "abc123" });
    expect(response.status).toBe(202);
    const body = (await response.json()) as { job_hash: string; file_hash: string; status: string };
    expect(body.status).toBe("scheduled");
    expect(body.file_hash).toBe("abc123");
    expect(response.headers.get("location")).toBe(`/locations/batch/${body.job_hash}`);
    const rows = await harness.db.$client`select status from jobs where hash = ${body.job_hash}`;
    expect(rows[0]?.status).toBe("scheduled");
  });

  const bad: [string, unknown][] = [
    ["missing file_hash", {}],
    ["empty file_hash", { file_hash: "" }],
    ["path file_hash", { file_hash: "a/b" }],
    ["dot-dot file_hash", { file_hash: ".." }],
    ["long file_hash", { file_hash: "a".repeat(129) }],
    ["numeric file_hash", { file_hash: 12 }],
    ["unknown field", { file_hash: "abc", extra: 1 }],
  ];
  for (const [name, body] of bad) {
    test(`${name} gets a 4xx naming file_hash and creates no job`, async () => {
      const before = await harness.db.$client`select count(*)::int as n from jobs`;
      const response = await postJson("/locations/batch", body);
      expect([400, 422]).toContain(response.status);
      const error = ((await response.json()) as { error: string }).error;
      expect(error).toMatch(name === "unknown field" ? /extra|field|propert/i : /file_hash/);
      const after = await harness.db.$client`select count(*)::int as n from jobs`;
      expect(after[0]!.n).toBe(before[0]!.n);
    });
  }

  test("deeply nested body gets 400", async () => {
    const response = await postJson("/locations/batch", "[".repeat(50_000) + "]".repeat(50_000));
    expect(response.status).toBe(400);
  });

  test("form body gets 400", async () => {
    const response = await request("/locations/batch", {
      method: "POST",
      body: "file_hash=abc",
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
    expect(response.status).toBe(400);
  });

  test("malformed JSON gets 400", async () => {
    const response = await postJson("/locations/batch", "{not json");
    expect(response.status).toBe(400);
  });
});

describe("GET /locations/batch/:job_hash", () => {
  test("unknown job gets 404", async () => {
    const response = await request("/locations/batch/0000000000");
    expect(response.status).toBe(404);
    expect(((await response.json()) as { error: string }).error).toBe("job not found");
  });

  test("job hash with a NUL byte gets 404", async () => {
    expect((await request("/locations/batch/%00")).status).toBe(404);
    expect((await request("/locations/batch/%00/results")).status).toBe(404);
  });

  test("returns the job's status fields", async () => {
    const job = await insertJob(harness.db, "somefile");
    const response = await request(`/locations/batch/${job.hash}`);
    expect(response.status).toBe(200);
    const body = (await response.json()) as Record<string, unknown>;
    expect(Object.keys(body).sort()).toEqual(
      ["completed", "created_at", "error", "failed", "file_hash", "finished_at", "job_hash", "progress", "started_at", "status", "total_rows"].sort(),
    );
    expect(body.total_rows).toBeNull();
    expect(body.progress).toBe(0);
    expect(body.created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  });

  test("results of a job that is not complete get 409 with its status", async () => {
    const job = await insertJob(harness.db, "somefile");
    const response = await request(`/locations/batch/${job.hash}/results`);
    expect(response.status).toBe(409);
    expect(((await response.json()) as { status: string }).status).toBe("scheduled");
  });

  for (const query of ["per_page=501", "per_page=0", "page=0", "page=1.5", "per_page=abc", "status=maybe"]) {
    test(`results with ${query} gets 400`, async () => {
      const job = await insertJob(harness.db, "somefile");
      await harness.db.$client`update jobs set status = 'complete', total_rows = 0 where id = ${job.id}`;
      const response = await request(`/locations/batch/${job.hash}/results?${query}`);
      expect(response.status).toBe(400);
      expect(((await response.json()) as { error: string }).error).toMatch(/page|per_page|status/);
    });
  }
});

describe("files", () => {
  test("upload returns the SHA-256 and the same bytes come back", async () => {
    const bytes = new TextEncoder().encode("Paris\nLondon\n");
    const response = await request("/files", { method: "POST", body: bytes, headers: { "content-type": "text/csv" } });
    expect(response.status).toBe(201);
    const body = (await response.json()) as { file_hash: string; size: number };
    const expected = new Bun.CryptoHasher("sha256").update(bytes).digest("hex");
    expect(body).toEqual({ file_hash: expected, size: bytes.byteLength });
    const again = await request("/files", { method: "POST", body: bytes });
    expect(((await again.json()) as { file_hash: string }).file_hash).toBe(expected);
    const download = await request(`/files/${expected}`);
    expect(download.status).toBe(200);
    expect(await download.text()).toBe("Paris\nLondon\n");
  });

  test("file of many chunks comes back byte for byte", async () => {
    const bytes = crypto.getRandomValues(new Uint8Array(1_000_000));
    const response = await request("/files", { method: "POST", body: bytes });
    const { file_hash } = (await response.json()) as { file_hash: string };
    const download = new Uint8Array(await (await request(`/files/${file_hash}`)).arrayBuffer());
    expect(download.length).toBe(bytes.length);
    expect(Buffer.compare(download, bytes)).toBe(0);
  });

  test("multipart upload reads the file field", async () => {
    const form = new FormData();
    form.set("file", new Blob(["Berlin\n"], { type: "text/csv" }), "cities.csv");
    const response = await request("/files", { method: "POST", body: form });
    expect(response.status).toBe(201);
    const body = (await response.json()) as { file_hash: string };
    expect(body.file_hash).toBe(new Bun.CryptoHasher("sha256").update("Berlin\n").digest("hex"));
  });

  test("unknown file gets 404", async () => {
    const response = await request(`/files/${"0".repeat(64)}`);
    expect(response.status).toBe(404);
  });
});

describe("swagger", () => {
  test("documents every route with the bearer scheme", async () => {
    const response = await request("/swagger/json", { token: null });
    const document = (await response.json()) as {
      paths: Record<string, Record<string, { security?: unknown }>>;
      components: { securitySchemes: Record<string, { scheme: string }> };
    };
    expect(document.components.securitySchemes.bearerAuth?.scheme).toBe("bearer");
    for (const path of ["/locations/batch", "/locations/batch/{job_hash}", "/locations/batch/{job_hash}/results", "/files", "/files/{file_hash}", "/health", "/metrics"]) {
      expect(document.paths[path]).toBeDefined();
    }
    expect(document.paths["/locations/batch"]?.post?.security).toEqual([{ bearerAuth: [] }]);
  });

  test("UI page loads twice", async () => {
    for (let attempt = 1; attempt <= 2; attempt += 1) {
      const response = await request("/swagger", { token: null });
      expect(`attempt ${attempt}: ${response.status}`).toBe(`attempt ${attempt}: 200`);
      expect(response.headers.get("content-type")).toContain("text/html");
      expect(await response.text()).toContain("swagger-ui");
    }
  });
});

describe("dependency outage", () => {
  test("unreachable Postgres gets 503, not 500", async () => {
    const unreachable = connectDatabase("postgres://postgres@127.0.0.1:1/none", 1);
    const outageApp = createApp({ ...harness, db: unreachable, jwtSecret: testSecret });
    const response = await outageApp.handle(
      new Request("http://localhost/locations/batch/0123456789abcdef01234567", { headers: { authorization: `Bearer ${token}` } }),
    );
    expect(response.status).toBe(503);
    expect(response.headers.get("retry-after")).toBe("5");
    await closeDatabase(unreachable);
  });

  test("Postgres outage fails health, not metrics", async () => {
    const unreachable = connectDatabase("postgres://postgres@127.0.0.1:1/none", 1);
    const outageApp = createApp({ ...harness, db: unreachable, jwtSecret: testSecret });
    try {
      const health = await outageApp.handle(new Request("http://localhost/health"));
      expect(health.status).toBe(503);
      const body = (await health.json()) as { postgres: string; nats: string };
      expect(body.nats).toBe("ok");
      expect(body.postgres).not.toContain("select 1");
      expect(body.postgres).toMatch(/ECONNREFUSED|connect/i);

      const metrics = await outageApp.handle(new Request("http://localhost/metrics"));
      expect(metrics.status).toBe(200);
      expect(await metrics.text()).toContain("process_cpu_seconds_total");
    } finally {
      await closeDatabase(unreachable);
    }
  });
});

describe("shutdown", () => {
  test("stopApi closes a response that never ends", async () => {
    const app = createApp({ ...harness, jwtSecret: testSecret })
      .get("/never-ending", () => {
        // The body sends one chunk so that the headers go out, and then never ends, like a response whose
        // client stopped reading.
        let sent = false;
        const body = new ReadableStream<Uint8Array>({
          pull(controller) {
            if (sent) return new Promise<void>(() => {});
            sent = true;
            controller.enqueue(new TextEncoder().encode("first"));
          },
        });
        return new Response(body);
      })
      .listen({ hostname: "127.0.0.1", port: 0 });
    const response = await fetch(`http://127.0.0.1:${app.server!.port}/never-ending`, { headers: { authorization: `Bearer ${token}` } });
    expect(response.status).toBe(200);
    const body = response.text();

    // A graceful stop alone would wait for this response forever. stopApi closes it after its grace period.
    await stopApi(app, harness.logger);
    expect(app.server).toBeNull();
    await expect(body).rejects.toThrow();
  }, 30_000);
});
