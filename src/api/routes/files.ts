// Routes of the built-in files service: upload bytes (raw or multipart field `file`), download by hash.
import { Elysia, t } from "elysia";
import { FileNotFoundError, FileTooLargeError } from "../../files/store.ts";
import type { ApiDeps } from "../deps.ts";
import { HttpError, notFound } from "../errors.ts";
import { ErrorBody, FileHashParams, StoredFileBody } from "../schemas.ts";

const secured = { security: [{ bearerAuth: [] }], tags: ["files"] };

async function uploadBody(request: Request): Promise<{ body: ReadableStream<Uint8Array>; contentType: string | null }> {
  const contentType = request.headers.get("content-type");
  if (contentType?.toLowerCase().startsWith("multipart/form-data")) {
    let form: Awaited<ReturnType<Request["formData"]>>;
    try {
      form = await request.formData();
    } catch {
      throw new HttpError(400, "multipart body could not be parsed: send the file in a form field named file");
    }
    const file = form.get("file");
    if (!(file instanceof Blob)) throw new HttpError(400, "multipart body has no file field: send the file in a form field named file");
    return { body: file.stream(), contentType: file.type || null };
  }
  // An empty file is stored like any other; a job on it fails with "file contains no rows".
  const body = request.body ?? new ReadableStream<Uint8Array>({ start: (controller) => controller.close() });
  return { body, contentType };
}

export function fileRoutes(deps: ApiDeps) {
  const { files, config, logger } = deps;
  return new Elysia()
    .post(
      "/files",
      async ({ request, set }) => {
        const declared = Number(request.headers.get("content-length") ?? "0");
        if (declared > config.maxFileBytes + 64 * 1024) {
          throw new HttpError(413, `file is larger than the limit of ${config.maxFileBytes} bytes (MAX_FILE_BYTES)`, {
            max_bytes: config.maxFileBytes,
          });
        }
        const upload = await uploadBody(request);
        try {
          const stored = await files.put(upload.body, upload.contentType);
          logger.info({ file_hash: stored.fileHash, size: stored.size }, "file stored");
          set.status = 201;
          return { file_hash: stored.fileHash, size: stored.size };
        } catch (error) {
          if (error instanceof FileTooLargeError) {
            throw new HttpError(413, `file is larger than the limit of ${error.maxBytes} bytes (MAX_FILE_BYTES)`, {
              max_bytes: error.maxBytes,
            });
          }
          throw error;
        }
      },
      {
        parse: "none",
        response: { 201: StoredFileBody, 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 413: ErrorBody },
        detail: {
          ...secured,
          summary: "Upload a file; its hash is the SHA-256 of its bytes",
          requestBody: {
            content: {
              "application/octet-stream": { schema: { type: "string", format: "binary" } },
              "text/csv": { schema: { type: "string" } },
              "application/json": { schema: { type: "string" } },
              "multipart/form-data": {
                schema: { type: "object", properties: { file: { type: "string", format: "binary" } }, required: ["file"] },
              },
            },
          },
        },
      },
    )
    .get(
      "/files/:file_hash",
      async ({ params }) => {
        try {
          const file = await files.open(params.file_hash);
          return new Response(file.body, {
            headers: { "content-type": file.contentType ?? "application/octet-stream" },
          });
        } catch (error) {
          if (error instanceof FileNotFoundError) throw notFound("file");
          throw error;
        }
      },
      {
        params: FileHashParams,
        response: { 200: t.Any({ description: "The file's bytes" }), 401: ErrorBody, 403: ErrorBody, 404: ErrorBody },
        detail: { ...secured, summary: "Download a file by hash" },
      },
    );
}
