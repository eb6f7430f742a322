// Child processes of a chaos run. Each one is started with Bun.spawn, writes its stdout and stderr
// to its own log file, and is stopped through its own Subprocess handle, so a signal only ever
// reaches a PID this run started.
import { closeSync, openSync } from "node:fs";
import type { Subprocess } from "bun";

const loopback = "127.0.0.1";

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Finds a free loopback port by listening on port 0 and closing the listener again. */
export function freePort(): number {
  const listener = Bun.listen({ hostname: loopback, port: 0, socket: { data() {} } });
  const port = listener.port;
  listener.stop(true);
  return port;
}

/** Waits until something accepts TCP connections on the loopback port, or throws after `timeoutMs`. */
export async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const socket = await Bun.connect({ hostname: loopback, port, socket: { data() {} } });
      socket.end();
      return;
    } catch {
      await sleep(100);
    }
  }
  throw new Error(`nothing accepted connections on ${loopback}:${port} within ${timeoutMs} ms`);
}

/** Resolves true when the promise settles within `ms`, false when the time runs out first. */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([promise.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export interface SpawnOptions {
  cwd: string;
  env: Record<string, string>;
  /** Output is appended, so a process started again under the same name keeps one log. */
  logPath: string;
}

/** One child process started by this run. */
export class Child {
  readonly #process: Subprocess;

  constructor(
    readonly name: string,
    command: string[],
    readonly options: SpawnOptions,
  ) {
    const log = openSync(options.logPath, "a");
    try {
      this.#process = Bun.spawn(command, { cwd: options.cwd, env: options.env, stdin: "ignore", stdout: log, stderr: log });
    } finally {
      // The child has its own copy of the descriptor.
      closeSync(log);
    }
  }

  get pid(): number {
    return this.#process.pid;
  }

  get running(): boolean {
    return this.#process.exitCode === null && this.#process.signalCode === null;
  }

  get exited(): Promise<number> {
    return this.#process.exited;
  }

  /** How the process ended, as `exit code 1` or `signal SIGKILL`; null while it runs. */
  get exitStatus(): string | null {
    if (this.#process.signalCode !== null) return `signal ${this.#process.signalCode}`;
    if (this.#process.exitCode !== null) return `exit code ${this.#process.exitCode}`;
    return null;
  }

  /** Kills the process with SIGKILL, as a crash would, and waits for it to be gone. */
  async crash(): Promise<void> {
    if (!this.running) return;
    this.#process.kill("SIGKILL");
    await settlesWithin(this.#process.exited, 5000);
  }

  /** Sends SIGTERM, and SIGKILL when the process has not exited after `graceMs`. */
  async stop(graceMs = 5000): Promise<void> {
    if (!this.running) return;
    this.#process.kill("SIGTERM");
    if (await settlesWithin(this.#process.exited, graceMs)) return;
    if (this.running) this.#process.kill("SIGKILL");
    if (!(await settlesWithin(this.#process.exited, 5000))) {
      throw new Error(`${this.name} (pid ${this.pid}) did not exit 5 s after SIGKILL`);
    }
  }
}

/** A nats-server with JetStream on a fixed loopback port and store directory, so it can be restarted in place. */
export class NatsServer {
  #child: Child | null = null;

  constructor(
    readonly port: number,
    readonly storeDir: string,
    readonly logPath: string,
    readonly binary = "/usr/sbin/nats-server",
  ) {}

  get url(): string {
    return `nats://${loopback}:${this.port}`;
  }

  get pid(): number | null {
    return this.#child?.pid ?? null;
  }

  async start(): Promise<void> {
    if (this.#child?.running) throw new Error(`nats-server is already running (pid ${this.#child.pid})`);
    const command = [this.binary, "-a", loopback, "-p", String(this.port), "-js", "-sd", this.storeDir];
    this.#child = new Child("nats-server", command, { cwd: this.storeDir, env: {}, logPath: this.logPath });
    await waitForPort(this.port, 15_000);
  }

  async stop(): Promise<void> {
    await this.#child?.stop();
  }

  /** Stops the server with SIGTERM, waits `downMs`, and starts it again on the same port and store. */
  async restart(downMs: number): Promise<void> {
    await this.stop();
    await sleep(downMs);
    await this.start();
  }
}
