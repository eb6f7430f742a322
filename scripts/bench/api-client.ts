// The HTTP requests of a service run: upload a file, create a job, read its status, and time
// results pages. Each request carries the admin token and has a time limit.
import type { JobStatus } from "../../src/cli/client.ts";

const uploadTimeoutMs = 300_000;
const requestTimeoutMs = 30_000;

export type { JobStatus };

export class ApiClient {
  constructor(
    readonly baseUrl: string,
    readonly token: string,
  ) {}

  async #request(path: string, init: RequestInit, timeoutMs = requestTimeoutMs): Promise<Response> {
    const headers = new Headers(init.headers);
    headers.set("authorization", `Bearer ${this.token}`);
    return fetch(`${this.baseUrl}${path}`, { ...init, headers, signal: AbortSignal.timeout(timeoutMs) });
  }

  /** Uploads a file through POST /files and returns its hash. */
  async upload(bytes: Uint8Array): Promise<string> {
    const response = await this.#request("/files", { method: "POST", body: bytes, headers: { "content-type": "text/csv" } }, uploadTimeoutMs);
    if (response.status !== 201) throw new Error(`POST /files returned ${response.status}: ${await response.text()}`);
    return ((await response.json()) as { file_hash: string }).file_hash;
  }

  /** Creates a job through POST /locations/batch and returns its hash. */
  async createJob(fileHash: string): Promise<string> {
    const response = await this.#request("/locations/batch", {
      method: "POST",
      body: JSON.stringify({ file_hash: fileHash }),
      headers: { "content-type": "application/json" },
    });
    if (response.status !== 202) throw new Error(`POST /locations/batch returned ${response.status}: ${await response.text()}`);
    return ((await response.json()) as { job_hash: string }).job_hash;
  }

  async status(jobHash: string): Promise<JobStatus> {
    const response = await this.#request(`/locations/batch/${jobHash}`, {});
    if (response.status !== 200) throw new Error(`GET /locations/batch/${jobHash} returned ${response.status}: ${await response.text()}`);
    return (await response.json()) as JobStatus;
  }

  /**
   * Reads one results page of 500 rows and returns how long the request took, body included, in
   * milliseconds. Throws unless the page has the rows that its number implies.
   */
  async timeResultsPage(jobHash: string, page: number, totalRows: number): Promise<number> {
    const started = performance.now();
    const response = await this.#request(`/locations/batch/${jobHash}/results?page=${page}&per_page=500`, {});
    const text = await response.text();
    const elapsedMs = performance.now() - started;
    if (response.status !== 200) throw new Error(`results page ${page} returned ${response.status}: ${text.slice(0, 300)}`);
    const data = (JSON.parse(text) as { data?: { row?: number }[] }).data;
    const firstRow = (page - 1) * 500 + 1;
    const expectedRows = Math.max(0, Math.min(500, totalRows - firstRow + 1));
    if (!Array.isArray(data) || data.length !== expectedRows || (expectedRows > 0 && data[0]?.row !== firstRow)) {
      throw new Error(`results page ${page} does not hold rows ${firstRow} to ${firstRow + expectedRows - 1}`);
    }
    return elapsedMs;
  }
}
