// Builds the values that the downloads benchmark seeds its jobs with, so that result rows have the
// content and length of real ones. Ok rows get place names from world-cities.csv with the locations that the
// embedded resolver returns for them. Failed rows get values that it rejects, with its errors.
import { parse } from "csv-parse/sync";
import { loadEmbeddedResolver, type ResolvedLocation } from "../../../src/resolver/index.ts";
import type { MatchLevel } from "../../../src/resolver/types.ts";
import { readPlaceLines } from "../../support/places.ts";

/** Number of place names resolved for the ok rows. The first 5,000 lines resolve to about 3,650 distinct places. */
const resolvedPlaceCount = 5000;
/** Number of place names turned into misspelled values for the failed rows. */
const misspelledPlaceCount = 900;
const invalidPointCount = 100;

export interface OkValue {
  value: string;
  location: ResolvedLocation;
  matchLevel: MatchLevel;
}

export interface FailedValue {
  value: string;
  error: string;
}

export interface ValuePools {
  ok: OkValue[];
  failed: FailedValue[];
  /** Distinct locations among the ok values. */
  locationCount: number;
}

/**
 * Swaps the second and third letters of a place's name and drops its region and country, as a typing
 * slip would. A name shorter than four letters gets an "x" appended instead.
 */
function misspell(value: string): string {
  const name = value.split(",")[0]!.trim();
  if (name.length < 4) return `${name}x`;
  return `${name[0]}${name[2]}${name[1]}${name.slice(3)}`;
}

/**
 * Builds both pools with the embedded resolver, which takes a few seconds to load. Throws when either
 * pool ends up empty, because the seeding SQL picks values from both.
 */
export async function buildValuePools(): Promise<ValuePools> {
  // Each line of world-cities.csv is one quoted CSV value.
  const places = (parse((await readPlaceLines()).join("\n")) as string[][]).map((record) => record.join(","));
  const resolver = loadEmbeddedResolver();

  const ok: OkValue[] = [];
  for (const value of places.slice(0, resolvedPlaceCount)) {
    const resolution = resolver.resolveText(value);
    if (resolution.ok) ok.push({ value, location: resolution.location, matchLevel: resolution.matchLevel ?? "place" });
  }

  const candidates = places.slice(0, misspelledPlaceCount).map(misspell);
  // Latitudes from 90.5 to 140 are out of range, so the resolver rejects them as invalid coordinates.
  for (let index = 0; index < invalidPointCount; index += 1) {
    candidates.push(`${(90.5 + index / 2).toFixed(4)}, ${(-179.5 + index * 3.1).toFixed(4)}`);
  }
  const failed: FailedValue[] = [];
  for (const value of candidates) {
    const resolution = resolver.resolveText(value);
    if (!resolution.ok) failed.push({ value, error: resolution.error });
  }

  if (ok.length === 0 || failed.length === 0) {
    throw new Error(`the resolver returned ${ok.length} resolved and ${failed.length} rejected values, but the seeding needs at least one of each`);
  }
  const locationCount = new Set(ok.map((entry) => entry.location.locationHash)).size;
  return { ok, failed, locationCount };
}
