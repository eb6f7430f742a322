// Coordinate input: parsing "lat,lng" and "lat lng" text, range checks, and the nearest gazetteer place.

import KDBush from "kdbush";
import { around } from "geokdbush";

import type { Gazetteer, PlaceIndex } from "./gazetteer.ts";

/** A point in decimal degrees, or the reason the input is not a valid point. */
export type PointParse = { ok: true; latitude: number; longitude: number } | { ok: false; error: string };

const decimal = String.raw`[+-]?(?:\d+(?:\.\d*)?|\.\d+)`;
// Two decimal numbers separated by a comma, by spaces, or by both: "51.5074,-0.1278", "-33.86 151.21".
const pointPattern = new RegExp(String.raw`^\s*(${decimal})\s*(?:,|\s)\s*(${decimal})\s*$`);

/** Reads text as a point; undefined when the text is not two numbers, so that it is matched as a name. */
export function parsePointText(text: string): PointParse | undefined {
  const match = pointPattern.exec(text);
  if (match === null) return undefined;
  return checkPoint(Number(match[1]), Number(match[2]));
}

/** Accepts finite coordinates within latitude -90..90 and longitude -180..180. */
export function checkPoint(latitude: number, longitude: number): PointParse {
  if (!Number.isFinite(latitude) || !Number.isFinite(longitude)) {
    return { ok: false, error: "invalid coordinates: latitude and longitude must be finite numbers" };
  }
  if (latitude < -90 || latitude > 90) {
    return { ok: false, error: "invalid coordinates: latitude must be between -90 and 90" };
  }
  if (longitude < -180 || longitude > 180) {
    return { ok: false, error: "invalid coordinates: longitude must be between -180 and 180" };
  }
  return { ok: true, latitude, longitude };
}

/** Finds the gazetteer place nearest to a point, by great-circle distance. */
export interface NearestPlaceIndex {
  nearestPlace(latitude: number, longitude: number): PlaceIndex;
}

export function buildNearestPlaceIndex(gazetteer: Gazetteer): NearestPlaceIndex {
  const tree = new KDBush(gazetteer.placeCount);
  for (let place = 0; place < gazetteer.placeCount; place++) {
    tree.add(gazetteer.longitudes[place] ?? 0, gazetteer.latitudes[place] ?? 0);
  }
  tree.finish();

  return {
    nearestPlace(latitude, longitude) {
      const [place] = around(tree, longitude, latitude, 1);
      if (place === undefined) throw new Error("nearest-place search returned no place from a non-empty gazetteer");
      return place;
    },
  };
}
