// The real place names the scripts build their input files from: the lines of world-cities.csv in
// the shared folder beside the repository. Each line is one quoted CSV value, so lines are copied as they are.

const placesFile = new URL("../../../shared/data/world-cities.csv", import.meta.url);

/** Reads the non-blank lines of world-cities.csv; throws naming the path when it is missing or empty. */
export async function readPlaceLines(): Promise<string[]> {
  const source = Bun.file(placesFile);
  if (!(await source.exists())) {
    throw new Error(`place names not found at ${placesFile.pathname}: the shared folder must sit beside the repository as ../shared`);
  }
  const places = (await source.text()).split(/\r?\n/).filter((line) => line.trim() !== "");
  if (places.length === 0) throw new Error(`${placesFile.pathname} contains no place names`);
  return places;
}
