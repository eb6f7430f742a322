// The byte layer under both readers: checks that a file is UTF-8 text without NUL bytes while
// decoding it chunk by chunk, and finds the first non-blank character for format detection.
import { FileFormatError } from "./types.ts";

const unsupported = () => new FileFormatError("unsupported file format");

/**
 * Decodes a byte stream as UTF-8, chunk by chunk, and throws "unsupported file format" at the first
 * NUL byte or invalid sequence. A leading byte order mark is dropped by the decoder.
 */
export async function* decodeUtf8(body: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder("utf-8", { fatal: true });
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (value.includes(0)) throw unsupported();
      let text: string;
      try {
        text = decoder.decode(value, { stream: true });
      } catch {
        throw unsupported();
      }
      if (text.length > 0) yield text;
    }
    let rest: string;
    try {
      rest = decoder.decode();
    } catch {
      throw unsupported();
    }
    if (rest.length > 0) yield rest;
  } finally {
    await reader.cancel().catch(() => undefined);
    reader.releaseLock();
  }
}

/** Returns the first character that is not JSON whitespace, or null for a blank file. */
export function firstNonBlank(text: string): string | null {
  const match = /[^ \t\r\n]/.exec(text);
  return match ? match[0] : null;
}

/**
 * Returns the first chunks of a decoded stream up to the first non-blank character, and an iterator of
 * every chunk from the start, so detection can look ahead without reading the file twice.
 */
export async function peekFirstCharacter(
  chunks: AsyncGenerator<string>,
): Promise<{ first: string | null; all: AsyncGenerator<string> }> {
  const seen: string[] = [];
  let first: string | null = null;
  while (first === null) {
    const next = await chunks.next();
    if (next.done) break;
    seen.push(next.value);
    first = firstNonBlank(next.value);
  }
  async function* replay(): AsyncGenerator<string> {
    yield* seen;
    yield* chunks;
  }
  return { first, all: replay() };
}
