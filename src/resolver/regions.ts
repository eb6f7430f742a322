// Region lookup: the first-level administrative divisions (admin1) that a region given in the input names,
// by GeoNames admin1 code ("IL") or by admin1 name ("Illinois").

import type { Admin1Index, Gazetteer, PlaceIndex } from "./gazetteer.ts";
import { noAdmin1 } from "./gazetteer.ts";
import { foldName } from "./normalize.ts";

/** The admin1 divisions by folded code and name, and the most populous place of each division. */
export interface RegionIndex {
  /** Divisions whose code or name folds like `text`, in every country; empty when none does. */
  divisionsNamed(text: string): readonly Admin1Index[];
  /** The most populous place of a division. */
  largestPlaceOf(division: Admin1Index): PlaceIndex;
}

const noDivisions: readonly Admin1Index[] = [];

export function buildRegionIndex(gazetteer: Gazetteer): RegionIndex {
  const divisionsByKey = new Map<string, Admin1Index[]>();
  const add = (text: string | null, division: Admin1Index): void => {
    if (text === null) return;
    const key = foldName(text);
    if (key === "") return;

    const known = divisionsByKey.get(key);
    if (known === undefined) divisionsByKey.set(key, [division]);
    else if (!known.includes(division)) known.push(division);
  };
  for (let division = 0; division < gazetteer.admin1Count; division++) {
    add(gazetteer.admin1Codes[division] ?? null, division);
    add(gazetteer.admin1Names[division] ?? null, division);
  }

  const largestPlaces = new Int32Array(gazetteer.admin1Count).fill(-1);
  for (let place = 0; place < gazetteer.placeCount; place++) {
    const division = gazetteer.admin1Indexes[place] ?? noAdmin1;
    if (division === noAdmin1) continue;

    const largest = largestPlaces[division] ?? -1;
    if (largest === -1 || (gazetteer.populations[place] ?? 0) > (gazetteer.populations[largest] ?? 0)) {
      largestPlaces[division] = place;
    }
  }

  return {
    divisionsNamed: (text) => divisionsByKey.get(foldName(text)) ?? noDivisions,
    largestPlaceOf: (division) => largestPlaces[division] ?? -1,
  };
}
