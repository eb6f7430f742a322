// The JSON reader: one array, one value per element, streamed through @streamparser/json, whose
// parser keeps an explicit stack, so deeply nested input fails cleanly instead of overflowing.
import { JSONParser } from "@streamparser/json";
import { FileFormatError, maxValueLength, type RowValue } from "./types.ts";

/** Text that Postgres cannot store: a NUL character, or a UTF-16 surrogate without its pair. */
function hasUnstorableCharacters(text: string): boolean {
  return text.includes("\u0000") || !text.isWellFormed();
}

function display(text: string): string {
  const clean = text.toWellFormed().replaceAll("\u0000", "\uFFFD");
  return clean.length > maxValueLength ? clean.slice(0, maxValueLength) : clean;
}

/**
 * Serializes an element as JSON for display. An element nested too deeply for JSON.stringify, which
 * recurses and throws RangeError, is shown by its type, so it fails its row instead of the file.
 */
function elementText(element: unknown): string {
  try {
    return JSON.stringify(element) ?? String(element);
  } catch (error) {
    if (error instanceof RangeError) return `${typeName(element)} nested too deeply to show`;
    throw error;
  }
}

function typeName(element: unknown): string {
  if (element === null) return "null";
  if (Array.isArray(element)) return "array";
  return typeof element;
}

function numberField(record: Record<string, unknown>, names: string[]): number | undefined {
  for (const name of names) {
    const value = record[name];
    if (typeof value === "number" && Number.isFinite(value)) return value;
  }
  return undefined;
}

/** Turns one array element into a row value; anything but a string or a point is a row that fails. */
export function elementToRowValue(element: unknown): RowValue {
  if (typeof element === "string") {
    const value = element.trim();
    if (hasUnstorableCharacters(value)) {
      return { kind: "invalid", value: display(value), error: "value contains a NUL character or an unpaired surrogate" };
    }
    if (value === "") return { kind: "invalid", value: "", error: "value is empty" };
    if (value.length > maxValueLength) {
      return { kind: "invalid", value: display(value), error: `value longer than ${maxValueLength} characters` };
    }
    return { kind: "text", value };
  }
  const text = display(elementText(element));
  if (element !== null && typeof element === "object" && !Array.isArray(element)) {
    const record = element as Record<string, unknown>;
    const latitude = numberField(record, ["lat", "latitude"]);
    const longitude = numberField(record, ["lng", "lon", "longitude"]);
    if (latitude !== undefined && longitude !== undefined) return { kind: "point", value: text, latitude, longitude };
  }
  return {
    kind: "invalid",
    value: text,
    error: `expected a place name or an object with numeric lat and lng, got ${typeName(element)}`,
  };
}

const isHighSurrogate = (codeUnit: number) => codeUnit >= 0xd800 && codeUnit <= 0xdbff;
const isLowSurrogate = (codeUnit: number) => codeUnit >= 0xdc00 && codeUnit <= 0xdfff;

/** Returns the code unit of the `\uXXXX` escape at `index` of `text`, or null when there is none. */
function escapedCodeUnit(text: string, index: number): number | null {
  if (text[index] !== "\\" || text[index + 1] !== "u") return null;
  const hex = text.slice(index + 2, index + 6);
  return /^[0-9a-fA-F]{4}$/.test(hex) ? Number.parseInt(hex, 16) : null;
}

/** Maximum length of text that one escape check reads: a high surrogate escape and the low one after it. */
const surrogatePairEscapeLength = 12;

/**
 * Rewrites each unpaired surrogate escape in `text` to `\u0000`. Unless `final`, the text from an
 * escape that may continue in the next chunk is returned as `rest` instead of in `done`.
 */
function rewriteUnpairedSurrogates(text: string, final: boolean): { done: string; rest: string } {
  let done = "";
  let copiedUpTo = 0;
  // Outside strings a backslash is invalid JSON, so each backslash found here starts an escape
  // unless the parser is going to reject the file anyway.
  let index = text.indexOf("\\");
  while (index !== -1) {
    if (!final && text.length - index < surrogatePairEscapeLength) {
      return { done: done + text.slice(copiedUpTo, index), rest: text.slice(index) };
    }
    const codeUnit = escapedCodeUnit(text, index);
    let next = index + 2;
    if (codeUnit !== null) {
      next = index + 6;
      const following = escapedCodeUnit(text, next);
      if (isHighSurrogate(codeUnit) && following !== null && isLowSurrogate(following)) {
        next += 6;
      } else if (isHighSurrogate(codeUnit) || isLowSurrogate(codeUnit)) {
        done += text.slice(copiedUpTo, index) + "\\u0000";
        copiedUpTo = next;
      }
    }
    index = text.indexOf("\\", next);
  }
  return { done: done + text.slice(copiedUpTo), rest: "" };
}

