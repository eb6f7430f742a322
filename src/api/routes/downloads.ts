// Routes that send a complete job's results as one file, CSV or NDJSON, streamed from the database in row
// batches. Authentication, 404 and 409 work as in the paginated results route.
import type { TSchema } from "@sinclair/typebox";
import type { Server } from "bun";
import { Elysia } from "elysia";
import { resultsAfterRow } from "../../db/records.ts";
import { describeError } from "../../log.ts";
import { resultColumns, resultsContentTypes, resultsFileName, type ResultsFormat } from "../../results/columns.ts";
import { resultsStream } from "../../results/download.ts";
import type { ApiDeps } from "../deps.ts";
import { ErrorBody, JobHashParams, JobNotCompleteBody } from "../schemas.ts";
import { findJob, requireComplete } from "./batch.ts";

const columnList = resultColumns.join(", ");

/**
 * Idle timeout of a download connection, in seconds: Bun closes it after this long without a byte sent.
 * The server-wide idle timeout (30 s as Elysia 1.4 sets it) would cut off a client that pauses its
 * reading, as a client writing to a slow disk or a paused tool does.
 */
const downloadIdleTimeoutSeconds = 600;

/** Builds the OpenAPI responses by hand, because @elysiajs/swagger 1.3 documents every `response` schema as JSON. */
function documentedResponses(format: ResultsFormat) {
  const error = (description: string, schema: TSchema = ErrorBody) => ({
    description,
    content: { "application/json": { schema } },
  });
  const body =
    format === "csv"
      ? `A header line (${columnList}), then one line per row in file order. An empty field is null.`
      : `One JSON object per line, one line per row in file order, with exactly the keys ${columnList}. An absent value is null.`;
  const mediaType = format === "csv" ? "text/csv" : "application/x-ndjson";
  return {
    200: { description: body, content: { [mediaType]: { schema: { type: "string" as const } } } },
    401: error("Missing or invalid admin token"),
    403: error("Token is valid but not an admin's"),
    404: error("No job with this hash"),
    409: error("The job is not complete yet, and the body gives its status", JobNotCompleteBody),
  };
}

export function downloadRoutes(deps: ApiDeps) {
  const { db, logger } = deps;

  async function download(jobHash: string, format: ResultsFormat): Promise<Response> {
    const job = await findJob(db, jobHash);
    requireComplete(job);
    const log = logger.child({ job_hash: job.hash, format });
    const body = resultsStream((afterRow, limit) => resultsAfterRow(db, job.id, afterRow, limit), format, {
      totalRows: job.totalRows ?? 0,
      onError: (error) => log.error({ err: describeError(error) }, "results download failed while streaming"),
    });
    return new Response(body, {
      headers: {
        "content-type": resultsContentTypes[format],
        "content-disposition": `attachment; filename="${resultsFileName(job.hash, format)}"`,
      },
    });
  }

  const hook = (format: ResultsFormat) => ({
    params: JobHashParams,
    // No 200 schema: the body is a file, sent as a Response, which Elysia does not validate.
    response: { 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: JobNotCompleteBody },
    detail: {
      security: [{ bearerAuth: [] }],
      tags: ["batch"],
      summary: `Download a complete job's results as one ${format === "csv" ? "CSV" : "NDJSON"} file, in file order`,
      responses: documentedResponses(format),
    },
  });

  const handler =
    (format: ResultsFormat) =>
    ({ params, request, server }: { params: { job_hash: string }; request: Request; server: Server<unknown> | null }) => {
      server?.timeout(request, downloadIdleTimeoutSeconds);
      return download(params.job_hash, format);
    };

  return new Elysia({ normalize: false })
    .get("/locations/batch/:job_hash/results.csv", handler("csv"), hook("csv"))
    .get("/locations/batch/:job_hash/results.ndjson", handler("ndjson"), hook("ndjson"));
}
