// The embedded resolver on the real gazetteer: coordinates, place names with country and region filters,
// text folding, the region fallback, location hashes, and cases from public geocoder test suites.
import { beforeAll, describe, expect, test } from "bun:test";
import { buildCountryLookup } from "../src/resolver/countries.ts";
import { loadEmbeddedResolver } from "../src/resolver/index.ts";
import { foldName } from "../src/resolver/normalize.ts";
import type { Resolution, ResolvedLocation, Resolver } from "../src/resolver/types.ts";

let resolver: Resolver;

beforeAll(() => {
  resolver = loadEmbeddedResolver();
});

// GeoNames ids of the places the cases below expect.
const parisFrance = "2988507";
const parisTexas = "4717560";
const saoPaulo = "3448439";
const springfieldIllinois = "4250542";
const springfieldMissouri = "4409896";
const antwerp = "2803138";
const madrid = "3117735";
const dubai = "292223";

function located(resolution: Resolution): ResolvedLocation {
  if (!resolution.ok) throw new Error(`expected a location, got error "${resolution.error}"`);
  return resolution.location;
}

function resolved(text: string): ResolvedLocation {
  return located(resolver.resolveText(text));
}

function levelOf(resolution: Resolution): string | undefined {
  if (!resolution.ok) throw new Error(`expected a location, got error "${resolution.error}"`);
  return resolution.matchLevel;
}

function failure(resolution: Resolution): string {
  if (resolution.ok) throw new Error(`expected an error, got ${resolution.location.name} (${resolution.location.sourceId})`);
  return resolution.error;
}

describe("coordinates", () => {
  test("lat,lng text resolves to that point", () => {
    const resolution = resolver.resolveText("51.5074,-0.1278");
    const location = located(resolution);
    expect(levelOf(resolution)).toBe("point");
    expect(location.latitude).toBe(51.5074);
    expect(location.longitude).toBe(-0.1278);
    expect(location.source).toBe("coordinates");
    expect(location.sourceId).toBe("51.507400,-0.127800");
    expect(location.name).toBe("London");
    expect(location.countryCode).toBe("GB");
    expect(location.admin1).toBe("England");
  });

  test("lat lng text with spaces and signs", () => {
    const location = resolved("  -33.86 151.21 ");
    expect(location.latitude).toBe(-33.86);
    expect(location.longitude).toBe(151.21);
    expect(location.sourceId).toBe("-33.860000,151.210000");
    expect(location.countryCode).toBe("AU");
    expect(resolved("+40.4168, -3.7038").countryCode).toBe("ES");
  });

  test("point is rounded to 6 decimals", () => {
    const location = resolved("48.85661234567,2.35222987654");
    expect(location.latitude).toBe(48.856612);
    expect(location.longitude).toBe(2.35223);
    expect(location.sourceId).toBe("48.856612,2.352230");
  });

  test("latitude out of range fails naming the range", () => {
    expect(failure(resolver.resolveText("91,0"))).toContain("latitude must be between -90 and 90");
    expect(failure(resolver.resolveText("-90.000001 10"))).toContain("latitude must be between -90 and 90");
  });

  test("longitude out of range fails naming the range", () => {
    expect(failure(resolver.resolveText("0,181"))).toContain("longitude must be between -180 and 180");
    expect(failure(resolver.resolveText("40.744131,-433.990425"))).toContain("longitude must be between -180 and 180");
  });

  test("range bounds are valid", () => {
    expect(resolved("90,180").sourceId).toBe("90.000000,180.000000");
    expect(resolved("-90 -180").sourceId).toBe("-90.000000,-180.000000");
  });

  test("resolvePoint matches the text form", () => {
    const fromNumbers = located(resolver.resolvePoint(51.5074, -0.1278));
    expect(fromNumbers).toEqual(resolved("51.5074,-0.1278"));
  });

  test("resolvePoint rejects non-finite and out-of-range numbers", () => {
    expect(failure(resolver.resolvePoint(Number.NaN, 0))).toContain("finite");
    expect(failure(resolver.resolvePoint(0, Number.POSITIVE_INFINITY))).toContain("finite");
    expect(failure(resolver.resolvePoint(-91, 0))).toContain("between -90 and 90");
    expect(failure(resolver.resolvePoint(0, 180.5))).toContain("between -180 and 180");
  });

  test("point hash depends on the rounded point only", () => {
    const hash = resolved("51.5074,-0.1278").locationHash;
    expect(hash).toMatch(/^[0-9a-f]{32}$/);
    expect(resolved(" 51.50740  -0.12780 ").locationHash).toBe(hash);
    expect(located(resolver.resolvePoint(51.5074000001, -0.1278)).locationHash).toBe(hash);
    expect(resolved("51.5075,-0.1278").locationHash).not.toBe(hash);
  });

  test("negative zero rounds to zero", () => {
    const location = resolved("-0.0000001,0");
    expect(location.sourceId).toBe("0.000000,0.000000");
    expect(location.locationHash).toBe(resolved("0,0").locationHash);
  });
});

