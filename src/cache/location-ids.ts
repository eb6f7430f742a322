// A Redis cache of location_hash -> locations.id shared by every worker, so a batch whose places
// are already known skips the locations upsert. Postgres stays the source of truth: on any Redis
// fault the cache reports misses and the row stage upserts as if it were empty.
import Redis from "ioredis";
import { sql } from "drizzle-orm";
import type { Database } from "../db/client.ts";
import { describeError, type Logger } from "../log.ts";

/** Entries expire a day after they are written, so the cache contains the places that recent jobs met. */
const entryTtlSeconds = 24 * 3600;
/** Commands give up quickly, so a Redis outage slows a batch by at most this much. */
const commandTimeoutMs = 500;
const warnEveryMs = 30_000;

export class LocationIdCache {
  readonly #redis: Redis;
  readonly #logger: Logger;
  #namespace: string | null = null;
  #lastWarning = 0;

  constructor(redisUrl: string, logger: Logger) {
    this.#logger = logger;
    this.#redis = new Redis(redisUrl, {
      lazyConnect: true,
      maxRetriesPerRequest: 1,
      enableOfflineQueue: false,
      commandTimeout: commandTimeoutMs,
    });
    this.#redis.on("error", (error) => this.#warn("redis connection error", error));
  }

  #warn(message: string, error: unknown): void {
    if (Date.now() - this.#lastWarning < warnEveryMs) return;
    this.#lastWarning = Date.now();
    this.#logger.warn({ err: describeError(error) }, `${message}; the location id cache is bypassed`);
  }

  /**
   * Keys carry the database's system identifier and OID, because ids are only meaningful within one
   * database: a database dropped and created again under the same name gets a new OID.
   */
  async connect(db: Database, prefix: string): Promise<void> {
    const [identity] = await db.execute<{ system: string; oid: string }>(sql`
      select (select system_identifier::text from pg_control_system()) as system,
             (select oid::text from pg_database where datname = current_database()) as oid`);
    this.#namespace = `${prefix}:locid:${identity?.system}:${identity?.oid}:`;
    try {
      await this.#redis.connect();
    } catch (error) {
      this.#warn("could not connect to redis", error);
    }
  }

  async get(hashes: string[]): Promise<Map<string, number>> {
    const found = new Map<string, number>();
    if (this.#namespace === null || hashes.length === 0 || this.#redis.status !== "ready") return found;
    try {
      const values = await this.#redis.mget(hashes.map((hash) => this.#namespace + hash));
      values.forEach((value, index) => {
        if (value !== null) found.set(hashes[index]!, Number(value));
      });
    } catch (error) {
      this.#warn("redis read failed", error);
    }
    return found;
  }

  async set(ids: Map<string, number>): Promise<void> {
    if (this.#namespace === null || ids.size === 0 || this.#redis.status !== "ready") return;
    try {
      const pipeline = this.#redis.pipeline();
      for (const [hash, id] of ids) pipeline.set(this.#namespace + hash, String(id), "EX", entryTtlSeconds);
      await pipeline.exec();
    } catch (error) {
      this.#warn("redis write failed", error);
    }
  }

  async close(): Promise<void> {
    this.#redis.disconnect();
  }
}
