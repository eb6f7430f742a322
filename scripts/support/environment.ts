// Postgres and Redis on loopback, which the chaos and load scripts share with everything else on
// the machine. It builds the settings that the scripts' API and worker processes start with, and
// removes what a run created there under a name of its own.
import Redis from "ioredis";
import postgres from "postgres";
import { loopback } from "./processes.ts";

export const postgresAdminUrl = `postgres://postgres@${loopback}:5432/postgres`;
export const redisUrl = `redis://${loopback}:6379`;
const redisScanCount = 1000;
const maxRedisScanRounds = 100_000;

export function randomHex(bytes: number): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(bytes)), (byte) => byte.toString(16).padStart(2, "0")).join("");
}

export function databaseUrl(databaseName: string): string {
  return `postgres://postgres@${loopback}:5432/${databaseName}`;
}

/** Names and port that keep one run's API and workers apart from every other user of the shared services. */
export interface ServiceSettings {
  databaseName: string;
  /** NATS_PREFIX, which also names the streams, the files bucket and the Redis keys. */
  natsPrefix: string;
  natsUrl: string;
  jwtSecret: string;
  apiPort: number;
}

/** Environment variables that point an API or worker process at the run's database, NATS, Redis and port. */
export function serviceEnvironment(settings: ServiceSettings): Record<string, string> {
  return {
    DATABASE_URL: databaseUrl(settings.databaseName),
    NATS_URL: settings.natsUrl,
    REDIS_URL: redisUrl,
    JWT_SECRET: settings.jwtSecret,
    HOST: loopback,
    PORT: String(settings.apiPort),
    NATS_PREFIX: settings.natsPrefix,
    EVENT_SUBJECT_PREFIX: `${settings.natsPrefix}.location.batch`,
    // Several workers run on one host, where only the first could bind a metrics port, so the worker
    // endpoint is off. The API's /metrics still reports the job, row and queue figures of all workers.
    WORKER_METRICS_PORT: "0",
  };
}

/** Opens one connection to the `postgres` database, for creating and dropping a run's database. */
export function connectPostgresAdmin(): postgres.Sql {
  return postgres(postgresAdminUrl, { max: 1, onnotice: () => {}, connect_timeout: 10 });
}

/** Drops the database, ending any connection still open to it. The name is quoted, so it must not contain `"`. */
export async function dropDatabase(admin: postgres.Sql, databaseName: string): Promise<void> {
  await admin.unsafe(`drop database if exists "${databaseName}" with (force)`);
}

/** Deletes every Redis key under `${prefix}:`. Throws when SCAN has not finished after its round limit. */
export async function deleteRedisKeys(prefix: string): Promise<void> {
  const redis = new Redis(redisUrl, { lazyConnect: true, connectTimeout: 5000, maxRetriesPerRequest: 2 });
  try {
    await redis.connect();
    // The prefix is letters, digits and "_", none of them special in a SCAN pattern.
    let cursor = "0";
    let rounds = 0;
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", redisScanCount);
      if (keys.length > 0) await redis.del(...keys);
      cursor = next;
      rounds += 1;
    } while (cursor !== "0" && rounds < maxRedisScanRounds);
    if (cursor !== "0") throw new Error(`SCAN did not finish within ${maxRedisScanRounds} rounds`);
  } finally {
    redis.disconnect();
  }
}
