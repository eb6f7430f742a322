// A small HTTP client of the service's API for the command line: upload, create, poll, page through results.
import type { Static } from "@sinclair/typebox";
import type { JobStatusBody, ResultEntryBody } from "../api/schemas.ts";

export class ApiError extends Error {
  override readonly name = "ApiError";
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

/** A job's status as GET /locations/batch/{job_hash} returns it. */
export type JobStatus = Static<typeof JobStatusBody>;

/** One row of a job's results as the results pages return it. */
export type ResultEntry = Static<typeof ResultEntryBody>;

interface ResultsPage {
  total_pages: number;
  next: string | null;
  data: ResultEntry[];
}

export class ApiClient {
  constructor(readonly baseUrl: string, readonly token: string) {}

  async #request(path: string, init: RequestInit = {}): Promise<unknown> {
    const headers = new Headers(init.headers);
    headers.set("authorization", `Bearer ${this.token}`);
    let response: Response;
    try {
      response = await fetch(new URL(path, this.baseUrl), { ...init, headers });
    } catch (error) {
      throw new ApiError(0, `could not reach ${this.baseUrl}: ${(error as Error).message}; is the service running?`);
    }
    const text = await response.text();
    let body: unknown = null;
    try {
      body = text ? JSON.parse(text) : null;
    } catch {
      body = null;
    }
    if (!response.ok) {
      const reason = (body as { error?: string } | null)?.error ?? (text.slice(0, 200) || response.statusText);
      throw new ApiError(response.status, `${init.method ?? "GET"} ${path} returned ${response.status}: ${reason}`);
    }
    return body;
  }

  async uploadFile(path: string): Promise<{ file_hash: string; size: number }> {
    const file = Bun.file(path);
    const contentType = path.toLowerCase().endsWith(".json") ? "application/json" : path.toLowerCase().endsWith(".csv") ? "text/csv" : "application/octet-stream";
    return (await this.#request("/files", { method: "POST", body: file, headers: { "content-type": contentType } })) as {
      file_hash: string;
      size: number;
    };
  }

  async createJob(fileHash: string): Promise<{ job_hash: string }> {
    return (await this.#request("/locations/batch", {
      method: "POST",
      body: JSON.stringify({ file_hash: fileHash }),
      headers: { "content-type": "application/json" },
    })) as { job_hash: string };
  }

  async jobStatus(jobHash: string): Promise<JobStatus> {
    return (await this.#request(`/locations/batch/${encodeURIComponent(jobHash)}`)) as JobStatus;
  }

  /** Yields every result of a complete job, page by page, in file order. */
  async *results(jobHash: string): AsyncGenerator<ResultEntry> {
    let path: string | null = `/locations/batch/${encodeURIComponent(jobHash)}/results?page=1&per_page=500`;
    while (path !== null) {
      const page = (await this.#request(path)) as ResultsPage;
      yield* page.data;
      path = page.next;
    }
  }
}