describe("place names", () => {
  test("name alone gives the most populous place", () => {
    const location = resolved("Paris");
    expect(location.sourceId).toBe(parisFrance);
    expect(location.source).toBe("geonames");
    expect(location.name).toBe("Paris");
    expect(location.countryCode).toBe("FR");
    expect(location.admin1).toBe("Île-de-France");
  });

  test("country code filters the places", () => {
    const location = resolved("Paris, US");
    expect(location.countryCode).toBe("US");
    expect(location.sourceId).toBe(parisTexas);
  });

  test("country by alpha-3 code and by name", () => {
    expect(resolved("Paris, FRA").sourceId).toBe(parisFrance);
    expect(resolved("Paris, France").sourceId).toBe(parisFrance);
    expect(resolved("moscow, us").countryCode).toBe("US");
    expect(resolved("Moscow, Russian Federation").countryCode).toBe("RU");
  });

  test("region name and country filter the places", () => {
    const location = resolved("paris, texas, us");
    expect(location.sourceId).toBe(parisTexas);
    expect(location.admin1).toBe("Texas");
    expect(resolved("Paris, Texas").sourceId).toBe(parisTexas);
  });

  test("region code wins over population", () => {
    expect(resolved("Springfield").sourceId).toBe(springfieldMissouri);
    const location = resolved("Springfield, IL");
    expect(location.sourceId).toBe(springfieldIllinois);
    expect(location.admin1).toBe("Illinois");
    expect(resolved("Springfield, Illinois, United States").sourceId).toBe(springfieldIllinois);
    expect(resolved("Springfield, MO").sourceId).toBe(springfieldMissouri);
  });

  test("last part that names a country can be a region", () => {
    // GA is Gabon and Georgia is also a country; neither has an Atlanta.
    expect(resolved("Atlanta, GA").admin1).toBe("Georgia");
    expect(resolved("Atlanta, Georgia").countryCode).toBe("US");
  });

  test("case, accents and punctuation are ignored", () => {
    expect(resolved("sao paulo").sourceId).toBe(saoPaulo);
    expect(resolved("SÃO PAULO!").sourceId).toBe(saoPaulo);
    expect(resolved("São-Paulo, BR").sourceId).toBe(saoPaulo);
  });

  test("St. and Saint match", () => {
    const abbreviated = resolved("St. Louis");
    expect(abbreviated.countryCode).toBe("US");
    expect(resolved("Saint Louis").sourceId).toBe(abbreviated.sourceId);
    expect(resolved("saint-louis").sourceId).toBe(abbreviated.sourceId);
  });

  test("alternate names match", () => {
    expect(resolved("Antwerp, Belgium").sourceId).toBe(antwerp);
    expect(resolved("Αθήνα").countryCode).toBe("GR");
    expect(resolved("パリ").sourceId).toBe(parisFrance);
  });

  test("ISO-style country names with commas", () => {
    const cases: [string, string][] = [
      ["Tehran, Tehran, Iran, Islamic Republic of", "IR"],
      ["Seoul, Korea, Republic of", "KR"],
      ["Kinshasa, Congo, The Democratic Republic of the", "CD"],
      ["La Paz, Bolivia, Plurinational State of", "BO"],
      ["Caracas, Venezuela, Bolivarian Republic of", "VE"],
      ["Taipei, Taiwan, Province of China", "TW"],
    ];
    for (const [text, countryCode] of cases) {
      expect({ text, countryCode: resolved(text).countryCode }).toEqual({ text, countryCode });
    }
  });

  test("other country spellings", () => {
    const cases: [string, string][] = [
      ["Hanoi, Viet Nam", "VN"],
      ["Praia, Cabo Verde", "CV"],
      ["Saint-Denis, Réunion", "RE"],
      ["Pristina, Kosovo", "XK"],
      ["Pristina, XK", "XK"],
      ["Brazzaville, Congo", "CG"],
      ["Berlin, Deutschland", "DE"],
    ];
    for (const [text, countryCode] of cases) {
      expect({ text, countryCode: resolved(text).countryCode }).toEqual({ text, countryCode });
    }
  });

  test("unknown name gives no match", () => {
    expect(failure(resolver.resolveText("Xyzzyqq"))).toBe("no match");
    expect(failure(resolver.resolveText("Paris, Japan"))).toBe("no match");
    expect(failure(resolver.resolveText(""))).toBe("no match");
    expect(failure(resolver.resolveText(" , ,"))).toBe("no match");
  });

  test("name match has level place", () => {
    const resolution = resolver.resolveText("Paris, France");
    expect(levelOf(resolution)).toBe("place");
  });
});