/**
 * Rewrites each `\u` escape of an unpaired UTF-16 surrogate to `\u0000`, an escape of the same
 * length, so that its string is a row that fails as text Postgres cannot store. @streamparser/json
 * 0.0.22 would drop a lone high surrogate, turn a lone low one into U+FFFD, and carry a pending high
 * surrogate into the next escape, even one in the next string, changing a neighbouring value.
 */
async function* replaceUnpairedSurrogates(chunks: AsyncIterable<string>): AsyncGenerator<string> {
  // Reading one chunk ahead shows which chunk is the last, so a file read in one chunk is never split,
  // because the parser counts its error positions from the start of each chunk.
  const iterator = chunks[Symbol.asyncIterator]();
  try {
    let rest = "";
    let current = await iterator.next();
    while (current.done !== true) {
      const next = await iterator.next();
      const rewritten = rewriteUnpairedSurrogates(rest + current.value, next.done === true);
      rest = rewritten.rest;
      if (rewritten.done.length > 0) yield rewritten.done;
      current = next;
    }
  } finally {
    await iterator.return?.();
  }
}

/**
 * Yields the elements of a JSON array given as decoded text chunks. The caller has checked that the
 * first non-blank character is "["; invalid JSON, or anything after the array, throws FileFormatError.
 */
export async function* readJson(chunks: AsyncIterable<string>): AsyncGenerator<RowValue> {
  // Only the elements are emitted, and with keepStack off each is dropped from the array once
  // emitted, so memory contains one element at a time.
  const parser = new JSONParser({ paths: ["$.*"], keepStack: false });
  const ready: RowValue[] = [];
  let failure: Error | null = null;
  let elements = 0;
  parser.onValue = ({ value }) => {
    elements += 1;
    ready.push(elementToRowValue(value));
  };
  parser.onError = (error) => {
    failure ??= error;
  };
  parser.onEnd = () => undefined;

  for await (const chunk of replaceUnpairedSurrogates(chunks)) {
    try {
      parser.write(chunk);
    } catch (error) {
      failure ??= error as Error;
    }
    if (failure !== null) break;
    yield* ready.splice(0, ready.length);
  }
  if (failure === null && !parser.isEnded) {
    try {
      parser.end();
    } catch (error) {
      failure = error as Error;
    }
  }
  if (failure !== null) throw new FileFormatError(describeJsonFailure((failure as Error).message, elements));
  yield* ready;
}

const tokenNames: Record<string, string> = {
  STRING: "a string",
  NUMBER: "a number",
  TRUE: "true",
  FALSE: "false",
  NULL: "null",
  LEFT_BRACE: "'{'",
  RIGHT_BRACE: "'}'",
  LEFT_BRACKET: "'['",
  RIGHT_BRACKET: "']'",
  COLON: "':'",
  COMMA: "','",
};

/**
 * Rewrites an error message of @streamparser/json 0.0.22 so that it names where the file broke by the
 * number of array elements read before it. The library's messages quote the offending token, which is file
 * content, so they never reach the job's error or a log line.
 */
export function describeJsonFailure(message: string, elements: number): string {
  const where = elements === 0 ? "before the first element" : `after element ${elements}`;
  const unexpectedToken = /^Unexpected ([A-Z_]+) \(.*\) in state ([A-Z_]+)$/s.exec(message);
  if (unexpectedToken) {
    const token = tokenNames[unexpectedToken[1]!] ?? "a token";
    const state = unexpectedToken[2];
    const expectedByState: Record<string, string> = { COMMA: "',' or ']'", VALUE: "a value" };
    const expected = expectedByState[state!] ?? "something else";
    return `invalid JSON: found ${token} ${where} where ${expected} was expected`;
  }
  if (/^Unexpected ".*" at position/s.test(message)) {
    return `invalid JSON: unexpected character ${where}; check for a missing quote or comma`;
  }
  if (/ended in (the middle|mid-parsing)/.test(message)) {
    return `invalid JSON: the file ends ${where} without closing the array`;
  }
  return `invalid JSON ${where}`;
}
