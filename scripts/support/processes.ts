// Child processes of the chaos and load scripts, and the waits around them. Each child is started
// with Bun.spawn, writes its output to log files of its own, and is stopped through its own
// Subprocess handle, so a signal only ever reaches a PID that the script started.
import { closeSync, openSync } from "node:fs";
import type { Subprocess } from "bun";

/** Every process and service that the scripts use listens on loopback. */
export const loopback = "127.0.0.1";
const healthPollMs = 250;
const healthRequestTimeoutMs = 2000;
const killWaitMs = 5000;

/** Resolves after `ms`, or at once when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done);
  });
}

/** Finds a free loopback port by listening on port 0 and closing the listener again. */
export function freePort(): number {
  const listener = Bun.listen({ hostname: loopback, port: 0, socket: { data() {} } });
  const port = listener.port;
  listener.stop(true);
  return port;
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
  /** An undefined value leaves the variable out of the child's environment. */
  env: Record<string, string | undefined>;
  /** Output is appended, so a process started again under the same name keeps one log. */
  logPath: string;
  /** File that stderr is appended to, apart from stdout. Without it, both go to `logPath`. */
  errorLogPath?: string;
}

/** One child process started by a script. */
export class Child {
  readonly #process: Subprocess;

  constructor(
    readonly name: string,
    command: string[],
    readonly options: SpawnOptions,
  ) {
    const log = openSync(options.logPath, "a");
    let errorLog = log;
    try {
      if (options.errorLogPath !== undefined) errorLog = openSync(options.errorLogPath, "a");
      this.#process = Bun.spawn(command, { cwd: options.cwd, env: options.env, stdin: "ignore", stdout: log, stderr: errorLog });
    } finally {
      // The child has its own copies of the descriptors.
      closeSync(log);
      if (errorLog !== log) closeSync(errorLog);
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

  /** Exit description of the process, as `exit code 1` or `signal SIGKILL`; null while it runs. */
  get exitStatus(): string | null {
    if (this.#process.signalCode !== null) return `signal ${this.#process.signalCode}`;
    if (this.#process.exitCode !== null) return `exit code ${this.#process.exitCode}`;
    return null;
  }

  /** Kills the process with SIGKILL, as a crash would, and waits for it to be gone. */
  async crash(): Promise<void> {
    if (!this.running) return;
    this.#process.kill("SIGKILL");
    await settlesWithin(this.#process.exited, killWaitMs);
  }

  /**
   * Sends SIGTERM, and SIGKILL when the process has not exited after `graceMs`, calling
   * `onGraceExpired` just before. Throws when the process is still running 5 s after SIGKILL.
   */
  async stop(graceMs = 5000, onGraceExpired?: (child: Child) => void): Promise<void> {
    if (!this.running) return;
    this.#process.kill("SIGTERM");
    if (await settlesWithin(this.#process.exited, graceMs)) return;
    if (this.running) {
      onGraceExpired?.(this);
      this.#process.kill("SIGKILL");
    }
    if (!(await settlesWithin(this.#process.exited, killWaitMs))) {
      throw new Error(`${this.name} (pid ${this.pid}) did not exit ${killWaitMs / 1000} s after SIGKILL`);
    }
  }
}

export interface HealthWait {
  timeoutMs: number;
  /** Processes whose exit ends the wait at once, since the API cannot become healthy without them. */
  children?: Child[];
  /** Ends the wait early, without an error. */
  signal?: AbortSignal;
}

/**
 * Waits for GET /health to return 200. Throws after `timeoutMs`, or as soon as one of `children`
 * has exited. Returns when `signal` aborts, so the caller checks the signal.
 */
export async function waitForHealthy(baseUrl: string, wait: HealthWait): Promise<void> {
  const deadline = Date.now() + wait.timeoutMs;
  let last = "no response";
  while (Date.now() < deadline) {
    if (wait.signal?.aborted) return;
    const exited = wait.children?.find((child) => !child.running);
    if (exited) throw new Error(`${exited.name} exited with ${exited.exitStatus} before the API was healthy`);
    try {
      const response = await fetch(`${baseUrl}/health`, { signal: AbortSignal.timeout(healthRequestTimeoutMs) });
      if (response.status === 200) return;
      last = `${response.status} ${await response.text()}`;
    } catch (error) {
      last = String(error);
    }
    await sleep(healthPollMs, wait.signal);
  }
  throw new Error(`GET ${baseUrl}/health did not return 200 within ${wait.timeoutMs} ms; last: ${last}`);
}
