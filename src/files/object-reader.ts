// Reads an Object Store object chunk by chunk, on demand. The client's own `get` pushes every chunk
// into its stream as fast as the server sends them, whether or not the reader keeps up. A large file
// would pile up in memory, and stopping early makes it throw outside any caller. Here each chunk
// is fetched by a direct get when the reader asks for it, so memory holds one chunk at a time.
//
// The layout is the Object Store's (NATS ADR-20): stream `OBJ_<bucket>`, chunks on the subject
// `$O.<bucket>.C.<nuid>` in order, and a digest "SHA-256=<base64url>" of all the bytes.
import type { JetStreamManager } from "@nats-io/jetstream";
import type { ObjectInfo } from "@nats-io/obj";

/** The object's bytes did not match its digest, or a chunk was missing. */
export class CorruptObjectError extends Error {
  override readonly name = "CorruptObjectError";
}

function base64Url(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

export function readObjectChunks(jsm: JetStreamManager, bucket: string, info: ObjectInfo): ReadableStream<Uint8Array> {
  const stream = `OBJ_${bucket}`;
  const subject = `$O.${bucket}.C.${info.nuid}`;
  const hasher = new Bun.CryptoHasher("sha256");
  let nextSequence = 1;
  let chunksRead = 0;
  let bytesRead = 0;

  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (chunksRead >= info.chunks) {
        const digest = `SHA-256=${base64Url(hasher.digest() as Uint8Array)}`;
        const expected = info.digest.replace(/=+$/, "");
        if (bytesRead !== info.size || digest !== expected) {
          controller.error(new CorruptObjectError(`object ${info.name} is corrupt: its bytes do not match its size or digest`));
        } else {
          controller.close();
        }
        return;
      }
      const message = await jsm.direct.getMessage(stream, { seq: nextSequence, next_by_subj: subject });
      if (message === null) {
        controller.error(new CorruptObjectError(`object ${info.name} is missing chunk ${chunksRead + 1} of ${info.chunks}`));
        return;
      }
      nextSequence = message.seq + 1;
      chunksRead += 1;
      bytesRead += message.data.length;
      hasher.update(message.data);
      if (message.data.length > 0) controller.enqueue(message.data);
    },
  }, { highWaterMark: 1 });
}
