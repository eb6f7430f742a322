// Route of a job's live progress: a Server-Sent Events stream of its status, fed by the progress hub.
import { Elysia } from "elysia";
import { readProgressSnapshot } from "../../db/progress.ts";
import type { ApiDeps } from "../deps.ts";
import { notFound } from "../errors.ts";
import { ProgressHub } from "../progress-hub.ts";
import { ErrorBody, JobHashParams } from "../schemas.ts";
import { jobHashPattern } from "./batch.ts";

/**
 * Idle timeout of a progress connection, in seconds. Bun.serve closes a connection that sends no byte
 * for its idleTimeout, even in the middle of a streamed body. That timeout is 10 s by default in Bun 1.4,
 * 30 s as Elysia 1.4's listen sets it, or whatever a deployment configures. A job may go quiet for
 * longer, because a large file is read whole before its first row. The hub writes a keep-alive comment
 * at least every 15 s, so this limit, set per request, closes only a stream the hub stopped writing to.
 */
const progressIdleTimeoutSeconds = 60;

const errorContent = { "application/json": { schema: ErrorBody } };

export function progressRoutes(deps: ApiDeps) {
  const hub = new ProgressHub({
    nats: deps.nats,
    logger: deps.logger,
    readSnapshot: (jobHash, rowsSeen) => readProgressSnapshot(deps.db, jobHash, rowsSeen),
    maxRowsPerFile: deps.config.maxRowsPerFile,
  });
  return (
    new Elysia({ normalize: false })
      .decorate("progressHub", hub)
      // Elysia runs stop handlers after the server has stopped, and a graceful stop waits for every open
      // stream to end. That is why stopApi in src/runtime.ts closes the hub before it stops the server.
      .onStop(() => hub.close())
      .get(
        "/locations/batch/:job_hash/progress",
        async ({ params, request, server }) => {
          const stream = jobHashPattern.test(params.job_hash) ? await hub.open(params.job_hash, request.signal) : null;
          if (stream === null) throw notFound("job");
          server?.timeout(request, progressIdleTimeoutSeconds);
          // Elysia 1.4 passes a Response's body on untouched, only merging headers, so the stream is neither
          // buffered nor serialized again. A transfer-encoding header would make it re-stream the body itself.
          return new Response(stream, {
            headers: {
              "content-type": "text/event-stream; charset=utf-8",
              "cache-control": "no-cache",
              // Tells nginx not to buffer the stream.
              "x-accel-buffering": "no",
            },
          });
        },
        {
          params: JobHashParams,
          detail: {
            security: [{ bearerAuth: [] }],
            tags: ["batch"],
            summary: "Follow a job's progress as Server-Sent Events",
            description:
              "Each message is `event: progress` with `data:` one line of JSON shaped like the job status. The first is sent at once, then at most about 4 a second while the counts change, and the last has status complete or failed, after which the server closes the stream. A `: keep-alive` comment is sent after 10 to 15 s without another message. Counts come from the job's events, so while the job runs they may differ slightly from the status route's; the last message equals it.",
            responses: {
              200: {
                description: "A stream of `progress` events, each carrying a job status",
                content: {
                  "text/event-stream": {
                    schema: { type: "string", description: "event: progress, then data: the JSON body of GET /locations/batch/{job_hash}" },
                  },
                },
              },
              401: { description: "Missing or invalid token", content: errorContent },
              403: { description: "The token is not an admin's", content: errorContent },
              404: { description: "No job has this hash", content: errorContent },
            },
          },
        },
      )
  );
}
