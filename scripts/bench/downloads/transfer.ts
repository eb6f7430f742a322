// Times the transfers of the downloads benchmark: one results file read to its end over HTTP, and the
// paginated results route read page by page. Each transfer samples the API's resident memory while it runs.
import { resultColumns, resultsDownloadPath, type ResultsFormat } from "../../../src/results/columns.ts";
import type { ApiClient } from "../api-client.ts";
import { MemorySampler, type MemoryFigures } from "./memory.ts";
import { startTicker } from "./ticker.ts";

const progressIntervalMs = 2000;
const newline = 0x0a;
/** Bytes kept from the start of a file, enough for the CSV header line. */
const headBytes = 1024;
/** Bytes kept from the end of a file, enough for its last line. */
const tailBytes = 4096;
const resultsPerPage = 500;
/** Maximum page count for which every page is read. For a bigger job, only `samplePages` pages are read. */
const maxFullWalkPages = 2000;
const samplePages = 200;

export interface DownloadFigures {
  format: ResultsFormat;
  bytes: number;
  lines: number;
  /** Seconds from sending the request to reading the last byte. */
  seconds: number;
  /** Seconds from sending the request to receiving the response headers. */
  headersSeconds: number;
  memory: MemoryFigures;
}

export interface PageWalkFigures {
  pagesRead: number;
  totalPages: number;
  rowsRead: number;
  /** Sum of the request times, from sending each request to reading its body. */
  requestSeconds: number;
  medianMs: number;
  p95Ms: number;
  maxMs: number;
  memory: MemoryFigures;
}

export interface TransferContext {
  client: ApiClient;
  jobHash: string;
  rows: number;
  /** The API process whose memory is sampled. */
  apiPid: number;
  label: string;
  signal: AbortSignal;
}

function elapsedLabel(startedAt: number): string {
  return `[${((performance.now() - startedAt) / 1000).toFixed(1).padStart(6)} s]`;
}

/** Counts the line feeds of a chunk. indexOf runs natively, so a 300 MB body does not cost a JavaScript loop iteration per byte. */
function countNewlines(chunk: Uint8Array): number {
  let count = 0;
  let position = chunk.indexOf(newline);
  while (position !== -1) {
    count += 1;
    position = chunk.indexOf(newline, position + 1);
  }
  return count;
}

/**
 * Returns the last 4,096 bytes of `tail` followed by `chunk`. It joins the two only when the chunk
 * alone is shorter than that.
 */
function keepTail(tail: Uint8Array, chunk: Uint8Array): Uint8Array {
  if (chunk.length >= tailBytes) return chunk.slice(chunk.length - tailBytes);
  const joined = new Uint8Array(tail.length + chunk.length);
  joined.set(tail);
  joined.set(chunk, tail.length);
  return joined.slice(Math.max(0, joined.length - tailBytes));
}

/**
 * Checks a downloaded file's line count, its end and, for CSV, its header. The seeded values contain no
 * line breaks, so every record is exactly one line. Throws an error that names the failed check.
 */
function checkDownload(format: ResultsFormat, rows: number, expectedLines: number, lines: number, head: string, tail: string): void {
  if (lines !== expectedLines) {
    throw new Error(`results.${format} has ${lines} lines, expected ${expectedLines} for ${rows} rows: the download ended early or repeated rows`);
  }
  if (!tail.endsWith("\n")) throw new Error(`results.${format} does not end with a line feed, so its last line is cut`);
  const header = resultColumns.join(",");
  if (format === "csv" && head.split("\n", 1)[0] !== header) throw new Error(`results.csv does not start with the header line ${header}`);
  const lastLine = tail.slice(0, -1).split("\n").at(-1) ?? "";
  const lastLinePrefix = format === "csv" ? `${rows},` : `{"row":${rows},`;
  if (!lastLine.startsWith(lastLinePrefix)) throw new Error(`the last line of results.${format} is not row ${rows}`);
}

/**
 * Downloads results.csv or results.ndjson and reads the body to its end, counting bytes and lines, while
 * the API's memory is sampled. Prints a progress line every 2 s. Throws on a status other than 200, on a
 * failed transfer and when checkDownload rejects the file.
 */
