// Start-up of the benchmark's phases: a nats-server of their own, a fresh database, and the API and
// worker processes. Each thing is registered with the phase's Cleanup as it is made.
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { NatsServer } from "../chaos/nats-server.ts";
import type { Cleanup } from "../support/cleanup.ts";
import { connectPostgresAdmin, dropDatabase, serviceEnvironment, type ServiceSettings } from "../support/environment.ts";
import { Child, freePort, sleep } from "../support/processes.ts";
import type { Workspace } from "../support/run-script.ts";

export const repoRoot = new URL("../..", import.meta.url).pathname;
const stopGraceMs = 5000;
const readinessPollMs = 250;

/** Starts a nats-server with JetStream on a free loopback port and a new store directory under the workspace. */
export async function startNatsServer(cleanup: Cleanup, workspace: Workspace, label: string): Promise<NatsServer> {
  const storeDir = join(workspace.directory, `${label}-nats-store`);
  mkdirSync(storeDir);
  // Registered first, so it runs after the server has stopped.
  cleanup.add(`remove ${storeDir}`, async () => rmSync(storeDir, { recursive: true, force: true }));
  const server = new NatsServer(freePort(), storeDir, join(workspace.logDirectory, `${label}-nats-server.log`));
  cleanup.add(`stop nats-server of ${label}`, () => server.stop());
  await server.start();
  return server;
}

/** Creates an empty database, dropped again by the cleanup. The name must not contain `"`. */
export async function createDatabase(cleanup: Cleanup, databaseName: string): Promise<void> {
  cleanup.add(`drop database ${databaseName}`, async () => {
    const admin = connectPostgresAdmin();
    try {
      await dropDatabase(admin, databaseName);
    } finally {
      await admin.end({ timeout: 5 });
    }
  });
  const admin = connectPostgresAdmin();
  try {
    await admin.unsafe(`create database "${databaseName}"`);
  } finally {
    await admin.end({ timeout: 5 });
  }
}

/** The API and worker processes of one service run. */
export class ServiceProcesses {
  readonly children: Child[] = [];

  constructor(
    cleanup: Cleanup,
    readonly settings: ServiceSettings,
    readonly workspace: Workspace,
  ) {
    cleanup.add(`stop the processes of ${settings.natsPrefix}`, async () => {
      const failures = await this.stopAll();
      if (failures.length > 0) throw new Error(failures.join("; "));
    });
  }

  /** Starts `bun run <entry>` with the run's settings, its stdout and stderr in `<name>.log`. */
  start(name: string, entry: string): Child {
    const env = {
      PATH: process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin",
      HOME: process.env.HOME ?? this.workspace.directory,
      ...serviceEnvironment(this.settings),
      LOG_LEVEL: "warn",
    };
    // process.execPath runs the bun binary itself, so the child's pid is the bun process that runs the entry.
    const child = new Child(name, [process.execPath, "run", entry], {
      cwd: repoRoot,
      env,
      logPath: join(this.workspace.logDirectory, `${this.settings.natsPrefix}-${name}.log`),
    });
    this.children.push(child);
    return child;
  }

  /** Describes the first child that exited, with its status and log, or returns null while all run. */
  describeExit(): string | null {
    const exited = this.children.find((child) => !child.running);
    if (exited === undefined) return null;
    return `${exited.name} (pid ${exited.pid}) exited with ${exited.exitStatus}; see ${exited.options.logPath}`;
  }

  /** Sends SIGTERM to every child, then SIGKILL to any still running after 5 s; returns what could not be stopped. */
  async stopAll(): Promise<string[]> {
    const warnKill = (child: Child) => console.error(`${child.name} (pid ${child.pid}) did not stop within ${stopGraceMs} ms, sending SIGKILL`);
    const outcomes = await Promise.allSettled(this.children.map((child) => child.stop(stopGraceMs, warnKill)));
    return outcomes.flatMap((outcome) => (outcome.status === "rejected" ? [(outcome.reason as Error).message] : []));
  }
}

/**
 * Waits until `workers` pull requests wait on the file consumer, which each worker opens once it has
 * loaded the gazetteer and connected, so the timed job does not include a worker's start-up. The
 * count must hold on two polls in a row, because a worker may briefly hold two requests while it
 * renews one. Throws after `timeoutMs` or when a process exits.
 */
export async function waitForWorkers(processes: ServiceProcesses, natsUrl: string, workers: number, timeoutMs: number): Promise<void> {
  const connection = await connect({ servers: natsUrl, name: "bench-readiness" });
  try {
    const jsm = await jetstreamManager(connection);
    const prefix = processes.settings.natsPrefix;
    const deadline = Date.now() + timeoutMs;
    let readyPolls = 0;
    while (Date.now() < deadline) {
      const exit = processes.describeExit();
      if (exit !== null) throw new Error(`${exit} before the workers were ready`);
      const waiting = await jsm.consumers
        .info(`${prefix.toUpperCase()}_WORK`, `${prefix}_files`)
        .then((info) => info.num_waiting)
        .catch(() => 0);
      readyPolls = waiting >= workers ? readyPolls + 1 : 0;
      if (readyPolls >= 2) return;
      await sleep(readinessPollMs);
    }
    throw new Error(`fewer than ${workers} workers were pulling file messages after ${timeoutMs} ms`);
  } finally {
    await connection.close();
  }
}
