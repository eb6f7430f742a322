// Everything a chaos run starts and creates: its own nats-server, the API and worker processes, a
// Postgres database and Redis keys under names of its own, and the cleanup that removes all of them.
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { connectPostgresAdmin, databaseUrl, deleteRedisKeys, dropDatabase, randomHex, serviceEnvironment } from "../support/environment.ts";
import { Child, freePort } from "../support/processes.ts";
import type { Workspace } from "../support/run-script.ts";
import { NatsServer } from "./nats-server.ts";

export class ChaosEnvironment {
  readonly jwtSecret = randomHex(32);
  readonly apiPort = freePort();
  readonly workDir: string;
  readonly logDir: string;
  readonly storeDir: string;
  readonly nats: NatsServer;
  readonly workers: Child[] = [];
  readonly admin = connectPostgresAdmin();
  #api: Child | null = null;
  #workersStarted = 0;
  #cleanup: Promise<boolean> | null = null;

  /** `name` is used as NATS_PREFIX, database name and Redis key prefix. */
  constructor(
    readonly repoRoot: string,
    readonly name: string,
    workspace: Workspace,
  ) {
    this.workDir = workspace.directory;
    this.logDir = workspace.logDirectory;
    this.storeDir = join(this.workDir, "nats-store");
    mkdirSync(this.storeDir);
    this.nats = new NatsServer(freePort(), this.storeDir, join(this.logDir, "nats-server.log"));
  }

  get databaseUrl(): string {
    return databaseUrl(this.name);
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
      ...serviceEnvironment({
        databaseName: this.name,
        natsPrefix: this.name,
        natsUrl: this.nats.url,
        jwtSecret: this.jwtSecret,
        apiPort: this.apiPort,
      }),
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
    await step(`drop database ${this.name}`, () => dropDatabase(this.admin, this.name));
    await step("close the Postgres admin connection", () => this.admin.end({ timeout: 5 }));
    await step(`delete Redis keys ${this.name}:*`, () => deleteRedisKeys(this.name));
    return clean;
  }
}
