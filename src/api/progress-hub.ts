// Progress hub of one API process. It keeps one core NATS subscription to the event subjects while any
// job is watched, and one state per watched job that all its Server-Sent Events clients share. Counts
// move with the tick and error events, so a watched job costs about three database reads plus one every
// 10 s, however many clients watch it and however many events it has.
import type { Msg, Status, Subscription } from "@nats-io/nats-core";
import { Value } from "@sinclair/typebox/value";
// Elysia registers the date-time format that the events' timestamp schema uses. Without it, TypeBox's
// Value.Check rejects every event.
import "elysia";
import type { ProgressSnapshot } from "../db/progress.ts";
import { describeError, type Logger } from "../log.ts";
import type { Nats } from "../nats/connection.ts";
import { eventSchemas, type EventKind } from "../nats/events.ts";
import { HttpError } from "./errors.ts";
import {
  isFinal,
  JobWatch,
  keepAliveComment,
  ProgressClient,
  progressMessage,
  singleMessageStream,
  type JobStatus,
  type ProgressEvent,
} from "./progress-stream.ts";
import { jobStatusBody } from "./routes/batch.ts";

type TerminalEvent = Extract<ProgressEvent, { kind: "completed" | "failed" }>;

export interface ProgressHubDeps {
  nats: Nats;
  logger: Logger;
  /**
   * Reads a job, or returns null for an unknown job. With `rowsSeen`, it calls `rowsSeen` after the job
   * row is read and also returns which of the listed rows the job has recorded, from the same snapshot.
   */
  readSnapshot(jobHash: string, rowsSeen?: () => readonly number[]): Promise<ProgressSnapshot | null>;
  /** Highest row number whose events are counted (MAX_ROWS). It bounds the memory of a job's row set. */
  maxRowsPerFile: number;
  /** Minimum interval between two progress messages of one job, 250 ms by default (about 4 a second). */
  throttleMs?: number;
  /** Maximum interval without a byte written to a client, 15 s by default. */
  keepAliveMs?: number;
  /**
   * Interval between two reads of a watched job, 10 s by default. The database's counts win when they are
   * ahead, which catches up with events a NATS reconnect lost, and a final status ends a job whose
   * terminal event was lost.
   */
  resyncMs?: number;
}

const decoder = new TextDecoder();
const shuttingDown = "the server is shutting down, so reconnect in a few seconds or to another instance";

export class ProgressHub {
  readonly #deps: ProgressHubDeps;
  readonly #throttleMs: number;
  readonly #keepAliveMs: number;
  readonly #resyncMs: number;
  readonly #log: Logger;
  readonly #jobs = new Map<string, JobWatch>();
  readonly #kindOfSubject: Map<string, EventKind>;
  #subscription: Subscription | null = null;
  #statuses: AsyncIterator<Status> | null = null;
  #subscribed: Promise<void> | null = null;
  #timer: ReturnType<typeof setInterval> | null = null;
  #databaseReads = 0;
  #malformedEvents = 0;
  #closed = false;

  constructor(deps: ProgressHubDeps) {
    this.#deps = deps;
    this.#throttleMs = deps.throttleMs ?? 250;
    this.#keepAliveMs = deps.keepAliveMs ?? 15_000;
    this.#resyncMs = deps.resyncMs ?? 10_000;
    this.#log = deps.logger.child({ component: "progress-hub" });
    const kinds = Object.keys(eventSchemas) as EventKind[];
    this.#kindOfSubject = new Map(kinds.map((kind) => [deps.nats.names.eventSubject(kind), kind]));
  }

  /** Number of open NATS subscriptions of the hub, 1 while any job is watched and 0 otherwise. */
  get subscriptionCount(): number {
    return this.#subscription === null ? 0 : 1;
  }

  get watchedJobCount(): number {
    return this.#jobs.size;
  }

  clientCount(jobHash: string): number {
    return this.#jobs.get(jobHash)?.clients.size ?? 0;
  }

  /** Database reads made since the hub was created, over all jobs and clients. */
  get databaseReads(): number {
    return this.#databaseReads;
  }

