// Route of the AsyncAPI document of the NATS events, served without a token like the OpenAPI document.
import { Elysia, t } from "elysia";
import { buildAsyncApiDocument } from "../../nats/asyncapi.ts";
import type { ApiDeps } from "../deps.ts";

export function asyncApiRoutes(deps: ApiDeps) {
  // The document depends only on the configuration, so it is built once per process.
  const document = buildAsyncApiDocument(deps.config, deps.nats.names);
  return new Elysia().get("/asyncapi.json", () => document, {
    response: {
      200: t.Object(
        { asyncapi: t.Literal("3.0.0") },
        { additionalProperties: true, description: "AsyncAPI 3.0.0 document: channels, operations and payload schemas of the events" },
      ),
    },
    detail: { tags: ["operations"], summary: "AsyncAPI document of the NATS events" },
  });
}
