// Country lookup: an ISO 3166-1 code or a country name, in any of its usual spellings, to its alpha-2 code.
//
// Names come from two maintained packages: world-countries (common and official names, alternative
// spellings such as "Iran, Islamic Republic of", and native names) and i18n-iso-countries (English names
// and aliases such as "Taiwan, Province of China" or "U.S.A.").

import worldCountries from "world-countries";
import { getNames, registerLocale } from "i18n-iso-countries/index";
import englishNames from "i18n-iso-countries/langs/en.json";

import { foldName } from "./normalize.ts";

/** Finds the ISO 3166-1 alpha-2 code of a country given by code or name. */
export interface CountryLookup {
  /** The alpha-2 code for an alpha-2 or alpha-3 code or a country name; undefined when none matches. */
  find(text: string): string | undefined;
}

/**
 * Builds the lookup from the packaged country lists. A folded spelling that two countries share belongs to
 * the country whose more authoritative name it is: codes and common or official names come first, then
 * alternative spellings and English aliases, then native names. So "Congo" is the Republic of the Congo
 * (CG), as in GeoNames, although i18n-iso-countries also lists it as an alias of CD.
 */
export function buildCountryLookup(): CountryLookup {
  const codesByKey = new Map<string, string>();
  const add = (name: string, alpha2: string): void => {
    const key = foldName(name);
    if (key !== "" && !codesByKey.has(key)) codesByKey.set(key, alpha2);
  };

  for (const country of worldCountries) {
    add(country.cca2, country.cca2);
    add(country.cca3, country.cca2);
    add(country.name.common, country.cca2);
    add(country.name.official, country.cca2);
  }

  for (const country of worldCountries) {
    for (const spelling of country.altSpellings) add(spelling, country.cca2);
  }
  registerLocale(englishNames);
  for (const [alpha2, names] of Object.entries(getNames("en", { select: "all" }))) {
    for (const name of names) add(name, alpha2);
  }

  for (const country of worldCountries) {
    for (const native of Object.values(country.name.native)) {
      add(native.common, country.cca2);
      add(native.official, country.cca2);
    }
  }

  return {
    find: (text) => codesByKey.get(foldName(text)),
  };
}
