// Recognising a fault of Postgres or NATS being unreachable or restarting, which passes once the
// server is back: the API returns 503 for such a request, and start-up waits it out.
/** postgres.js codes for a connection that failed or went away, and SQLSTATE classes 08 and 57P. */
const postgresConnectionCodes = new Set(["CONNECTION_CLOSED", "CONNECTION_ENDED", "CONNECTION_DESTROYED", "CONNECT_TIMEOUT", "ECONNREFUSED", "ECONNRESET"]);
/** nats.js errors raised while the server is unreachable or restarting. */
const natsOutageNames = new Set(["ConnectionError", "TimeoutError", "NoRespondersError", "ClosedConnectionError", "DrainingConnectionError", "RequestError"]);

/**
 * Tells whether an error comes from Postgres or NATS being unreachable or restarting, looking through
 * `cause`. The API returns 503 for such a request, since the same request succeeds once the server is back.
 */
export function isDependencyOutage(error: unknown): boolean {
  for (let current = error, depth = 0; current instanceof Error && depth < 5; current = current.cause, depth += 1) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === "string" && (postgresConnectionCodes.has(code) || code.startsWith("08") || code.startsWith("57P"))) return true;
    if (natsOutageNames.has(current.name)) return true;
  }
  return false;
}

/** Maximum time a process waits at start-up for Postgres and NATS before it gives up. */
const startupPatienceMs = 120_000;

/**
 * Runs a start-up step again while it fails because Postgres or NATS is unreachable, waiting 0.5 s,
 * 1 s, 2 s … up to 5 s between tries, for at most two minutes. Any other error is thrown at once.
 */
export async function retryWhileUnavailable<T>(what: string, step: () => Promise<T>, onRetry: (error: unknown, delayMs: number) => void): Promise<T> {
  const deadline = Date.now() + startupPatienceMs;
  for (let attempt = 0; ; attempt += 1) {
    try {
      return await step();
    } catch (error) {
      const delayMs = Math.min(500 * 2 ** attempt, 5000);
      if (!isDependencyOutage(error) || Date.now() + delayMs > deadline) {
        throw new Error(`${what} failed: ${(error as Error).message}`, { cause: error });
      }
      onRetry(error, delayMs);
      await Bun.sleep(delayMs);
    }
  }
}
