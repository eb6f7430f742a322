// Flat form of one result row, shared by the results downloads (CSV and NDJSON) and the command line:
// the column names in order, the record they make, and the paths and names of the download files.

/** Column names, in the order of CSV columns and of NDJSON keys. */
export const resultColumns = [
  "row",
  "value",
  "status",
  "name",
  "country_code",
  "latitude",
  "longitude",
  "location_hash",
  "match_level",
  "error",
] as const;

export type ResultColumn = (typeof resultColumns)[number];

/** One row of a job's results, flat. The location fields are null for a failed row, and `error` is null for an ok row. */
export type ResultRecord = {
  row: number;
  value: string;
  status: "ok" | "failed";
  name: string | null;
  country_code: string | null;
  latitude: number | null;
  longitude: number | null;
  location_hash: string | null;
  match_level: string | null;
  error: string | null;
};

/**
 * A result row with its location nested, as the database repository and the paginated results route return it.
 * It is a structural type, so both the repository's ResultEntry and the API client's entries fit it.
 */
export interface NestedResult {
  row: number;
  value: string;
  status: "ok" | "failed";
  match_level: string | null;
  error: string | null;
  location: { name: string; country_code: string; latitude: number; longitude: number; location_hash: string } | null;
}

/** Flattens a result row. The keys are in `resultColumns` order, so JSON.stringify writes them in that order. */
export function toResultRecord(entry: NestedResult): ResultRecord {
  const location = entry.location;
  return {
    row: entry.row,
    value: entry.value,
    status: entry.status,
    name: location?.name ?? null,
    country_code: location?.country_code ?? null,
    latitude: location?.latitude ?? null,
    longitude: location?.longitude ?? null,
    location_hash: location?.location_hash ?? null,
    match_level: entry.match_level,
    error: entry.error,
  };
}

/** Lists a record's values in `resultColumns` order, for writers that take arrays. A null stays null. */
export function resultValues(record: ResultRecord): ResultRecord[ResultColumn][] {
  return resultColumns.map((column) => record[column]);
}

export type ResultsFormat = "csv" | "ndjson";

export const resultsContentTypes: Record<ResultsFormat, string> = {
  csv: "text/csv; charset=utf-8",
  ndjson: "application/x-ndjson",
};

/** Returns the path of a complete job's results as one file, relative to the service's base URL. */
export function resultsDownloadPath(jobHash: string, format: ResultsFormat): string {
  return `/locations/batch/${encodeURIComponent(jobHash)}/results.${format}`;
}

/**
 * Returns the file name that the download route sends in content-disposition: `<job_hash>.results.csv` or
 * `.results.ndjson`.
 */
export function resultsFileName(jobHash: string, format: ResultsFormat): string {
  return `${jobHash}.results.${format}`;
}
