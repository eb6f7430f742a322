// HTTP client of a chaos run. It counts every response by status, and counts requests that got no
// response at all (refused, reset, timed out) apart, since those are not responses of the API.

const requestTimeoutMs = 5000;
/** Server errors kept with their path and body, as evidence for the report. */
const keptServerErrors = 5;

export interface ServerError {
  method: string;
  path: string;
  status: number;
  body: string;
}

export class ApiClient {
  readonly statusCounts = new Map<number, number>();
  readonly serverErrors: ServerError[] = [];
  networkErrors = 0;

  constructor(
    readonly baseUrl: string,
    readonly token: string,
  ) {}

  /** Sends one request with the admin token; returns null when no response arrived. */
  async request(path: string, init: RequestInit = {}): Promise<Response | null> {
    const headers = new Headers(init.headers);
    headers.set("authorization", `Bearer ${this.token}`);
    const method = init.method ?? "GET";
    let response: Response;
    try {
      response = await fetch(`${this.baseUrl}${path}`, { ...init, headers, signal: AbortSignal.timeout(requestTimeoutMs) });
    } catch {
      this.networkErrors += 1;
      return null;
    }
    this.statusCounts.set(response.status, (this.statusCounts.get(response.status) ?? 0) + 1);
    if (response.status >= 500 && response.status !== 503 && this.serverErrors.length < keptServerErrors) {
      const body = await response.clone().text().catch((error: unknown) => `(body unreadable: ${String(error)})`);
      this.serverErrors.push({ method, path, status: response.status, body: body.slice(0, 300) });
    }
    return response;
  }

  /** Statuses in ascending order, as `200×812 503×4`. */
  describeStatuses(): string {
    const entries = [...this.statusCounts.entries()].sort(([a], [b]) => a - b);
    return entries.length === 0 ? "none" : entries.map(([status, count]) => `${status}×${count}`).join(" ");
  }

  /** Counts responses with a 5xx status other than 503, which is the only server error the API may return under faults. */
  unexpectedServerErrors(): number {
    let count = 0;
    for (const [status, n] of this.statusCounts) {
      if (status >= 500 && status !== 503) count += n;
    }
    return count;
  }
}
