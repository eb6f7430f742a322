// Structured JSON logs: a fixed message plus fields, one line each, through pino.
import { DrizzleQueryError } from "drizzle-orm/errors";
import pino from "pino";

export type Logger = pino.Logger;

/**
 * Makes the process logger, which writes JSON lines to stdout unless a destination is given (tests pass
 * one to read the lines back). Job lines carry `job_hash`. Token and authorization fields are redacted.
 */
export function createLogger(level: string, name: string, destination?: pino.DestinationStream): Logger {
  const options: pino.LoggerOptions = {
    name,
    level,
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: ["token", "authorization", "*.authorization", "headers.authorization"], censor: "[redacted]" },
  };
  return destination === undefined ? pino(options) : pino(options, destination);
}

/**
 * Gives the error's name and message for a log field, without a stack for expected failures. A failed
 * drizzle query is described by its cause, because drizzle's own message repeats the query's
 * parameters, which carry row values.
 */
export function describeError(error: unknown): { name: string; message: string } {
  if (error instanceof DrizzleQueryError && error.cause instanceof Error) {
    return { name: error.cause.name, message: `query failed: ${error.cause.message}` };
  }
  if (error instanceof Error) return { name: error.name, message: error.message };
  return { name: "NonError", message: String(error) };
}