  /**
   * Opens a progress stream of a job. The stream sends the current status at once, then a message on
   * each change (at most one per throttle interval), and a last message when the job ends, after which
   * it closes. Returns null for an unknown job, and throws HttpError 503 once the hub is closed.
   * Aborting `signal` or cancelling the stream detaches the client.
   */
  async open(jobHash: string, signal?: AbortSignal): Promise<ReadableStream<Uint8Array> | null> {
    if (this.#closed) throw new HttpError(503, shuttingDown);
    let watch = this.#jobs.get(jobHash);
    if (watch === undefined) {
      watch = new JobWatch(jobHash, this.#deps.maxRowsPerFile);
      this.#jobs.set(jobHash, watch);
      watch.ready = this.#load(watch);
    }
    watch.attaching += 1;
    let found: boolean;
    try {
      found = await watch.ready;
    } finally {
      watch.attaching -= 1;
    }
    if (!found) return null;
    return this.#attach(watch, signal);
  }

  /** Ends every stream and drops the subscription. The API calls it when it shuts down. */
  close(): void {
    this.#closed = true;
    for (const watch of [...this.#jobs.values()]) {
      watch.phase = "ended";
      for (const client of watch.clients) client.close();
      watch.clients.clear();
      this.#drop(watch);
    }
  }

  #attach(watch: JobWatch, signal: AbortSignal | undefined): ReadableStream<Uint8Array> {
    if (watch.finalMessage !== null) return singleMessageStream(watch.finalMessage);
    if (this.#jobs.get(watch.jobHash) !== watch) {
      throw new HttpError(503, shuttingDown);
    }
    let client: ProgressClient | undefined;
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        client = new ProgressClient(controller);
      },
      cancel: () => this.#detach(watch, client!),
    });
    watch.clients.add(client!);
    client!.write(progressMessage(watch.status()));
    const leave = () => {
      this.#detach(watch, client!);
      client!.close();
    };
    // The request may have been aborted while it waited for the job's first read.
    if (signal?.aborted) leave();
    else signal?.addEventListener("abort", leave, { once: true });
    return stream;
  }

  #detach(watch: JobWatch, client: ProgressClient): void {
    if (!watch.clients.delete(client)) return;
    if (watch.clients.size === 0 && watch.attaching === 0) this.#drop(watch);
  }

  /** Drops a job's state. Dropping the last watched job ends the subscription. */
  #drop(watch: JobWatch): void {
    if (watch.broadcastTimer !== null) clearTimeout(watch.broadcastTimer);
    watch.broadcastTimer = null;
    if (this.#jobs.get(watch.jobHash) === watch) this.#jobs.delete(watch.jobHash);
    if (this.#jobs.size > 0 || this.#subscription === null) return;
    this.#subscription.unsubscribe();
    this.#subscription = null;
    this.#subscribed = null;
    void this.#statuses?.return?.();
    this.#statuses = null;
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    this.#log.debug("no job watched, unsubscribed from events");
  }

  /**
   * Subscribes unless already subscribed, and resolves once a flush confirms that the server has the
   * subscription, so no event published after that is missed.
   */
  #subscribe(): Promise<void> {
    if (this.#subscription === null) {
      this.#subscription = this.#deps.nats.connection.subscribe(this.#deps.nats.names.eventSubjectWildcard, {
        callback: (error, msg) => this.#receive(error, msg),
      });
      this.#timer = setInterval(() => this.#tick(), Math.min(this.#keepAliveMs / 3, this.#resyncMs));
      this.#watchReconnects();
      this.#log.debug("subscribed to events");
    }
    this.#subscribed ??= this.#deps.nats.connection.flush().catch((error: unknown) => {
      this.#subscribed = null;
      throw error;
    });
    return this.#subscribed;
  }

  /**
   * Reads every watched job again when the connection to NATS comes back, because events published while
   * it was down never reach a core subscription. The periodic resync would catch up too, but later.
   */
  #watchReconnects(): void {
    const statuses = this.#deps.nats.connection.status()[Symbol.asyncIterator]();
    this.#statuses = statuses;
    void (async () => {
      for (let next = await statuses.next(); next.done !== true; next = await statuses.next()) {
        if (this.#statuses !== statuses) return;
        if (next.value.type !== "reconnect") continue;
        this.#log.info({ jobs: this.#jobs.size }, "NATS connection is back, reading watched jobs again");
        for (const watch of this.#jobs.values()) {
          if (watch.phase === "live" && !watch.checking) this.#refresh(watch, "reconnect");
        }
      }
    })().catch((error: unknown) => this.#log.warn({ err: describeError(error) }, "watching the NATS connection status failed"));
  }

  async #read(jobHash: string, rowsSeen?: () => readonly number[]): Promise<ProgressSnapshot | null> {
    this.#databaseReads += 1;
    return this.#deps.readSnapshot(jobHash, rowsSeen);
  }

  /**
   * Subscribes, then reads a job's first snapshot. Returns false for an unknown job. Row events that
   * arrived before the job row was read are checked against the same snapshot, so rows already in its
   * counts are not counted twice.
   */
  async #load(watch: JobWatch): Promise<boolean> {
    try {
      await this.#subscribe();
      const rowsSeen = () => watch.pending.flatMap((event) => (event.kind === "tick" || event.kind === "error" ? [event.payload.row] : []));
      const snapshot = await this.#read(watch.jobHash, rowsSeen);
      if (snapshot === null) {
        this.#drop(watch);
        return false;
      }
      watch.job = snapshot.job;
      watch.completed = snapshot.job.completed;
      watch.failed = snapshot.job.failed;
      if (isFinal(snapshot.job.status)) {
        this.#finish(watch, jobStatusBody(snapshot.job));
        return true;
      }
      watch.phase = "live";
      const pending = watch.pending;
      watch.pending = [];
      for (const event of pending) this.#apply(watch, event, snapshot.recordedRows);
      return true;
    } catch (error) {
      this.#drop(watch);
      throw error;
    }
  }

  #receive(error: Error | null, msg: Msg): void {
    if (error !== null) {
      this.#log.error({ err: describeError(error) }, "event subscription failed");
      return;
    }
    const kind = this.#kindOfSubject.get(msg.subject);
    if (kind === undefined || kind === "scheduled") return;
    let payload: unknown;
    try {
      payload = JSON.parse(decoder.decode(msg.data));
    } catch {
      this.#countMalformed(kind);
      return;
    }
    const jobHash = (payload as { job_hash?: unknown } | null)?.job_hash;
    if (typeof jobHash !== "string") return;
    const watch = this.#jobs.get(jobHash);
    // Events of unwatched jobs are skipped before the schema check, which is the costlier step.
    if (watch === undefined) return;
    if (!Value.Check(eventSchemas[kind], payload)) {
      this.#countMalformed(kind);
      return;
    }
    const event = { kind, payload } as ProgressEvent;
    if (watch.phase === "loading") watch.pending.push(event);
    else this.#apply(watch, event, null);
  }

  #countMalformed(kind: EventKind): void {
    this.#malformedEvents += 1;
    if (this.#malformedEvents === 1 || this.#malformedEvents % 1000 === 0) {
      this.#log.warn({ kind, malformed_events: this.#malformedEvents }, "event is not valid JSON or does not match its schema, skipped");
    }
  }

  /**
   * Applies one event. `recorded` contains the rows already in the job's counts at its first read, and is
   * null for events received after that read.
   */
  #apply(watch: JobWatch, event: ProgressEvent, recorded: Set<number> | null): void {
    if (watch.phase !== "live") return;
    const job = watch.job!;
    switch (event.kind) {
      case "scheduled":
        return;
      case "started":
        if (job.status === "scheduled") job.status = "processing";
        // A started re-read announces the change itself once total_rows is known, so clients do not
        // first get a message without it.
        if (!this.#rereadTotalRows(watch)) this.#markChanged(watch);
        return;
      case "tick":
      case "error": {
        if (job.totalRows !== null && event.payload.row > job.totalRows) return;
        // A retried row can publish its event again, and a core subscriber receives each copy.
        if (!watch.rows.add(event.payload.row)) return;
        if (recorded?.has(event.payload.row)) return;
        if (event.kind === "tick") watch.completed += 1;
        else watch.failed += 1;
        if (job.status === "scheduled") job.status = "processing";
        this.#rereadTotalRows(watch);
        this.#markChanged(watch);
        return;
      }
      case "completed":
      case "failed":
        void this.#end(watch, event);
        return;
    }
  }

  /**
   * Starts one re-read of the job if total_rows is still unknown, because the job row gets it just
   * before the started event is published. Returns whether it started the read.
   */
  #rereadTotalRows(watch: JobWatch): boolean {
    if (watch.job!.totalRows !== null || watch.totalRowsReread) return false;
    watch.totalRowsReread = true;
    this.#refresh(watch, "total_rows");
    return true;
  }

  /** Reads the job again and merges it. A final job ends its streams, and counts only move forward. */
  #refresh(watch: JobWatch, reason: string): void {
    watch.checking = true;
    watch.lastReadAt = Date.now();
    this.#read(watch.jobHash)
      .then((snapshot) => {
        if (snapshot === null || watch.phase !== "live") return;
        if (isFinal(snapshot.job.status)) {
          this.#finish(watch, jobStatusBody(snapshot.job));
          return;
        }
        const job = watch.job!;
        job.totalRows ??= snapshot.job.totalRows;
        job.startedAt ??= snapshot.job.startedAt;
        if (job.status === "scheduled") job.status = snapshot.job.status;
        // Recorded counts trail the events, so they win only when events were missed, as in a NATS reconnect.
        if (snapshot.job.completed + snapshot.job.failed > watch.completed + watch.failed) {
          watch.completed = snapshot.job.completed;
          watch.failed = snapshot.job.failed;
        }
        this.#markChanged(watch);
      })
      .catch((error: unknown) => {
        this.#log.warn({ err: describeError(error), job_hash: watch.jobHash, reason }, "progress re-read failed, so counts move on with the events alone");
        this.#markChanged(watch);
      })
      .finally(() => {
        watch.checking = false;
      });
  }

  #markChanged(watch: JobWatch): void {
    if (watch.broadcastTimer !== null || watch.phase !== "live") return;
    const waitMs = Math.max(0, watch.lastBroadcastAt + this.#throttleMs - Date.now());
    watch.broadcastTimer = setTimeout(() => {
      watch.broadcastTimer = null;
      this.#broadcast(watch);
    }, waitMs);
  }

  #broadcast(watch: JobWatch): void {
    if (watch.phase !== "live") return;
    const message = progressMessage(watch.status());
    if (message === watch.lastMessage) return;
    watch.lastMessage = message;
    watch.lastBroadcastAt = Date.now();
    for (const client of watch.clients) client.offer(message);
  }

  /**
   * Ends a job on its terminal event. The last message is the status route's body, read once more from
   * the database, because the job row is final before the event is published. If that read fails, the
   * last message is built from the event, with finished_at from the event's timestamp.
   */
  async #end(watch: JobWatch, event: TerminalEvent): Promise<void> {
    watch.phase = "ending";
    if (watch.broadcastTimer !== null) clearTimeout(watch.broadcastTimer);
    watch.broadcastTimer = null;
    let final: JobStatus | null = null;
    try {
      const snapshot = await this.#read(watch.jobHash);
      if (snapshot !== null && isFinal(snapshot.job.status)) final = jobStatusBody(snapshot.job);
    } catch (error) {
      this.#log.warn({ err: describeError(error), job_hash: watch.jobHash }, "final progress read failed, so the last message is built from the event");
    }
    final ??= this.#statusFromEvent(watch, event);
    this.#finish(watch, final);
  }

  #statusFromEvent(watch: JobWatch, event: TerminalEvent): JobStatus {
    const job = { ...watch.job!, finishedAt: new Date(event.payload.timestamp) };
    if (event.kind === "completed") {
      const { total_rows, completed, failed } = event.payload;
      return jobStatusBody({ ...job, status: "complete", totalRows: total_rows, completed, failed });
    }
    const current = watch.status();
    return jobStatusBody({ ...job, status: "failed", error: event.payload.error, completed: current.completed, failed: current.failed });
  }

  /** Sends the last message to every client, closes their streams and drops the job's state. */
  #finish(watch: JobWatch, final: JobStatus): void {
    watch.phase = "ended";
    watch.finalMessage = progressMessage(final);
    for (const client of watch.clients) {
      client.write(watch.finalMessage);
      client.close();
    }
    watch.clients.clear();
    this.#drop(watch);
  }

  /**
   * Sends a keep-alive comment to each client idle for two thirds of the keep-alive interval, and starts
   * the periodic re-read of watched jobs. Runs every third of the keep-alive interval (or every resync
   * interval, if shorter), so no client goes longer than the keep-alive interval without a byte.
   */
  #tick(): void {
    const now = Date.now();
    for (const watch of this.#jobs.values()) {
      for (const client of watch.clients) {
        if (now - client.lastWriteAt >= (this.#keepAliveMs * 2) / 3) client.offer(keepAliveComment);
      }
      if (watch.phase === "live" && !watch.checking && now - watch.lastReadAt >= this.#resyncMs) {
        this.#refresh(watch, "resync");
      }
    }
  }
}
