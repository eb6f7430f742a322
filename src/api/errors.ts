// Expected failures of a request, each with its HTTP status; turned into JSON responses in one place (app.ts).

export class HttpError extends Error {
  override readonly name = "HttpError";
  constructor(
    readonly status: number,
    message: string,
    readonly extra: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export const notFound = (what: string) => new HttpError(404, `${what} not found`);

/** postgres.js codes for a connection that failed or went away, and SQLSTATE classes 08 and 57P. */
const postgresConnectionCodes = new Set(["CONNECTION_CLOSED", "CONNECTION_ENDED", "CONNECTION_DESTROYED", "CONNECT_TIMEOUT", "ECONNREFUSED", "ECONNRESET"]);
/** nats.js errors raised while the server is unreachable or restarting. */
const natsOutageNames = new Set(["ConnectionError", "TimeoutError", "NoRespondersError", "ClosedConnectionError", "DrainingConnectionError", "RequestError"]);

/**
 * Tells whether an error comes from Postgres or NATS being unreachable or restarting, looking through
 * `cause`: such a request is answered 503, since the same request succeeds once the server is back.
 */
export function isDependencyOutage(error: unknown): boolean {
  for (let current = error, depth = 0; current instanceof Error && depth < 5; current = current.cause, depth += 1) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === "string" && (postgresConnectionCodes.has(code) || code.startsWith("08") || code.startsWith("57P"))) return true;
    if (natsOutageNames.has(current.name)) return true;
  }
  return false;
}
