// Acceptance figures of the embedded resolver on 34,032 real "name, region, country" values (the
// datasets/world-cities package, drawn from GeoNames): the share that resolves, and of the values whose
// place is in the gazetteer, the share that resolves to exactly that place.
import { expect, test } from "bun:test";
import { parse } from "csv-parse/sync";
import { loadEmbeddedResolver } from "../src/resolver/index.ts";
import { loadGazetteer } from "../src/resolver/gazetteer.ts";

const minResolvedShare = 0.97;
const minExactShare = 0.95;

// The data lives in shared/, beside the repository.
const dataDirectory = new URL("../../shared/data/", import.meta.url);

test("world cities resolve at the required rates", async () => {
  const records: string[][] = parse(await Bun.file(new URL("world-cities.csv", dataDirectory)).text(), {
    relax_column_count: true,
  });
  const values = records.map((fields) => fields.join(", "));

  // Columns: row (1-based), value, GeoNames id.
  const [, ...expectedLines] = (await Bun.file(new URL("world-cities.expected.tsv", dataDirectory)).text())
    .trimEnd()
    .split("\n");
  const expectedIds = expectedLines.map((line) => line.split("\t")[2] ?? "");
  expect(values.length).toBe(34_032);
  expect(expectedIds.length).toBe(values.length);

  const gazetteer = loadGazetteer();
  const gazetteerIds = new Set(Array.from(gazetteer.geonameIds, (id) => String(id)));

  const resolver = loadEmbeddedResolver();
  let resolvedCount = 0;
  let inGazetteerCount = 0;
  let exactCount = 0;
  values.forEach((value, row) => {
    const resolution = resolver.resolveText(value);
    if (resolution.ok) resolvedCount++;

    const expectedId = expectedIds[row] ?? "";
    if (!gazetteerIds.has(expectedId)) return;
    inGazetteerCount++;
    if (resolution.ok && resolution.location.sourceId === expectedId) exactCount++;
  });

  const resolvedShare = resolvedCount / values.length;
  const exactShare = exactCount / inGazetteerCount;
  console.log(
    `world cities: ${resolvedCount}/${values.length} resolved (${(resolvedShare * 100).toFixed(2)}%), ` +
      `${exactCount}/${inGazetteerCount} of the values in the gazetteer exact (${(exactShare * 100).toFixed(2)}%)`,
  );
  expect(resolvedShare).toBeGreaterThanOrEqual(minResolvedShare);
  expect(exactShare).toBeGreaterThanOrEqual(minExactShare);
});
