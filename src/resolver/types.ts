// The result type of every resolver, so the row stage does not depend on how a value was resolved.

/** A resolved place, as stored in the `locations` table and returned in results. */
export interface ResolvedLocation {
  /** Stable id of the place: the same place gets the same hash in every job and on every machine. */
  locationHash: string;
  name: string;
  /** ISO 3166-1 alpha-2. */
  countryCode: string;
  /** The first-level administrative division (state, region), by name where the data has it, else its code; null when unknown. */
  admin1: string | null;
  latitude: number;
  longitude: number;
  /** Source of the place: `geonames` for a gazetteer place, `coordinates` for a point given as input. */
  source: string;
  /** The place's id in its source: a GeoNames id, or the rounded `lat,lng` of a point. */
  sourceId: string;
}

/**
 * Precision of a match: `place` when the name matched a place, `region` when only the region given with
 * the name did, `point` for coordinates. At level `region` the location is a place that represents the
 * region, the coarser match that batch geocoders return when they do not know the precise place.
 */
export type MatchLevel = "place" | "region" | "point";

export type Resolution =
  | { ok: true; location: ResolvedLocation; matchLevel?: MatchLevel }
  | { ok: false; error: string };

/** Resolves one row's value. Synchronous because the embedded gazetteer is in memory. */
export interface Resolver {
  /** A place name ("name", "name, country", "name, region, country", "name, region") or a "lat,lng" / "lat lng" pair. */
  resolveText(text: string): Resolution;
  /** A coordinate pair given as numbers (a JSON object with lat/lng). */
  resolvePoint(latitude: number, longitude: number): Resolution;
}
