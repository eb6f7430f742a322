// The nats-server of a chaos run: its own process with JetStream on a fixed loopback port and store
// directory, so that a fault can restart it in place while the job runs.
import { Child, loopback, sleep } from "../support/processes.ts";

/** Waits until something accepts TCP connections on the loopback port, or throws after `timeoutMs`. */
async function waitForPort(port: number, timeoutMs: number): Promise<void> {
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
