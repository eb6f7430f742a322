// The work messages on the work stream: one per file to read, one per row to resolve.
// Each is checked against its schema where it is read, since it crossed a process boundary.
import { Type, type Static } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import type { Nats } from "./connection.ts";

export const FileWork = Type.Object({
  job_hash: Type.String(),
  file_hash: Type.String(),
});
export type FileWork = Static<typeof FileWork>;

export const RowWork = Type.Object({
  row: Type.Integer({ minimum: 1 }),
  kind: Type.Union([Type.Literal("text"), Type.Literal("point"), Type.Literal("invalid")]),
  value: Type.String(),
  latitude: Type.Optional(Type.Number()),
  longitude: Type.Optional(Type.Number()),
  error: Type.Optional(Type.String()),
});
export type RowWork = Static<typeof RowWork>;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class MalformedWorkMessageError extends Error {
  override readonly name = "MalformedWorkMessageError";
}

export function encodeWork(message: FileWork | RowWork): Uint8Array {
  return encoder.encode(JSON.stringify(message));
}

/** Publishes a job's file message; its message id makes a repeat within the duplicate window a no-op. */
export async function dispatchFile(nats: Nats, jobHash: string, fileHash: string): Promise<void> {
  await nats.js.publish(nats.names.fileSubject(jobHash), encodeWork({ job_hash: jobHash, file_hash: fileHash }), {
    msgID: `file:${jobHash}`,
  });
}

function decode(bytes: Uint8Array): unknown {
  try {
    return JSON.parse(decoder.decode(bytes));
  } catch {
    throw new MalformedWorkMessageError("work message is not valid JSON");
  }
}

export function decodeFileWork(bytes: Uint8Array): FileWork {
  const message = decode(bytes);
  if (!Value.Check(FileWork, message)) throw new MalformedWorkMessageError("file work message does not match its schema");
  return message;
}

export function decodeRowWork(bytes: Uint8Array): RowWork {
  const message = decode(bytes);
  if (!Value.Check(RowWork, message)) throw new MalformedWorkMessageError("row work message does not match its schema");
  return message;
}
