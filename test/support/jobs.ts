// Helpers for end-to-end tests: run a worker on a harness, submit a file, wait for the job, read events.
import { DeliverPolicy } from "@nats-io/jetstream";
import { createApp } from "../../src/api/app.ts";
import { LocationIdCache } from "../../src/cache/location-ids.ts";
import type { Metrics } from "../../src/metrics.ts";
import { loadEmbeddedResolver } from "../../src/resolver/index.ts";
import { startWorker, type RunningWorker } from "../../src/worker/worker.ts";
import { testSecret, type Harness } from "./harness.ts";
import { adminToken } from "./tokens.ts";

export interface StoredEvent {
  subject: string;
  kind: string;
  payload: Record<string, unknown>;
}

/** Starts a worker on the harness's database, streams and Redis key prefix, with its own metrics when given. */
export async function startTestWorker(harness: Harness, metrics: Metrics = harness.metrics): Promise<RunningWorker> {
  const locationIds = new LocationIdCache(harness.config.redisUrl, harness.logger);
  await locationIds.connect(harness.db, harness.name);
  const worker = await startWorker({ ...harness, metrics, resolver: loadEmbeddedResolver(), locationIds });
  return {
    async stop() {
      await worker.stop();
      await locationIds.close();
    },
  };
}

/**
 * Starts the API of a harness on a free loopback port and returns the app with its base URL, for
 * clients that need a real HTTP server.
 */
export function listenTestApp(harness: Harness, options: { idleTimeout?: number } = {}) {
  const app = createApp({ ...harness, jwtSecret: testSecret });
  app.listen({ hostname: "127.0.0.1", port: 0, ...options });
  return { app, baseUrl: `http://127.0.0.1:${app.server!.port}` };
}

export class TestClient {
  readonly app: ReturnType<typeof createApp>;
  #token: Promise<string>;

  constructor(readonly harness: Harness) {
    this.app = createApp({ ...harness, jwtSecret: testSecret });
    this.#token = adminToken();
  }

  async request(path: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    headers.set("authorization", `Bearer ${await this.#token}`);
    return this.app.handle(new Request(`http://localhost${path}`, { ...init, headers }));
  }

  async upload(content: string | Uint8Array, contentType = "application/octet-stream"): Promise<string> {
    const response = await this.request("/files", { method: "POST", body: content, headers: { "content-type": contentType } });
    if (response.status !== 201) throw new Error(`upload answered ${response.status}: ${await response.text()}`);
    return ((await response.json()) as { file_hash: string }).file_hash;
  }

  async createJob(fileHash: string): Promise<string> {
    const response = await this.request("/locations/batch", {
      method: "POST",
      body: JSON.stringify({ file_hash: fileHash }),
      headers: { "content-type": "application/json" },
    });
    if (response.status !== 202) throw new Error(`create answered ${response.status}: ${await response.text()}`);
    return ((await response.json()) as { job_hash: string }).job_hash;
  }

  async status(jobHash: string): Promise<Record<string, any>> {
    return (await (await this.request(`/locations/batch/${jobHash}`)).json()) as Record<string, any>;
  }

  /** Polls until the job is complete or failed, or throws after `timeoutMs`. */
  async waitForEnd(jobHash: string, timeoutMs = 60_000): Promise<Record<string, any>> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const status = await this.status(jobHash);
      if (status.status === "complete" || status.status === "failed") return status;
      await Bun.sleep(100);
    }
    throw new Error(`job ${jobHash} did not end within ${timeoutMs} ms: ${JSON.stringify(await this.status(jobHash))}`);
  }

  async allResults(jobHash: string): Promise<any[]> {
    const rows: any[] = [];
    let path: string | null = `/locations/batch/${jobHash}/results`;
    while (path !== null) {
      const page = (await (await this.request(path)).json()) as { next: string | null; data: any[] };
      rows.push(...page.data);
      path = page.next;
    }
    return rows;
  }
}

/** Reads back every event of one job from the events stream (not a live subscription). */
export async function storedEvents(harness: Harness, jobHash: string): Promise<StoredEvent[]> {
  const { nats } = harness;
  const info = await nats.jsm.streams.info(nats.names.eventsStream);
  const consumer = await nats.js.consumers.get(nats.names.eventsStream, { deliver_policy: DeliverPolicy.All });
  const events: StoredEvent[] = [];
  const total = info.state.messages;
  if (total === 0) return events;
  const messages = await consumer.fetch({ max_messages: total, expires: 2000 });
  let seen = 0;
  for await (const msg of messages) {
    seen += 1;
    const payload = msg.json<Record<string, unknown>>();
    if (payload.job_hash === jobHash) {
      events.push({ subject: msg.subject, kind: msg.subject.split(".").at(-1)!, payload });
    }
    if (seen >= total) break;
  }
  return events;
}
