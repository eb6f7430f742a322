// Input of the service runs: real place names from world-cities.csv, repeated to the requested
// number of rows, and the 10-row file of the small job submitted while the big one runs.

const placesFile = new URL("../../../shared/data/world-cities.csv", import.meta.url);
export const smallJobRows = 10;
/** The small job's rows start here in world-cities.csv, so its file differs from the big one's start. */
const smallJobFirstPlace = 1000;

export interface InputFiles {
  big: Uint8Array;
  small: Uint8Array;
}

/** Builds both files. Each line of world-cities.csv is one quoted CSV value, so lines are copied as they are. */
export async function buildInputFiles(rows: number): Promise<InputFiles> {
  const source = Bun.file(placesFile);
  if (!(await source.exists())) {
    throw new Error(`place names not found at ${placesFile.pathname}: the shared folder must sit beside the repository as ../shared`);
  }
  const places = (await source.text()).split(/\r?\n/).filter((line) => line.trim() !== "");
  if (places.length === 0) throw new Error(`${placesFile.pathname} contains no place names`);

  const lines: string[] = new Array(rows);
  for (let row = 0; row < rows; row += 1) lines[row] = places[row % places.length]!;
  const smallLines = Array.from({ length: smallJobRows }, (_, index) => places[(smallJobFirstPlace + index) % places.length]!);
  const encoder = new TextEncoder();
  return { big: encoder.encode(`${lines.join("\n")}\n`), small: encoder.encode(`${smallLines.join("\n")}\n`) };
}
