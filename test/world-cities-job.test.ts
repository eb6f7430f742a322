// The main job on real input: the 34,032 place names of world-cities.csv through the queues,
// with the share of rows resolved and the share resolved to the expected GeoNames id.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { loadGazetteer } from "../src/resolver/gazetteer.ts";
import type { RunningWorker } from "../src/worker/worker.ts";
import { createHarness, type Harness } from "./support/harness.ts";
import { TestClient, startTestWorker } from "./support/jobs.ts";

const dataFolder = new URL("../../shared/data/", import.meta.url);

let harness: Harness;
let worker: RunningWorker;

beforeAll(async () => {
  harness = await createHarness();
  worker = await startTestWorker(harness);
});
afterAll(async () => {
  await worker.stop();
  await harness.cleanup();
});

test("world-cities job resolves 97% and matches 95% of known ids", async () => {
  const client = new TestClient(harness);
  const csv = await Bun.file(new URL("world-cities.csv", dataFolder)).text();
  const expected = (await Bun.file(new URL("world-cities.expected.tsv", dataFolder)).text())
    .trim()
    .split("\n")
    .slice(1)
    .map((line) => line.split("\t"));
  const gazetteerIds = new Set(Array.from(loadGazetteer().geonameIds, (id) => String(id)));

  const jobHash = await client.createJob(await client.upload(csv, "text/csv"));
  const final = await client.waitForEnd(jobHash, 300_000);
  expect(final.status).toBe("complete");
  expect(final.total_rows).toBe(expected.length);
  expect(final.completed + final.failed).toBe(expected.length);

  const results = await client.allResults(jobHash);
  expect(results).toHaveLength(expected.length);
  let resolved = 0;
  let known = 0;
  let exact = 0;
  for (const [index, [row, , geonameId]] of expected.entries()) {
    const result = results[index];
    expect(result.row).toBe(Number(row));
    if (result.status === "ok") resolved += 1;
    if (!gazetteerIds.has(geonameId!)) continue;
    known += 1;
    if (result.location?.source === "geonames" && result.location.source_id === geonameId) exact += 1;
  }
  const resolvedShare = resolved / expected.length;
  const exactShare = exact / known;
  console.log(
    `world-cities: ${resolved} of ${expected.length} rows resolved (${(100 * resolvedShare).toFixed(2)}%); ` +
      `${exact} of ${known} rows with a gazetteer id resolved to that id (${(100 * exactShare).toFixed(2)}%)`,
  );
  expect(resolvedShare).toBeGreaterThanOrEqual(0.97);
  expect(exactShare).toBeGreaterThanOrEqual(0.95);
}, 360_000);
