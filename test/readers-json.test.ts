// readRows on JSON files: the JSONTestSuite parsing corpus, then element kinds, text Postgres cannot
// store, deep nesting and what may follow the array. No server is needed.
import { describe, expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { FileFormatError, maxValueLength, readRows, type RowValue } from "../src/readers/index.ts";
import { elementToRowValue } from "../src/readers/json.ts";

// Resolved from this file so that the tests run wherever the repository is cloned beside shared/.
const corporaUrl = new URL("../../shared/corpora/", import.meta.url);
const parsingUrl = new URL("JSONTestSuite/test_parsing/", corporaUrl);

const encoder = new TextEncoder();
const json = "application/json";

function streamOf(chunks: Uint8Array[]): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(chunk);
      controller.close();
    },
  });
}

/** Splits bytes into chunks of `size` bytes, so multi-byte characters and escapes straddle chunks. */
function chunked(bytes: Uint8Array, size: number): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  for (let start = 0; start < bytes.length; start += size) chunks.push(bytes.subarray(start, start + size));
  return chunks;
}

async function readAll(chunks: Uint8Array[], contentType: string | null = json): Promise<RowValue[]> {
  const rows: RowValue[] = [];
  for await (const row of readRows(streamOf(chunks), contentType)) rows.push(row);
  return rows;
}

async function readText(text: string, contentType: string | null = json): Promise<RowValue[]> {
  return readAll([encoder.encode(text)], contentType);
}

/** Reads the text and returns the error it raises, failing the test when reading succeeds. */
async function readError(text: string, contentType: string | null = json): Promise<Error> {
  try {
    await readText(text, contentType);
  } catch (error) {
    if (error instanceof Error) return error;
    throw new Error(`expected an Error, got ${String(error)}`);
  }
  throw new Error("expected reading to fail, but it succeeded");
}

/** Text that Postgres can store: no NUL character and no unpaired surrogate. */
function isStorable(text: string): boolean {
  return !text.includes("\u0000") && text.isWellFormed();
}

