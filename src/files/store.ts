// The files service: the built-in store (a JetStream Object Store bucket keyed by SHA-256 hex),
// or an external service named by FILES_SERVICE_URL from which jobs fetch files instead.
import { Objm, type ObjectStore } from "@nats-io/obj";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Config } from "../config.ts";
import type { Nats } from "../nats/connection.ts";
import { readObjectChunks } from "./object-reader.ts";

export interface StoredFile {
  fileHash: string;
  size: number;
}

export interface OpenedFile {
  body: ReadableStream<Uint8Array>;
  contentType: string | null;
}

/** Upload larger than the configured limit; it carries the limit so the route can report it. */
export class FileTooLargeError extends Error {
  override readonly name = "FileTooLargeError";
  constructor(readonly maxBytes: number) {
    super(`file is larger than the limit of ${maxBytes} bytes`);
  }
}

/** The files service does not have the file: the job fails with "file not found", no retry. */
export class FileNotFoundError extends Error {
  override readonly name = "FileNotFoundError";
  constructor() {
    super("file not found");
  }
}

/** Files service unreachable or failing with a server error, so the fetch is worth retrying. */
export class FileFetchError extends Error {
  override readonly name = "FileFetchError";
}

export class FileStore {
  readonly #config: Config;
  readonly #nats: Nats;
  #bucket: Promise<ObjectStore> | null = null;

  constructor(config: Config, nats: Nats) {
    this.#config = config;
    this.#nats = nats;
  }

  #open(): Promise<ObjectStore> {
    this.#bucket ??= new Objm(this.#nats.js).create(this.#nats.names.filesBucket).catch((error: unknown) => {
      this.#bucket = null;
      throw error;
    });
    return this.#bucket;
  }

  /**
   * Stores an upload under the SHA-256 of its bytes. The bytes go to a temporary file while they are
   * hashed, because the object's name is the hash and is known only at the end. Memory stays constant.
   */
  async put(body: ReadableStream<Uint8Array>, contentType: string | null): Promise<StoredFile> {
    const folder = await mkdtemp(join(tmpdir(), "location-batch-upload-"));
    const path = join(folder, "upload");
    try {
      const hasher = new Bun.CryptoHasher("sha256");
      const sink = Bun.file(path).writer();
      let size = 0;
      for await (const chunk of body) {
        size += chunk.byteLength;
        if (size > this.#config.maxFileBytes) {
          await sink.end();
          throw new FileTooLargeError(this.#config.maxFileBytes);
        }
        hasher.update(chunk);
        sink.write(chunk);
      }
      await sink.end();
      const fileHash = hasher.digest("hex");

      const bucket = await this.#open();
      const existing = await bucket.info(fileHash);
      if (existing === null || existing.deleted) {
        await bucket.put(
          { name: fileHash, metadata: contentType ? { content_type: contentType } : {} },
          Bun.file(path).stream(),
        );
      }
      return { fileHash, size };
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  }

  /** Opens a file by hash for reading; throws FileNotFoundError or FileFetchError. */
  async open(fileHash: string): Promise<OpenedFile> {
    if (this.#config.filesServiceUrl !== null) return this.#fetchExternal(fileHash);
    const bucket = await this.#open();
    const info = await bucket.info(fileHash);
    if (info === null || info.deleted) throw new FileNotFoundError();
    return {
      body: readObjectChunks(this.#nats.jsm, this.#nats.names.filesBucket, info),
      contentType: info.metadata?.content_type ?? null,
    };
  }

  async #fetchExternal(fileHash: string): Promise<OpenedFile> {
    const url = this.#config.filesServiceUrl!.replaceAll("{hash}", encodeURIComponent(fileHash));
    const headers = new Headers();
    if (this.#config.filesServiceToken) headers.set("authorization", `Bearer ${this.#config.filesServiceToken}`);
    let response: Response;
    try {
      response = await fetch(url, { headers });
    } catch (error) {
      throw new FileFetchError(`files service could not be reached: ${(error as Error).message}`);
    }
    if (response.status === 404) throw new FileNotFoundError();
    if (!response.ok || response.body === null) {
      throw new FileFetchError(`files service returned ${response.status} ${response.statusText}`);
    }
    return { body: response.body, contentType: response.headers.get("content-type") };
  }
}
