// Everything a chaos run starts and creates: its own nats-server, the API and worker processes, a
// Postgres database and Redis keys under names of its own, and the cleanup that removes all of them.
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Redis from "ioredis";
import postgres from "postgres";
import { Child, freePort, NatsServer } from "./processes.ts";

const postgresAdminUrl = "postgres://postgres@127.0.0.1:5432/postgres";
const redisUrl = "redis://127.0.0.1:6379";
const redisScanCount = 1000;
const maxRedisScanRounds = 100_000;

function randomHex(bytes: number): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(bytes)), (byte) => byte.toString(16).padStart(2, "0")).join("");
}

export class ChaosEnvironment {
  /** NATS_PREFIX, the database name and the Redis key prefix. */
  readonly name = `chaos_${randomHex(5)}`;
  readonly jwtSecret = randomHex(32);
  readonly apiPort = freePort();
  readonly workDir = mkdtempSync(join(tmpdir(), `${this.name}-`));
  readonly logDir = join(this.workDir, "logs");
  readonly storeDir = join(this.workDir, "nats-store");
  readonly nats: NatsServer;
  readonly workers: Child[] = [];
  readonly admin = postgres(postgresAdminUrl, { max: 1, onnotice: () => {}, connect_timeout: 10 });
  #api: Child | null = null;
  #workersStarted = 0;
  #cleanup: Promise<boolean> | null = null;

  constructor(readonly repoRoot: string) {
    mkdirSync(this.logDir);
    mkdirSync(this.storeDir);
    this.nats = new NatsServer(freePort(), this.storeDir, join(this.logDir, "nats-server.log"));
  }

  get databaseUrl(): string {
    return `postgres://postgres@127.0.0.1:5432/${this.name}`;
  }

  get apiUrl(): string {
    return `http://127.0.0.1:${this.apiPort}`;
  }

  /** The events stream: the upper-cased NATS_PREFIX with `_EVENTS`. */
  get eventsStream(): string {
    return `${this.name.toUpperCase()}_EVENTS`;
  }

  #serviceEnv(): Record<string, string> {
    return {
      PATH: process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin",
      HOME: process.env.HOME ?? this.workDir,
      DATABASE_URL: this.databaseUrl,
      NATS_URL: this.nats.url,
      REDIS_URL: redisUrl,
      JWT_SECRET: this.jwtSecret,
      HOST: "127.0.0.1",
      PORT: String(this.apiPort),
      NATS_PREFIX: this.name,
      EVENT_SUBJECT_PREFIX: `${this.name}.location.batch`,
      // Short enough that messages held by a killed worker are delivered again within the run.
      ACK_WAIT_SECONDS: "5",
      STALLED_JOB_SECONDS: "10",
      LOG_LEVEL: "warn",
    };
  }

  #spawnService(name: string, entry: string): Child {
    const command = [process.execPath, "run", entry];
    return new Child(name, command, { cwd: this.repoRoot, env: this.#serviceEnv(), logPath: join(this.logDir, `${name}.log`) });
  }

  async startNats(): Promise<void> {
    await this.nats.start();
  }

  /** Starts the API, which also creates and migrates the database. */
  startApi(): Child {
    this.#api = this.#spawnService("api", "src/bin/api.ts");
    return this.#api;
  }

  startWorker(): Child {
    this.#workersStarted += 1;
    const worker = this.#spawnService(`worker-${this.#workersStarted}`, "src/bin/worker.ts");
    this.workers.push(worker);
    return worker;
  }

  /** Kills the longest-running live worker with SIGKILL and starts a replacement. */
  async crashWorker(): Promise<{ killed: Child; replacement: Child }> {
    const killed = this.workers.find((worker) => worker.running);
    if (!killed) throw new Error("no worker is running to be killed");
    await killed.crash();
    return { killed, replacement: this.startWorker() };
  }

  /**
   * Terminates every Postgres connection to this run's database, as a Postgres restart would end
   * them. The server is shared, so restarting it is not an option.
   */
  async terminatePostgresConnections(): Promise<number> {
    const terminated = await this.admin<{ terminated: boolean }[]>`
      select pg_terminate_backend(pid) as terminated from pg_stat_activity
      where datname = ${this.name} and pid <> pg_backend_pid()`;
    return terminated.filter((row) => row.terminated).length;
  }

  /** Why the job cannot make progress any more: no API or no worker process is running. Null while it can. */
  whyStalled(): string | null {
    if (this.#api !== null && !this.#api.running) return `the API (pid ${this.#api.pid}) has exited`;
    if (!this.workers.some((worker) => worker.running)) return "no worker process is running";
    return null;
  }

  /** Children that exited on their own, which no fault of this run explains. */
  unexpectedExits(crashed: Set<Child>): Child[] {
    const children = this.#api ? [this.#api, ...this.workers] : this.workers;
    return children.filter((child) => !child.running && !crashed.has(child));
  }

  /** Removes everything this run made; safe to call more than once. Resolves false when a step failed. */
  cleanup(): Promise<boolean> {
    this.#cleanup ??= this.#removeEverything();
    return this.#cleanup;
  }

  async #removeEverything(): Promise<boolean> {
    let clean = true;
    const step = async (what: string, action: () => Promise<unknown>) => {
      try {
        await action();
      } catch (error) {
        clean = false;
        console.error(`cleanup: could not ${what}: ${error instanceof Error ? error.message : String(error)}`);
      }
    };

    const children = this.#api ? [this.#api, ...this.workers] : [...this.workers];
    await step("stop the API and workers", () => Promise.all(children.map((child) => child.stop(5000))));
    await step("stop nats-server", () => this.nats.stop());
    await step(`remove the NATS store ${this.storeDir}`, async () => rmSync(this.storeDir, { recursive: true, force: true }));
    await step(`drop database ${this.name}`, () => this.admin.unsafe(`drop database if exists "${this.name}" with (force)`));
    await step("close the Postgres admin connection", () => this.admin.end({ timeout: 5 }));
    await step(`delete Redis keys ${this.name}:*`, () => this.#deleteRedisKeys());
    return clean;
  }

  async #deleteRedisKeys(): Promise<void> {
    const redis = new Redis(redisUrl, { lazyConnect: true, connectTimeout: 5000, maxRetriesPerRequest: 2 });
    await redis.connect();
    try {
      // The prefix is letters, digits and "_", none of them special in a SCAN pattern.
      let cursor = "0";
      let rounds = 0;
      do {
        const [next, keys] = await redis.scan(cursor, "MATCH", `${this.name}:*`, "COUNT", redisScanCount);
        if (keys.length > 0) await redis.del(...keys);
        cursor = next;
        rounds += 1;
      } while (cursor !== "0" && rounds < maxRedisScanRounds);
      if (cursor !== "0") throw new Error(`SCAN did not finish within ${maxRedisScanRounds} rounds`);
    } finally {
      redis.disconnect();
    }
  }
}