describe("region fallback", () => {
  test("fallback to place named like region", () => {
    const resolution = resolver.resolveText("Opañel, Madrid, Spain");
    expect(located(resolution).sourceId).toBe(madrid);
    expect(levelOf(resolution)).toBe("region");
    expect(resolved("Warīsān, Dubai, United Arab Emirates").sourceId).toBe(dubai);
  });

  test("fallback to region's most populous place", () => {
    const resolution = resolver.resolveText("Qwxz Heights, British Columbia, Canada");
    const location = located(resolution);
    expect(levelOf(resolution)).toBe("region");
    expect(location.countryCode).toBe("CA");
    expect(location.admin1).toBe("British Columbia");
    expect(location.name).toBe("Vancouver");
  });

  test("fallback never overrides a name match", () => {
    // Paris is in France although not in Texas, and the name match is kept.
    const resolution = resolver.resolveText("Paris, Texas, France");
    expect(located(resolution).sourceId).toBe(parisFrance);
    expect(levelOf(resolution)).toBe("place");
  });

  test("unknown name without region fails", () => {
    expect(failure(resolver.resolveText("Toa Payoh New Town, Singapore"))).toBe("no match");
  });
});

describe("location hash", () => {
  test("same place twice gives the same hash", () => {
    expect(resolved("Paris").locationHash).toBe(resolved("Paris").locationHash);
  });

  test("two spellings of one place share a hash", () => {
    const hash = resolved("Paris, France").locationHash;
    expect(resolved("PARIS").locationHash).toBe(hash);
    expect(resolved("paris, FR").locationHash).toBe(hash);
    expect(resolved("パリ").locationHash).toBe(hash);
  });

  test("hash is SHA-256 of the GeoNames id, cut to 32 hex digits", () => {
    // Pinned so that a change of hashing, which would break stored locations, fails here.
    expect(resolved("Paris").locationHash).toBe("114009559021cefd8826f378ccb4c85a");
    const digest = new Bun.CryptoHasher("sha256").update(`geonames:${parisFrance}`).digest("hex");
    expect(resolved("Paris").locationHash).toBe(digest.slice(0, 32));
  });

  test("different places get different hashes", () => {
    expect(resolved("Paris, US").locationHash).not.toBe(resolved("Paris, FR").locationHash);
  });
});

describe("text folding", () => {
  test("folds case, accents, punctuation and spaces", () => {
    expect(foldName("São Paulo")).toBe("saopaulo");
    expect(foldName("SAO-PAULO!")).toBe("saopaulo");
    expect(foldName("Łódź")).toBe("lodz");
    expect(foldName("Straße")).toBe("strasse");
    expect(foldName("Hawaiʻi")).toBe("hawaii");
  });

  test("St and Ste are whole words only", () => {
    expect(foldName("St. Louis")).toBe("saintlouis");
    expect(foldName("Ste-Foy")).toBe("saintefoy");
    expect(foldName("Stes")).toBe("stes");
    expect(foldName("Forest")).toBe("forest");
  });
});

// Cases from pelias/acceptance-tests and geopy's test suite (MIT), as collected in geocode-cases.tsv.
interface GeocodeCase {
  id: string;
  kind: string;
  query: string;
  expectedCountry: string;
  latitude: number;
  longitude: number;
  tolerance: string;
}

