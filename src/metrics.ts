// Prometheus metrics of one process, through prom-client. Each process has its own registry,
// so tests and several services in one process do not share counters. A process registers the
// metrics of the parts it runs: the API's read-at-scrape figures, a worker's counters and latencies.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

export interface Metrics {
  registry: Registry;
  jobsCreated: Counter;
  jobsFinished: Counter<"status">;
  rowsProcessed: Counter<"status">;
  stageSeconds: Histogram<"stage">;
  jobsByStatus: Gauge<"status">;
  rowsByStatus: Gauge<"status">;
  jobStageSeconds: Gauge<"stage" | "quantile">;
  queueDepth: Gauge<"queue">;
}

/** Parts of the service that a process runs. They decide which metrics it registers. */
export type MetricsScope = "api" | "worker" | "both";

export function createMetrics(scope: MetricsScope = "both"): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const api = scope === "worker" ? [] : [registry];
  const worker = scope === "api" ? [] : [registry];
  return {
    registry,
    jobsCreated: new Counter({ name: "location_batch_jobs_created_total", help: "Batch jobs created", registers: api }),
    jobsFinished: new Counter({
      name: "location_batch_jobs_finished_total",
      help: "Batch jobs closed by this process, by final status",
      labelNames: ["status"],
      registers: worker,
    }),
    rowsProcessed: new Counter({
      name: "location_batch_rows_processed_total",
      help: "Rows recorded by this process, by outcome (ok or failed)",
      labelNames: ["status"],
      registers: worker,
    }),
    stageSeconds: new Histogram({
      name: "location_batch_stage_duration_seconds",
      help: "Time spent in one unit of a stage: file (reading and fanning out a whole file), row_batch (one batch of rows), job (creation to completion)",
      labelNames: ["stage"],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers: worker,
    }),
    jobsByStatus: new Gauge({
      name: "location_batch_jobs",
      help: "Batch jobs in the database, by status, read when scraped",
      labelNames: ["status"],
      registers: api,
    }),
    rowsByStatus: new Gauge({
      name: "location_batch_rows",
      help: "Rows recorded over all jobs in the database, by outcome (ok or failed), read when scraped",
      labelNames: ["status"],
      registers: api,
    }),
    jobStageSeconds: new Gauge({
      name: "location_batch_job_stage_seconds",
      help: "Duration of the stages of the jobs completed in the last hour, from their timestamps: queued (created to started), processing (started to finished), total (created to finished). Read when scraped",
      labelNames: ["stage", "quantile"],
      registers: api,
    }),
    queueDepth: new Gauge({
      name: "location_batch_queue_depth",
      help: "Messages waiting in the work stream, by queue (files, rows), read when scraped",
      labelNames: ["queue"],
      registers: api,
    }),
  };
}
