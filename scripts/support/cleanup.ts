// Removes what a script or one of its phases created: processes, nats-server, the store directory,
// the database, streams and Redis keys. The steps run when that part ends or when the signal handler
// of runScript runs them, whichever comes first.

interface Step {
  label: string;
  action: () => Promise<unknown>;
}

/** Steps registered as things are made, run in reverse order, each once, however often `run` is called. */
export class Cleanup {
  readonly #steps: Step[] = [];
  #running: Promise<string[]> | null = null;

  /**
   * Registers a step. When cleanup has already begun, the step runs at once instead, so a resource
   * made while an interrupt is being handled is not left behind.
   */
  add(label: string, action: () => Promise<unknown>): void {
    if (this.#running === null) {
      this.#steps.push({ label, action });
      return;
    }
    void runStep({ label, action }).then((failure) => {
      if (failure !== null) console.error(`cleanup failed: ${failure}`);
    });
  }

  /** Runs every step, last registered first, and returns a message for each step that failed. */
  run(): Promise<string[]> {
    this.#running ??= (async () => {
      const failures: string[] = [];
      for (const step of this.#steps.splice(0).reverse()) {
        const failure = await runStep(step);
        if (failure !== null) failures.push(failure);
      }
      return failures;
    })();
    return this.#running;
  }
}

async function runStep(step: Step): Promise<string | null> {
  try {
    await step.action();
    return null;
  } catch (error) {
    return `${step.label}: ${error instanceof Error ? error.message : String(error)}`;
  }
}

/** Every cleanup that has not finished yet, for the signal handler of runScript. */
export const openCleanups = new Set<Cleanup>();

/** Runs `body` with a fresh Cleanup that runs when the body ends, however it ends; cleanup failures are printed. */
export async function withCleanup<T>(body: (cleanup: Cleanup) => Promise<T>): Promise<T> {
  const cleanup = new Cleanup();
  openCleanups.add(cleanup);
  try {
    return await body(cleanup);
  } finally {
    const failures = await cleanup.run();
    for (const failure of failures) console.error(`cleanup failed: ${failure}`);
    openCleanups.delete(cleanup);
  }
}
