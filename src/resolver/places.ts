// Place-name matching: "name", "name, country", "name, region, country" or "name, region" to one
// gazetteer place.

import type { CountryLookup } from "./countries.ts";
import type { Admin1Index, Gazetteer, PlaceIndex } from "./gazetteer.ts";
import { countryCodeOf } from "./gazetteer.ts";
import type { NameIndex } from "./name-index.ts";
import { foldName, splitParts } from "./normalize.ts";
import type { RegionIndex } from "./regions.ts";

/**
 * The place a value names. Level `region` means that the name itself matched nothing and the place
 * represents the region given with it: the place named like the region, or else its most populous place.
 */
export interface PlaceMatch {
  place: PlaceIndex;
  level: "place" | "region";
}

/** A value split into the name and what qualifies it. */
export interface PlaceQuery {
  name: string;
  /** ISO 3166-1 alpha-2 code of the country given as the last one or two parts, if they name one. */
  countryCode: string | undefined;
  /** The parts between name and country, most specific first; all parts after the name when no country is given. */
  regionParts: string[];
  /** The last part when it alone names the country; it may name a region instead: "IL" is also Illinois. */
  countryPart: string | undefined;
}

/** A country name spans at most two comma-separated parts, as in "Korea, Republic of". */
const maxCountryParts = 2;

/** Splits a value into name, regions and country; undefined when it has no name. */
export function parsePlaceQuery(text: string, countries: CountryLookup): PlaceQuery | undefined {
  const [name, ...qualifiers] = splitParts(text);
  if (name === undefined) return undefined;

  for (let count = Math.min(maxCountryParts, qualifiers.length); count >= 1; count--) {
    const countryCode = countries.find(qualifiers.slice(-count).join(", "));
    if (countryCode !== undefined) {
      return {
        name,
        countryCode,
        regionParts: qualifiers.slice(0, -count),
        countryPart: count === 1 ? qualifiers[qualifiers.length - 1] : undefined,
      };
    }
  }
  return { name, countryCode: undefined, regionParts: qualifiers, countryPart: undefined };
}

export interface PlaceMatcherSources {
  gazetteer: Gazetteer;
  names: NameIndex;
  regions: RegionIndex;
  countries: CountryLookup;
}

/**
 * Returns a function that finds the place a value names, or undefined when nothing matches. The rules:
 * - The name matches places by name or alternate name, only in the country when one is given.
 * - Of those, a place in more of the given regions wins, then the more populous place. A region that
 *   names no division of the matching places changes nothing: "Paris, Foo" is Paris, France.
 * - A last part that reads as a country in which the name has no place is tried as a region code.
 * - Only when the name matches no place does a region stand in (level `region`).
 */
export function createPlaceMatcher(sources: PlaceMatcherSources): (text: string) => PlaceMatch | undefined {
  const { gazetteer, names, regions, countries } = sources;

  const inCountry = (places: Int32Array, countryCode: string): Int32Array =>
    places.filter((place) => countryCodeOf(gazetteer, place) === countryCode);

  const inDivisions = (places: Int32Array, divisions: readonly Admin1Index[]): Int32Array =>
    places.filter((place) => divisions.includes(gazetteer.admin1Indexes[place] ?? -1));

  /**
   * Picks the place in the most of the given regions, and of those the most populous. Because `places`
   * is ordered from the most populous down, the first place with the highest count wins.
   */
  const bestOf = (places: Int32Array, regionDivisions: readonly (readonly Admin1Index[])[]): PlaceIndex => {
    let best = places[0] ?? -1;
    let bestCount = 0;
    for (const place of places) {
      const division = gazetteer.admin1Indexes[place] ?? -1;
      let count = 0;
      for (const divisions of regionDivisions) {
        if (divisions.includes(division)) count++;
      }
      if (count > bestCount) {
        best = place;
        bestCount = count;
      }
    }
    return best;
  };

  const largestOf = (places: Iterable<PlaceIndex>): PlaceIndex | undefined => {
    let largest: PlaceIndex | undefined;
    for (const place of places) {
      if (largest === undefined || (gazetteer.populations[place] ?? 0) > (gazetteer.populations[largest] ?? 0)) {
        largest = place;
      }
    }
    return largest;
  };

  /**
   * Picks the place that represents a region when the name matched nothing. The first region that names
   * an admin1 division (in the country, when one is given) gives the place named like the region inside
   * that division, else the division's most populous place. A region that names no division gives the
   * most populous place named like it.
   */
  const placeForRegion = (regionParts: readonly string[], countryCode: string | undefined): PlaceIndex | undefined => {
    for (const part of regionParts) {
      let divisions = regions.divisionsNamed(part);
      let namedLikeRegion = names.placesNamed(foldName(part));
      if (countryCode !== undefined) {
        divisions = divisions.filter((division) => gazetteer.admin1CountryCodes[division] === countryCode);
        namedLikeRegion = inCountry(namedLikeRegion, countryCode);
      }

      if (divisions.length > 0) {
        // "Madrid" names both the Community of Madrid and its city: the city inside the division wins.
        const namedInDivision = inDivisions(namedLikeRegion, divisions);
        if (namedInDivision.length > 0) return namedInDivision[0];
        return largestOf(divisions.map((division) => regions.largestPlaceOf(division)));
      }
      if (namedLikeRegion.length > 0) return namedLikeRegion[0];
    }
    return undefined;
  };

  return (text) => {
    const query = parsePlaceQuery(text, countries);
    if (query === undefined) return undefined;

    const candidates = names.placesNamed(foldName(query.name));
    const regionDivisions = query.regionParts.map((part) => regions.divisionsNamed(part));
    const found = (places: Int32Array): PlaceMatch => ({ place: bestOf(places, regionDivisions), level: "place" });

    if (query.countryCode === undefined) {
      if (candidates.length > 0) return found(candidates);
    } else {
      const candidatesInCountry = inCountry(candidates, query.countryCode);
      if (candidatesInCountry.length > 0) return found(candidatesInCountry);

      // "Springfield, IL" has no match in Israel but one in Illinois.
      if (query.countryPart !== undefined) {
        const candidatesInRegion = inDivisions(candidates, regions.divisionsNamed(query.countryPart));
        if (candidatesInRegion.length > 0) return found(candidatesInRegion);
      }
    }

    const place = placeForRegion(query.regionParts, query.countryCode);
    return place === undefined ? undefined : { place, level: "region" };
  };
}