async function readGeocodeCases(): Promise<GeocodeCase[]> {
  const path = new URL("../../shared/corpora/geocode-cases.tsv", import.meta.url);
  const [, ...lines] = (await Bun.file(path).text()).trimEnd().split("\n");
  return lines.map((line) => {
    const [id = "", kind = "", query = "", expectedCountry = "", latitude = "", longitude = "", tolerance = ""] =
      line.split("\t");
    return { id, kind, query, expectedCountry, latitude: Number(latitude), longitude: Number(longitude), tolerance };
  });
}

describe("geocoder test suite cases", () => {
  let cases: GeocodeCase[];
  beforeAll(async () => {
    cases = await readGeocodeCases();
  });

  test("reverse cases resolve to the input point", () => {
    const countries = buildCountryLookup();
    const reverse = cases.filter((geocodeCase) => geocodeCase.kind === "reverse");
    expect(reverse.length).toBeGreaterThan(20);

    for (const geocodeCase of reverse) {
      const location = resolved(geocodeCase.query);
      expect({ id: geocodeCase.id, source: location.source }).toEqual({ id: geocodeCase.id, source: "coordinates" });
      expect(location.latitude).toBeCloseTo(geocodeCase.latitude, 6);
      expect(location.longitude).toBeCloseTo(geocodeCase.longitude, 6);

      // Where the suite names the country in a form the lookup reads ("USA", "France"), the nearest
      // place lies in that country. The lookup does not read "Estados Unidos", which is Portuguese.
      const countryCode = countries.find(geocodeCase.expectedCountry);
      if (countryCode !== undefined) {
        expect({ id: geocodeCase.id, countryCode: location.countryCode }).toEqual({ id: geocodeCase.id, countryCode });
      }
    }
  });

  test("out-of-range reverse cases fail", () => {
    const outOfRange = cases.filter((geocodeCase) => geocodeCase.kind === "reverse_out_of_range");
    expect(outOfRange.length).toBe(6);

    for (const geocodeCase of outOfRange) {
      const error = failure(resolver.resolveText(geocodeCase.query));
      expect({ id: geocodeCase.id, error }).toEqual({ id: geocodeCase.id, error: expect.stringContaining("between") });
    }
  });

  // City-level forward queries that a gazetteer of populated places can resolve. A suite's country filter
  // is written as a country part; "Washington" was filtered by a bounding box around the eastern US.
  // Addresses, streets, landmarks and postcodes are left out: the gazetteer has none of them.
  const cityQueries: { query: string; country: string }[] = [
    { query: "New York", country: "" },
    { query: "kazan", country: "" },
    { query: "london", country: "" },
    { query: "moscow", country: "" },
    { query: "パリ", country: "" },
    { query: "Ryūō", country: "" },
    { query: "Washington", country: "" },
    { query: "moscow", country: "US" },
    { query: "moscow", country: "RU" },
    { query: "Toronto", country: "CA" },
    { query: "kazan", country: "TR" },
    { query: "santa cruz", country: "ES" },
    { query: "paris", country: "FR" },
    { query: "paris", country: "US" },
  ];

  test("city-level forward cases within tolerance", () => {
    for (const { query, country } of cityQueries) {
      const matching = cases.filter(
        (geocodeCase) =>
          geocodeCase.kind.startsWith("forward") &&
          geocodeCase.query === query &&
          geocodeCase.expectedCountry === country &&
          geocodeCase.tolerance.endsWith("deg"),
      );
      expect({ query, country, found: matching.length > 0 }).toEqual({ query, country, found: true });

      const location = resolved(country === "" ? query : `${query}, ${country}`);
      for (const geocodeCase of matching) {
        const toleranceDegrees = Number.parseFloat(geocodeCase.tolerance);
        const offset = Math.max(
          Math.abs(location.latitude - geocodeCase.latitude),
          Math.abs(location.longitude - geocodeCase.longitude),
        );
        expect({ id: geocodeCase.id, query, offset, withinTolerance: offset <= toleranceDegrees }).toEqual({
          id: geocodeCase.id,
          query,
          offset,
          withinTolerance: true,
        });
      }
    }
  });
});
