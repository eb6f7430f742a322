// The `started`, `completed` and `failed` events of a service run, taken with core NATS
// subscriptions that are in place before any job is posted. Each event's arrival time is taken in
// the message callback.
import type { NatsConnection, Subscription } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";

const subscribedKinds = ["started", "completed", "failed"] as const;
type SubscribedKind = (typeof subscribedKinds)[number];
/** The milestone a caller waits for: the `started` event, or the terminal event, `completed` or `failed`. */
export type Milestone = "started" | "terminal";

export interface JobEvent {
  kind: SubscribedKind;
  /** performance.now() when the message reached the benchmark. */
  arrivedAt: number;
  payload: { job_hash?: string; total_rows?: number; completed?: number; failed?: number; error?: string };
}

interface Arrival {
  promise: Promise<JobEvent>;
  resolve: (event: JobEvent) => void;
}

export class JobEvents {
  readonly #arrivals = new Map<string, Arrival>();
  readonly #subscriptions: Subscription[] = [];

  private constructor(readonly connection: NatsConnection) {}

  /** Subscribes to `<eventSubjectPrefix>.started`, `.completed` and `.failed`, and returns once the server has the subscriptions. */
  static async subscribe(natsUrl: string, eventSubjectPrefix: string): Promise<JobEvents> {
    const connection = await connect({ servers: natsUrl, name: "bench-job-events" });
    const events = new JobEvents(connection);
    for (const kind of subscribedKinds) {
      const subscription = connection.subscribe(`${eventSubjectPrefix}.${kind}`, {
        callback: (error, msg) => {
          const arrivedAt = performance.now();
          if (error !== null) {
            console.error(`subscription to ${kind} events failed: ${error.message}`);
            return;
          }
          events.#record({ kind, arrivedAt, payload: msg.json() });
        },
      });
      events.#subscriptions.push(subscription);
    }
    // After the flush the server has processed the subscriptions, so no event of a later job is missed.
    await connection.flush();
    return events;
  }

  #arrival(milestone: Milestone, jobHash: string): Arrival {
    const key = `${milestone}:${jobHash}`;
    let arrival = this.#arrivals.get(key);
    if (arrival === undefined) {
      let resolve!: (event: JobEvent) => void;
      const promise = new Promise<JobEvent>((settle) => {
        resolve = settle;
      });
      arrival = { promise, resolve };
      this.#arrivals.set(key, arrival);
    }
    return arrival;
  }

  #record(event: JobEvent): void {
    const jobHash = event.payload.job_hash;
    if (typeof jobHash !== "string") return;
    // Only the first event of a milestone counts, since resolving a settled promise does nothing.
    this.#arrival(event.kind === "started" ? "started" : "terminal", jobHash).resolve(event);
  }

  /** Resolves with the job's event of that milestone, at once when it has already arrived. */
  arrival(milestone: Milestone, jobHash: string): Promise<JobEvent> {
    return this.#arrival(milestone, jobHash).promise;
  }

  async close(): Promise<void> {
    for (const subscription of this.#subscriptions) subscription.unsubscribe();
    await this.connection.close();
  }
}
