// Operations routes, open without a token: health of the dependencies and Prometheus metrics.
import { sql } from "drizzle-orm";
import { Elysia, t } from "elysia";
import { countJobsByStatus, jobStageQuantiles } from "../../db/jobs.ts";
import { describeError } from "../../log.ts";
import type { ApiDeps } from "../deps.ts";
import { HealthBody } from "../schemas.ts";

const checkTimeoutMs = 2000;
/** Time window in ms of the stage durations on /metrics: only jobs completed in the last hour count. */
const stageWindowMs = 3_600_000;

async function within<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} check timed out after ${checkTimeoutMs} ms`)), checkTimeoutMs);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export function opsRoutes(deps: ApiDeps) {
  const { db, nats, metrics, logger } = deps;
  return new Elysia()
    .get(
      "/health",
      async ({ set }) => {
        const [postgres, natsCheck] = await Promise.allSettled([
          within(db.execute(sql`select 1`), "postgres"),
          within(nats.jsm.getAccountInfo(), "nats"),
        ]);
        const failing = [
          postgres.status === "rejected" ? "postgres" : null,
          natsCheck.status === "rejected" ? "nats" : null,
        ].filter((name) => name !== null);
        const body = {
          status: failing.length === 0 ? ("ok" as const) : ("unavailable" as const),
          postgres: postgres.status === "fulfilled" ? "ok" : describeError(postgres.reason).message,
          nats: natsCheck.status === "fulfilled" ? "ok" : describeError(natsCheck.reason).message,
          ...(failing.length > 0 ? { error: `${failing.join(" and ")} not answering` } : {}),
        };
        set.status = failing.length === 0 ? 200 : 503;
        return body;
      },
      { response: { 200: HealthBody, 503: HealthBody }, detail: { tags: ["operations"], summary: "Health of Postgres and NATS" } },
    )
    .get(
      "/metrics",
      async ({ set }) => {
        // While Postgres or NATS is unreachable (which /health reports), the figures read from it keep
        // their last values, so the process's own metrics are still served.
        try {
          const totals = await countJobsByStatus(db);
          for (const status of ["scheduled", "processing", "complete", "failed"]) {
            metrics.jobsByStatus.set({ status }, totals.jobs[status] ?? 0);
          }
          metrics.rowsByStatus.set({ status: "ok" }, totals.rows.ok);
          metrics.rowsByStatus.set({ status: "failed" }, totals.rows.failed);
          const stages = await jobStageQuantiles(db, stageWindowMs);
          for (const [stage, quantiles] of Object.entries(stages)) {
            // A stage with no completed job in the window has no samples rather than a made-up 0.
            for (const [quantile, seconds] of [["0.5", quantiles.p50], ["0.95", quantiles.p95]] as const) {
              if (seconds === null) metrics.jobStageSeconds.remove({ stage, quantile });
              else metrics.jobStageSeconds.set({ stage, quantile }, seconds);
            }
          }
        } catch (error) {
          logger.warn({ err: describeError(error) }, "job counts for /metrics could not be read, so the last values are served");
        }
        try {
          const files = await nats.jsm.consumers.info(nats.names.workStream, nats.names.fileConsumer);
          const stream = await nats.jsm.streams.info(nats.names.workStream);
          metrics.queueDepth.set({ queue: "files" }, files.num_pending);
          metrics.queueDepth.set({ queue: "rows" }, Math.max(0, stream.state.messages - files.num_pending - files.num_ack_pending));
        } catch (error) {
          logger.warn({ err: describeError(error) }, "queue depth for /metrics could not be read, so the last values are served");
        }
        set.headers["content-type"] = metrics.registry.contentType;
        return metrics.registry.metrics();
      },
      { response: { 200: t.String({ description: "Prometheus text format" }) }, detail: { tags: ["operations"], summary: "Prometheus metrics" } },
    );
}