describe("JSONTestSuite parsing corpus", () => {
  const fileTimeoutMs = 5_000;
  const names = readdirSync(parsingUrl)
    .filter((name) => name.endsWith(".json"))
    .sort();

  type Outcome = { rows: RowValue[] } | { error: unknown };

  // Encoded because some names contain "#", which a URL would take as the start of a fragment.
  const fileUrl = (name: string) => new URL(encodeURIComponent(name), parsingUrl);

  /**
   * Reads one corpus file, failing with the file's name when reading does not settle in time. The
   * guard catches a read that never settles, but a synchronous endless loop in a parser would still
   * block the whole test run.
   */
  async function outcomeOf(name: string): Promise<Outcome> {
    const bytes = await Bun.file(fileUrl(name)).bytes();
    const read = readAll([bytes]).then(
      (rows): Outcome => ({ rows }),
      (error: unknown): Outcome => ({ error }),
    );
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${name}: reading timed out after ${fileTimeoutMs} ms`)), fileTimeoutMs);
    });
    try {
      return await Promise.race([read, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  function describeOutcome(outcome: Outcome): string {
    if ("rows" in outcome) return `${outcome.rows.length} rows`;
    const error = outcome.error;
    return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  }

  test("corpus has all three classes", () => {
    expect(names.filter((name) => name.startsWith("y_")).length).toBe(95);
    expect(names.filter((name) => name.startsWith("n_")).length).toBe(188);
    expect(names.filter((name) => name.startsWith("i_")).length).toBe(35);
  });

  for (const name of names.filter((file) => file.startsWith("y_"))) {
    test(`${name} is accepted`, async () => {
      const bytes = await Bun.file(fileUrl(name)).bytes();
      const parsed: unknown = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
      const outcome = await outcomeOf(name);

      if (!Array.isArray(parsed)) {
        // Valid JSON, but the service takes only an array of values.
        if (!("error" in outcome)) throw new Error(`expected a file error, got ${describeOutcome(outcome)}`);
        expect(outcome.error).toBeInstanceOf(FileFormatError);
        expect(String((outcome.error as Error).message)).toContain("array");
        return;
      }

      if (!("rows" in outcome)) throw new Error(`expected rows, got ${describeOutcome(outcome)}`);
      expect(outcome.rows.length).toBe(parsed.length);
      // The streaming parser must see the same elements as JSON.parse.
      expect(outcome.rows).toEqual(parsed.map((element) => elementToRowValue(element)));
      for (const row of outcome.rows) expect(isStorable(row.value)).toBe(true);
    });
  }

  // Blank files contain no JSON, so they are invalid, but readRows yields no rows for a blank file
  // whatever its content type, and the file stage then fails the job with "file contains no rows".
  const blankFiles = new Set(["n_single_space.json", "n_structure_no_data.json", "n_structure_UTF8_BOM_no_data.json"]);

  for (const name of names.filter((file) => file.startsWith("n_"))) {
    test(`${name} is rejected`, async () => {
      const outcome = await outcomeOf(name);
      if (blankFiles.has(name)) {
        expect(describeOutcome(outcome)).toBe("0 rows");
        return;
      }
      if (!("error" in outcome)) throw new Error(`expected a file error, got ${describeOutcome(outcome)}`);
      expect(outcome.error).toBeInstanceOf(FileFormatError);
    });
  }

  for (const name of names.filter((file) => file.startsWith("i_"))) {
    test(`${name} yields rows or is rejected`, async () => {
      const outcome = await outcomeOf(name);
      if ("error" in outcome) {
        expect(outcome.error).toBeInstanceOf(FileFormatError);
        return;
      }
      for (const row of outcome.rows) expect(isStorable(row.value)).toBe(true);
    });
  }
});

describe("strings", () => {
  test("strings are trimmed", async () => {
    expect(await readText('["  Paris  ", "\\tLyon\\n", "Springfield, IL"]')).toEqual([
      { kind: "text", value: "Paris" },
      { kind: "text", value: "Lyon" },
      { kind: "text", value: "Springfield, IL" },
    ]);
  });

  test("escapes are decoded", async () => {
    expect(await readText('["S\\u00e3o Paulo", "\\"Q\\" \\\\ /", "\\ud834\\udd1e"]')).toEqual([
      { kind: "text", value: "São Paulo" },
      { kind: "text", value: '"Q" \\ /' },
      { kind: "text", value: "\u{1d11e}" },
    ]);
  });

  test("escaped backslash before u is text", async () => {
    // "\\ud800" is a backslash followed by the letters "ud800", not a surrogate escape.
    expect(await readText('["\\\\ud800"]')).toEqual([{ kind: "text", value: "\\ud800" }]);
  });

  test("empty and blank strings are invalid", async () => {
    const rows = await readText('["", "   "]');
    expect(rows).toEqual([
      { kind: "invalid", value: "", error: "value is empty" },
      { kind: "invalid", value: "", error: "value is empty" },
    ]);
  });

  test("string of 512 characters accepted", async () => {
    const value = "a".repeat(maxValueLength);
    expect(await readText(JSON.stringify([value]))).toEqual([{ kind: "text", value }]);
  });

  test("string over 512 characters is invalid", async () => {
    const rows = await readText(JSON.stringify(["Paris", "a".repeat(maxValueLength + 1)]));
    expect(rows[0]).toEqual({ kind: "text", value: "Paris" });
    expect(rows[1]?.kind).toBe("invalid");
    expect(rows[1]?.value.length).toBe(maxValueLength);
    expect(rows[1]).toMatchObject({ error: "value longer than 512 characters" });
  });
});

describe("text Postgres cannot store", () => {
  const unstorable: [string, string, string][] = [
    ["NUL", '"a\\u0000b"', "a\uFFFDb"],
    ["NUL alone", '"\\u0000"', "\uFFFD"],
    ["lone high surrogate", '"\\ud800"', "\uFFFD"],
    ["high surrogate mid-string", '"x\\ud800y"', "x\uFFFDy"],
    ["lone low surrogate", '"x\\udc00y"', "x\uFFFDy"],
    ["high then non-surrogate escape", '"\\ud888\\u1234"', "\uFFFD\u1234"],
    ["surrogates inverted", '"\\udd1e\\ud834"', "\uFFFD\uFFFD"],
    ["two high surrogates", '"\\ud800\\ud800"', "\uFFFD\uFFFD"],
    ["high surrogate then escape", '"\\ud800\\n"', "\uFFFD"],
  ];
  for (const [label, element, shown] of unstorable) {
    test(`${label} is invalid`, async () => {
      const rows = await readText(`[${element}]`);
      expect(rows.length).toBe(1);
      const row = rows[0];
      expect(row?.kind).toBe("invalid");
      expect(row).toMatchObject({ error: "value contains a NUL character or an unpaired surrogate" });
      expect(row?.value).toBe(shown);
      expect(isStorable(row?.value ?? "\u0000")).toBe(true);
    });
  }

  test("lone surrogate leaves the next value intact", async () => {
    const rows = await readText('["\\ud800", "\\u0041bc", "\\ud83d\\ude00 ok"]');
    expect(rows[0]?.kind).toBe("invalid");
    expect(rows[1]).toEqual({ kind: "text", value: "Abc" });
    expect(rows[2]).toEqual({ kind: "text", value: "\u{1f600} ok" });
  });

  test("escapes in 1-byte chunks match one chunk", async () => {
    const text =
      '["S\\u00e3o", "\\ud834\\udd1e", "x\\ud800y", "\\\\ud800", "\\udc00", "Zürich 東京", ' +
      '{"lat": 1.5, "lng": -2}, "\\"\\\\\\/\\b\\f\\n\\r\\t", "a\\u0000b", "\\ud800"]';
    const bytes = encoder.encode(text);
    const whole = await readAll([bytes]);
    expect(whole.length).toBe(10);
    for (const size of [1, 2, 3, 5, 7, 11, 13]) {
      expect({ size, rows: await readAll(chunked(bytes, size)) }).toEqual({ size, rows: whole });
    }
  });

  test("object keys with NUL stay storable", async () => {
    const rows = await readText('[{"a\\u0000": "\\ud800"}]');
    expect(rows[0]?.kind).toBe("invalid");
    expect(isStorable(rows[0]?.value ?? "\u0000")).toBe(true);
  });
});

describe("points", () => {
  const spellings: [string, string][] = [
    ["lat", "lng"],
    ["lat", "lon"],
    ["lat", "longitude"],
    ["latitude", "lng"],
    ["latitude", "lon"],
    ["latitude", "longitude"],
  ];
  for (const [latitudeKey, longitudeKey] of spellings) {
    test(`${latitudeKey} with ${longitudeKey} is a point`, async () => {
      const element = `{"${latitudeKey}": 51.5074, "${longitudeKey}": -0.1278}`;
      const rows = await readText(`[${element}]`);
      expect(rows).toEqual([
        {
          kind: "point",
          value: `{"${latitudeKey}":51.5074,"${longitudeKey}":-0.1278}`,
          latitude: 51.5074,
          longitude: -0.1278,
        },
      ]);
    });
  }

  test("point with extra keys and integers", async () => {
    const rows = await readText('[{"name": "Null Island", "lat": 0, "lon": 0}]');
    expect(rows[0]).toMatchObject({ kind: "point", latitude: 0, longitude: 0 });
  });

  test("numeric strings are not a point", async () => {
    const rows = await readText('[{"lat": "51.5", "lng": "-0.1"}]');
    expect(rows[0]?.kind).toBe("invalid");
    expect(rows[0]).toMatchObject({ error: "expected a place name or an object with numeric lat and lng, got object" });
  });

  test("point missing longitude is invalid", async () => {
    const rows = await readText('[{"lat": 51.5}]');
    expect(rows[0]?.kind).toBe("invalid");
  });
});

describe("invalid elements", () => {
  const elements: [string, string, string][] = [
    ["number", "42", "number"],
    ["null", "null", "null"],
    ["boolean", "true", "boolean"],
    ["array", '["Paris"]', "array"],
    ["other object", '{"city": "Paris"}', "object"],
  ];
  for (const [label, element, type] of elements) {
    test(`${label} is invalid`, async () => {
      const rows = await readText(`["Paris", ${element}, "Lyon"]`);
      expect(rows.length).toBe(3);
      expect(rows[0]).toEqual({ kind: "text", value: "Paris" });
      expect(rows[1]).toEqual({
        kind: "invalid",
        value: JSON.stringify(JSON.parse(element)),
        error: `expected a place name or an object with numeric lat and lng, got ${type}`,
      });
      expect(rows[2]).toEqual({ kind: "text", value: "Lyon" });
    });
  }

  test("long invalid element shown cut to 512", async () => {
    const rows = await readText(JSON.stringify([Array.from({ length: 1000 }, (_, index) => index)]));
    expect(rows[0]?.kind).toBe("invalid");
    expect(rows[0]?.value.length).toBe(maxValueLength);
  });

  test("deeply nested element fails its row", async () => {
    // Deep enough that JSON.stringify overflows the stack while showing the element.
    const depth = 100_000;
    const rows = await readText(`["Paris", ${"[".repeat(depth)}${"]".repeat(depth)}, "Lyon"]`);
    expect(rows.length).toBe(3);
    expect(rows[1]?.kind).toBe("invalid");
    expect(rows[1]).toMatchObject({ error: "expected a place name or an object with numeric lat and lng, got array" });
    expect(rows[2]).toEqual({ kind: "text", value: "Lyon" });
  });
});

describe("file structure", () => {
  test("empty array yields nothing", async () => {
    expect(await readText("[]")).toEqual([]);
    expect(await readText(" \n[ \n ]\n ")).toEqual([]);
  });

  test("BOM and whitespace around the array", async () => {
    expect(await readText('\uFEFF\r\n  ["Paris"]  \n\n')).toEqual([{ kind: "text", value: "Paris" }]);
  });

  test("content type with parameters", async () => {
    expect(await readText('["Paris"]', "application/json; charset=utf-8")).toEqual([{ kind: "text", value: "Paris" }]);
  });

  test("100,000 unclosed [ fails the file", async () => {
    const error = await readError("[".repeat(100_000));
    expect(error).toBeInstanceOf(FileFormatError);
    expect(error.message).toStartWith("invalid JSON");
  });

  test("top-level object fails mentioning array", async () => {
    const error = await readError('{"lat": 51.5, "lng": -0.1}');
    expect(error).toBeInstanceOf(FileFormatError);
    expect(error.message).toContain("array");
  });

  test("top-level string fails mentioning array", async () => {
    const error = await readError('"Paris"');
    expect(error).toBeInstanceOf(FileFormatError);
    expect(error.message).toContain("array");
  });

  test("trailing garbage fails the file", async () => {
    const error = await readError('["Paris"] x');
    expect(error).toBeInstanceOf(FileFormatError);
    expect(error.message).toStartWith("invalid JSON");
  });

  test("second array fails the file", async () => {
    const error = await readError('["Paris"]["Lyon"]');
    expect(error).toBeInstanceOf(FileFormatError);
  });

  test("unclosed array fails the file", async () => {
    const error = await readError('["Paris", "Lyon"');
    expect(error).toBeInstanceOf(FileFormatError);
  });

  test("trailing comma fails the file", async () => {
    const error = await readError('["Paris",]');
    expect(error).toBeInstanceOf(FileFormatError);
  });

  test.each([
    ['["Paris" "Secret Lyon"]', "invalid JSON: found a string after element 1 where ',' or ']' was expected"],
    ['["Paris", }', "invalid JSON: found '}' after element 1 where a value was expected"],
    ['["Paris", "Lyon"', "invalid JSON: the file ends after element 2 without closing the array"],
    ['["Secret unterminated', "invalid JSON: the file ends before the first element without closing the array"],
    ['["Paris", tru]', "invalid JSON: unexpected character after element 1; check for a missing quote or comma"],
  ])("error for %p names the place, not the content", async (text, message) => {
    const error = await readError(text);
    expect(error).toBeInstanceOf(FileFormatError);
    expect(error.message).toBe(message);
    expect(error.message).not.toContain("Secret");
  });

  test("invalid JSON after many rows fails the file", async () => {
    const text = `[${Array.from({ length: 10_000 }, (_, index) => `"Place ${index}"`).join(",")}, oops]`;
    let thrown: unknown = null;
    try {
      for await (const _row of readRows(streamOf(chunked(encoder.encode(text), 4096)), json)) {
        // Rows before the error may be yielded; the caller validates the whole file first.
      }
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(FileFormatError);
  });

  test("stopping early cancels the body", async () => {
    let cancelled = false;
    let started = false;
    const endless = new ReadableStream<Uint8Array>({
      pull(controller) {
        controller.enqueue(encoder.encode(started ? ',"Paris"'.repeat(100) : '["Paris"'));
        started = true;
      },
      cancel() {
        cancelled = true;
      },
    });
    const values: string[] = [];
    for await (const row of readRows(endless, json)) {
      values.push(row.value);
      if (values.length === 3) break;
    }
    expect(values).toEqual(["Paris", "Paris", "Paris"]);
    expect(cancelled).toBe(true);
  });
});
