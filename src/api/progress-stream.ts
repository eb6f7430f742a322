// Building blocks of a progress stream: one client's stream, the state of a watched job that its
// clients share, and the Server-Sent Events message format.
import type { JobRow } from "../db/schema.ts";
import type { EventKind, EventPayload } from "../nats/events.ts";
import { RowSet } from "./row-set.ts";
import { jobStatusBody } from "./routes/batch.ts";

export type JobStatus = ReturnType<typeof jobStatusBody>;
export type ProgressEvent = { [K in EventKind]: { kind: K; payload: EventPayload<K> } }[EventKind];

const encoder = new TextEncoder();
export const keepAliveComment = ": keep-alive\n\n";
/**
 * Maximum progress messages queued unread for one client. Further messages are skipped until the client
 * reads, which loses nothing because each message repeats the whole state.
 */
const maxQueuedMessages = 16;

/** Formats one Server-Sent Events message carrying a job's status. */
export function progressMessage(status: JobStatus): string {
  return `event: progress\ndata: ${JSON.stringify(status)}\n\n`;
}

/** Makes a stream that carries one message and ends, for a job that had ended before its client connected. */
export function singleMessageStream(message: string): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(encoder.encode(message));
      controller.close();
    },
  });
}

export function isFinal(status: JobRow["status"]): boolean {
  return status === "complete" || status === "failed";
}

/** One client's stream. */
export class ProgressClient {
  lastWriteAt = Date.now();
  #closed = false;
  #lastMessage: string | null = null;

  constructor(private readonly controller: ReadableStreamDefaultController<Uint8Array>) {}

  /**
   * Queues a chunk unless the client already has `maxQueuedMessages` unread. The next message makes up
   * for a skipped one, because it carries the full state.
   */
  offer(text: string): void {
    if ((this.controller.desiredSize ?? 0) <= -maxQueuedMessages) return;
    this.write(text);
  }

  write(text: string): void {
    if (this.#closed) return;
    // A message equal to the last one sent to this client (as after a resync that changed nothing) is not sent again.
    if (text !== keepAliveComment) {
      if (text === this.#lastMessage) return;
      this.#lastMessage = text;
    }
    try {
      this.controller.enqueue(encoder.encode(text));
      this.lastWriteAt = Date.now();
    } catch (error) {
      // Only a stream already closed or cancelled rejects a chunk. Its cancel handler detaches the client.
      if (!(error instanceof TypeError)) throw error;
      this.#closed = true;
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.controller.close();
    } catch (error) {
      if (!(error instanceof TypeError)) throw error;
    }
  }
}

export type Phase = "loading" | "live" | "ending" | "ended";

/** The state of one watched job, shared by all its clients. */
export class JobWatch {
  phase: Phase = "loading";
  readonly clients = new Set<ProgressClient>();
  /** Requests waiting for the first read, counted so the job is not dropped under them. */
  attaching = 0;
  ready: Promise<boolean> = Promise.resolve(false);
  /** The job as last read. The fields `completed` and `failed` below supersede its counts. */
  job: JobRow | null = null;
  completed = 0;
  failed = 0;
  readonly rows: RowSet;
  /** Events that arrived while the first read ran, applied once it returns. */
  pending: ProgressEvent[] = [];
  totalRowsReread = false;
  checking = false;
  /** When the job was last read from the database. */
  lastReadAt = Date.now();
  lastBroadcastAt = 0;
  lastMessage: string | null = null;
  broadcastTimer: ReturnType<typeof setTimeout> | null = null;
  finalMessage: string | null = null;

  constructor(
    readonly jobHash: string,
    maxRow: number,
  ) {
    this.rows = new RowSet(maxRow);
  }

  /** Returns the status as clients see it, with counts clamped to total_rows. */
  status(): JobStatus {
    const job = this.job!;
    let completed = this.completed;
    let failed = this.failed;
    if (job.totalRows !== null) {
      completed = Math.min(completed, job.totalRows);
      failed = Math.min(failed, job.totalRows - completed);
    }
    return jobStatusBody({ ...job, completed, failed });
  }
}