export async function timeDownload(context: TransferContext, format: ResultsFormat): Promise<DownloadFigures> {
  const { client, rows } = context;
  const path = resultsDownloadPath(context.jobHash, format);
  const expectedLines = format === "csv" ? rows + 1 : rows;
  const sampler = new MemorySampler(context.apiPid);
  const startedAt = performance.now();
  let bytes = 0;
  let lines = 0;
  const progressLine = () =>
    `${elapsedLabel(startedAt)} ${context.label}: results.${format} ${lines} of ${expectedLines} lines, ` +
    `${(bytes / 1e6).toFixed(1)} MB, API RSS ${(sampler.latestKiB / 1024).toFixed(1)} MiB`;
  const ticker = startTicker(progressIntervalMs, progressLine);

  try {
    const response = await fetch(`${client.baseUrl}${path}`, { headers: { authorization: `Bearer ${client.token}` }, signal: context.signal });
    const headersSeconds = (performance.now() - startedAt) / 1000;
    if (response.status !== 200 || response.body === null) {
      throw new Error(`GET ${path} returned ${response.status}: ${(await response.text()).slice(0, 300)}`);
    }
    let head: Uint8Array | null = null;
    let tail: Uint8Array = new Uint8Array(0);
    const reader = response.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      bytes += value.byteLength;
      lines += countNewlines(value);
      if (lines >= expectedLines / 2) sampler.startSecondHalf();
      head ??= value.slice(0, headBytes);
      tail = keepTail(tail, value);
    }
    const seconds = (performance.now() - startedAt) / 1000;
    const memory = sampler.stop();
    ticker.print();
    const decoder = new TextDecoder();
    checkDownload(format, rows, expectedLines, lines, decoder.decode(head ?? new Uint8Array(0)), decoder.decode(tail));
    return { format, bytes, lines, seconds, headersSeconds, memory };
  } finally {
    sampler.cancel();
    ticker.stop();
  }
}

/**
 * Returns the page numbers to read: every page when there are at most 2,000, otherwise 200 pages spread
 * evenly from the first to the last.
 */
function pagesToRead(totalPages: number): number[] {
  if (totalPages <= maxFullWalkPages) return Array.from({ length: totalPages }, (_, index) => index + 1);
  const pages = Array.from({ length: samplePages }, (_, index) => 1 + Math.round((index * (totalPages - 1)) / (samplePages - 1)));
  return [...new Set(pages)];
}

function percentile(sorted: number[], fraction: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil(fraction * sorted.length) - 1)]!;
}

/**
 * Reads results pages of 500 rows one after another, every page or a sample, while the API's memory is
 * sampled. client.timeResultsPage checks that each page contains the rows its number implies. Prints a
 * progress line every 2 s.
 */
export async function timePageWalk(context: TransferContext): Promise<PageWalkFigures> {
  const { client, rows } = context;
  const totalPages = Math.ceil(rows / resultsPerPage);
  const pages = pagesToRead(totalPages);
  const sampler = new MemorySampler(context.apiPid);
  const startedAt = performance.now();
  const latencies: number[] = [];
  const progressLine = () =>
    `${elapsedLabel(startedAt)} ${context.label}: results pages ${latencies.length} of ${pages.length} read, API RSS ${(sampler.latestKiB / 1024).toFixed(1)} MiB`;
  const ticker = startTicker(progressIntervalMs, progressLine);

  try {
    for (const [index, page] of pages.entries()) {
      context.signal.throwIfAborted();
      if (index >= pages.length / 2) sampler.startSecondHalf();
      latencies.push(await client.timeResultsPage(context.jobHash, page, rows));
    }
    const memory = sampler.stop();
    ticker.print();
    const rowsRead = pages.reduce((sum, page) => sum + Math.min(resultsPerPage, rows - (page - 1) * resultsPerPage), 0);
    const sorted = [...latencies].sort((a, b) => a - b);
    return {
      pagesRead: pages.length,
      totalPages,
      rowsRead,
      requestSeconds: latencies.reduce((sum, ms) => sum + ms, 0) / 1000,
      medianMs: percentile(sorted, 0.5),
      p95Ms: percentile(sorted, 0.95),
      maxMs: sorted.at(-1)!,
      memory,
    };
  } finally {
    sampler.cancel();
    ticker.stop();
  }
}
