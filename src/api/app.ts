// The Elysia application: routes, the admin guard, Swagger UI, and the one place that turns
// errors into JSON responses.
import { swagger } from "@elysiajs/swagger";
import { Elysia } from "elysia";
import { describeError } from "../log.ts";
import { adminGuard } from "./auth.ts";
import type { ApiDeps } from "./deps.ts";
import { isDependencyOutage } from "../outage.ts";
import { HttpError } from "./errors.ts";
import { asyncApiRoutes } from "./routes/asyncapi.ts";
import { batchRoutes, jobHashOfPath } from "./routes/batch.ts";
import { downloadRoutes } from "./routes/downloads.ts";
import { fileRoutes } from "./routes/files.ts";
import { opsRoutes } from "./routes/ops.ts";
import { progressRoutes } from "./routes/progress.ts";
import { webRoutes } from "./routes/web.ts";

/** Names the field and the rule a request broke, from Elysia's validation error, without echoing its value. */
function validationMessage(error: { all?: unknown; message: string }): string {
  const first = Array.isArray(error.all) ? (error.all[0] as { path?: string; summary?: string; message?: string; schema?: { error?: unknown } } | undefined) : undefined;
  if (first) {
    const field = first.path ? first.path.replace(/^\//, "").replaceAll("/", ".") : "body";
    const custom = typeof first.schema?.error === "string" ? first.schema.error : null;
    if (custom) return custom;
    if (field) return `${field}: ${first.summary ?? first.message ?? "invalid value"}`;
  }
  return "request is invalid";
}

/** Paths open without a token: the web page and its assets, health, metrics and the API and event documentation. */
const publicPaths = new Set(["/", "/app.js", "/app.css", "/favicon.ico", "/health", "/metrics", "/asyncapi.json", "/swagger"]);

export function isPublicPath(path: string): boolean {
  return publicPaths.has(path) || path.startsWith("/swagger/");
}

export function createApp(deps: ApiDeps) {
  const { logger } = deps;
  // normalize off: a request with an unknown field is rejected instead of having the field silently dropped.
  // compile() at the end builds every handler and validator at start, so the first request is as fast as
  // the next. Elysia 1.4.30's precompile option would do it too, but breaks Swagger UI's page with
  // "Body is disturbed or locked", because that plugin's handler returns the same Response object for
  // every request.
  return new Elysia({ normalize: false })
    .onError(({ code, error, set, request }) => {
      if (error instanceof HttpError) {
        set.status = error.status;
        Object.assign(set.headers, error.headers);
        return { error: error.message, ...error.extra };
      }
      switch (code) {
        case "VALIDATION": {
          set.status = 400;
          return { error: validationMessage(error as { all?: unknown; message: string }) };
        }
        case "PARSE":
          set.status = 400;
          return { error: "request body could not be parsed: send JSON with Content-Type: application/json" };
        case "NOT_FOUND":
          set.status = 404;
          return { error: `no route for ${request.method} ${new URL(request.url).pathname}` };
        case "INVALID_COOKIE_SIGNATURE":
        case "INVALID_FILE_TYPE":
          set.status = 400;
          return { error: (error as Error).message };
        default: {
          if (isDependencyOutage(error)) {
            const path = new URL(request.url).pathname;
            logger.warn({ err: describeError(error), path, job_hash: jobHashOfPath(path) }, "request failed while a dependency is down");
            set.status = 503;
            set.headers["retry-after"] = "5";
            return { error: "Postgres or NATS is not answering; try again in a few seconds" };
          }
          // JSON.parse overflows the stack on a body nested tens of thousands deep.
          if (error instanceof RangeError) {
            set.status = 400;
            return { error: "request body is nested too deeply to parse" };
          }
          const path = new URL(request.url).pathname;
          logger.error({ err: describeError(error), method: request.method, path, job_hash: jobHashOfPath(path) }, "request failed");
          set.status = 500;
          return { error: "internal error; the server log has the details" };
        }
      }
    })
    .use(
      swagger({
        path: "/swagger",
        provider: "swagger-ui",
        // By default the plugin leaves out paths with a dot (the downloads, /asyncapi.json) as static files.
        excludeStaticFile: false,
        exclude: ["/swagger", "/swagger/json", "/", "/app.js", "/app.css", "/favicon.ico"],
        documentation: {
          info: {
            title: "Batch location lookup",
            version: "0.1.0",
            description:
              "Files of place names or coordinates, resolved to locations row by row. Every route but the web page at /, /health, /metrics, /asyncapi.json and /swagger needs an admin JWT (HS256) as a Bearer token. The location.batch.* NATS events are described as AsyncAPI 3.0 at /asyncapi.json.",
          },
          components: {
            securitySchemes: { bearerAuth: { type: "http", scheme: "bearer", bearerFormat: "JWT" } },
          },
          tags: [
            { name: "batch", description: "Batch jobs" },
            { name: "files", description: "The built-in files service" },
            { name: "operations", description: "Health, metrics and the events document" },
          ],
        },
      }),
    )
    .use(adminGuard(deps.jwtSecret, isPublicPath))
    .use(opsRoutes(deps))
    .use(webRoutes())
    .use(asyncApiRoutes(deps))
    .use(fileRoutes(deps))
    .use(batchRoutes(deps))
    .use(progressRoutes(deps))
    .use(downloadRoutes(deps))
    .compile();
}

export type App = ReturnType<typeof createApp>;
