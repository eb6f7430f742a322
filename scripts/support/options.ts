// Command-line parsing shared by the scripts: UsageError, which runScript turns into exit code 2,
// flag parsing with `--help`, and a range check for integer options.
import { parseArgs, type ParseArgsConfig, type ParseArgsOptionsConfig } from "node:util";

export class UsageError extends Error {
  override readonly name = "UsageError";
}

/** Flag values as parseArgs returns them for `options` in strict mode. */
export type FlagValues<T extends ParseArgsOptionsConfig> = ReturnType<typeof parseArgs<{ args: string[]; options: T; strict: true }>>["values"];

/**
 * Parses `argv` against `options` and a `--help` flag. Prints `usage` and exits with 0 for `--help`.
 * Throws a UsageError that ends with `usage` for an unknown option, a missing value or a positional argument.
 */
export function parseFlags<const T extends ParseArgsOptionsConfig>(argv: string[], options: T, usage: string): FlagValues<T> {
  const config: ParseArgsConfig = { args: argv, options: { ...options, help: { type: "boolean" } }, strict: true };
  let values;
  try {
    ({ values } = parseArgs(config));
  } catch (error) {
    throw new UsageError(`${(error as Error).message}\n${usage}`);
  }
  if (values.help) {
    console.log(usage);
    process.exit(0);
  }
  // parseArgs types its result only for a literal config. This config has exactly `options` and `help`, so the values match.
  return values as FlagValues<T>;
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
