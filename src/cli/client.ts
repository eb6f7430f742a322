// HTTP client of the service's API for the command line: upload a file, create a job, poll its status,
// download its results.
import type { Static } from "@sinclair/typebox";
import type { JobStatusBody } from "../api/schemas.ts";
import { resultsDownloadPath, type ResultsFormat } from "../results/columns.ts";

/** Error of a failed API request. `status` is the HTTP status, or 0 when no response came (unreachable or timed out). */
export class ApiError extends Error {
  override readonly name = "ApiError";
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** Returns whether retrying the request may succeed: true for no response and for status 502, 503 or 504. */
export function isTransient(error: unknown): boolean {
  return error instanceof ApiError && (error.status === 0 || error.status === 502 || error.status === 503 || error.status === 504);
}

/** A job's status as GET /locations/batch/{job_hash} returns it. */
export type JobStatus = Static<typeof JobStatusBody>;

/** Timeout of a status request, in ms. A request that takes longer is aborted and counts as no response. */
const statusTimeoutMs = 30_000;

export class ApiClient {
  constructor(
    readonly baseUrl: string,
    readonly token: string,
  ) {}

  /** Sends a request with the token and returns the response. Throws ApiError when no response comes or the status is not 2xx. */
  async #send(path: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    headers.set("authorization", `Bearer ${this.token}`);
    let response: Response;
    try {
      response = await fetch(new URL(path, this.baseUrl), { ...init, headers });
    } catch (error) {
      const reason = error instanceof DOMException && error.name === "TimeoutError" ? "timed out" : (error as Error).message;
      // Some of Bun's messages already end in a question mark or full stop.
      const sentence = /[.?!]$/.test(reason) ? reason : `${reason}.`;
      throw new ApiError(0, `could not reach ${this.baseUrl}: ${sentence} Check that the service runs at that URL (--url or LOCATION_BATCH_URL)`);
    }
    if (response.ok) return response;

    const text = await response.text();
    let reason = text.slice(0, 200) || response.statusText;
    try {
      const body = JSON.parse(text) as { error?: unknown };
      if (typeof body?.error === "string") reason = body.error;
    } catch {
      // The body is not JSON (a proxy's error page, say), so the start of the text is the reason.
    }
    throw new ApiError(response.status, `${init.method ?? "GET"} ${path} returned ${response.status}: ${reason}`);
  }

  async #json<T>(path: string, init: RequestInit = {}): Promise<T> {
    const response = await this.#send(path, init);
    return (await response.json()) as T;
  }

  async uploadFile(path: string): Promise<{ file_hash: string; size: number }> {
    const file = Bun.file(path);
    const lowerPath = path.toLowerCase();
    const contentType = lowerPath.endsWith(".json") ? "application/json" : lowerPath.endsWith(".csv") ? "text/csv" : "application/octet-stream";
    return this.#json("/files", { method: "POST", body: file, headers: { "content-type": contentType } });
  }

  async createJob(fileHash: string): Promise<{ job_hash: string }> {
    return this.#json("/locations/batch", {
      method: "POST",
      body: JSON.stringify({ file_hash: fileHash }),
      headers: { "content-type": "application/json" },
    });
  }

  async jobStatus(jobHash: string): Promise<JobStatus> {
    return this.#json(`/locations/batch/${encodeURIComponent(jobHash)}`, { signal: AbortSignal.timeout(statusTimeoutMs) });
  }

  /**
   * Starts the download of a complete job's results and returns the response with its body unread,
   * so the caller can stream it to disk. Throws ApiError 409 for a job that is not complete.
   */
  async downloadResults(jobHash: string, format: ResultsFormat): Promise<Response> {
    return this.#send(resultsDownloadPath(jobHash, format));
  }
}
