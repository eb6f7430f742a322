// Test harness: each test gets its own Postgres database, NATS prefix (streams, consumers, bucket),
// event subjects and Redis key prefix, on the real servers, and removes them afterwards.
import { Objm } from "@nats-io/obj";
import Redis from "ioredis";
import postgres from "postgres";
import { loadConfig, type Config } from "../../src/config.ts";
import { closeDatabase, connectDatabase, migrateDatabase } from "../../src/db/client.ts";
import { FileStore } from "../../src/files/store.ts";
import { createLogger } from "../../src/log.ts";
import { createMetrics } from "../../src/metrics.ts";
import { connectNats, ensureStreams } from "../../src/nats/connection.ts";
import type { Services } from "../../src/runtime.ts";

export const testSecret = "test-secret-that-is-long-enough-for-hs256";

const adminUrl = process.env.TEST_DATABASE_ADMIN_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";

function uniqueName(): string {
  const random = crypto.getRandomValues(new Uint8Array(5));
  return `t${Date.now().toString(36)}${Array.from(random, (b) => b.toString(16).padStart(2, "0")).join("")}`;
}

export interface Harness extends Services {
  name: string;
  cleanup(): Promise<void>;
}

/** Creates a fresh database, migrates it, connects NATS with streams of the test's own names. */
export async function createHarness(overrides: Record<string, string> = {}): Promise<Harness> {
  const name = uniqueName();
  const databaseUrl = new URL(adminUrl);
  databaseUrl.pathname = `/${name}`;
  const config: Config = loadConfig({
    DATABASE_URL: databaseUrl.toString(),
    NATS_URL: process.env.NATS_URL ?? "nats://127.0.0.1:4222",
    REDIS_URL: process.env.REDIS_URL ?? "redis://127.0.0.1:6379",
    JWT_SECRET: testSecret,
    NATS_PREFIX: name,
    EVENT_SUBJECT_PREFIX: `${name}.location.batch`,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? "error",
    ACK_WAIT_SECONDS: "10",
    STALLED_JOB_SECONDS: "5",
    ...overrides,
  });
  await migrateDatabase(config.databaseUrl);
  const db = connectDatabase(config.databaseUrl);
  const nats = await connectNats(config, `test-${name}`);
  await ensureStreams(nats, config);
  const logger = createLogger(config.logLevel, `test-${name}`);
  const services: Services = { config, logger, db, nats, files: new FileStore(config, nats), metrics: createMetrics() };

  return {
    ...services,
    name,
    async cleanup() {
      const { jsm, names } = nats;
      for (const stream of [names.workStream, names.eventsStream]) {
        await jsm.streams.delete(stream).catch(() => false);
      }
      await new Objm(nats.js)
        .open(names.filesBucket)
        .then((bucket) => bucket.destroy())
        .catch(() => false);
      await nats.connection.close();
      const redis = new Redis(config.redisUrl, { lazyConnect: true });
      await redis.connect();
      let cursor = "0";
      do {
        const [next, keys] = await redis.scan(cursor, "MATCH", `${name}:*`, "COUNT", 1000);
        if (keys.length > 0) await redis.del(...keys);
        cursor = next;
      } while (cursor !== "0");
      redis.disconnect();
      await closeDatabase(db);
      const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
      try {
        await admin.unsafe(`drop database if exists "${name}" with (force)`);
      } finally {
        await admin.end();
      }
    },
  };
}
