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
  const text = display(JSON.stringify(element) ?? String(element));
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

/**
 * Yields the elements of a JSON array given as decoded text chunks. The caller has checked that the
 * first non-blank character is "["; invalid JSON, or anything after the array, throws FileFormatError.
 */
export async function* readJson(chunks: AsyncIterable<string>): AsyncGenerator<RowValue> {
  // Only the elements are emitted, and with keepStack off each is dropped from the array once
  // emitted, so memory holds one element at a time.
  const parser = new JSONParser({ paths: ["$.*"], keepStack: false });
  const ready: RowValue[] = [];
  let failure: Error | null = null;
  parser.onValue = ({ value }) => {
    ready.push(elementToRowValue(value));
  };
  parser.onError = (error) => {
    failure ??= error;
  };
  parser.onEnd = () => undefined;

  for await (const chunk of chunks) {
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
  if (failure !== null) throw new FileFormatError(`invalid JSON: ${(failure as Error).message}`);
  yield* ready;
}
