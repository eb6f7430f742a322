// Command-line options shared by the chaos and load scripts: the error for bad usage, which each
// script turns into exit code 2, and the check of an integer option against its range.

export class UsageError extends Error {
  override readonly name = "UsageError";
}

/** Parses the value of `--flag` as an integer from `min` to `max`, or returns `fallback` when the flag is absent. */
export function integerOption(flag: string, raw: string | undefined, fallback: number, min: number, max: number): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new UsageError(`--${flag} must be an integer from ${min} to ${max}, got "${raw}"`);
  }
  return value;
}
