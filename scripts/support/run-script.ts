// Runs each script in scripts/. It parses the options, creates a temporary workspace for logs and an
// AbortController, and installs a SIGINT and SIGTERM handler that stops the run and removes what it made.
import { mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openCleanups, withCleanup, type Cleanup } from "./cleanup.ts";
import { UsageError } from "./options.ts";

/**
 * Temporary directory of a script, kept after the run. Child logs go to `logs/`, and the script may
 * write other files there.
 */
export interface Workspace {
  directory: string;
  logDirectory: string;
}

/** The workspace, abort signal and cleanup that runScript passes to a script's `run`. */
export interface ScriptContext {
  workspace: Workspace;
  /** Aborted by the first SIGINT or SIGTERM. */
  signal: AbortSignal;
  /** Steps that run when `run` ends, however it ends, or on the first SIGINT or SIGTERM. */
  cleanup: Cleanup;
}

/** Script definition for runScript: name, workspace prefix, option parser, run function and leftovers. */
export interface Script<Options> {
  /** Name of the run in messages, such as "benchmark". */
  name: string;
  /** Start of the workspace's directory name in the system's temporary directory. */
  workspacePrefix: string;
  /** Parses the command-line arguments. A UsageError ends the script with exit code 2. */
  parse(argv: string[]): Options;
  /** Runs the script and returns its exit code. */
  run(options: Options, context: ScriptContext): Promise<number>;
  /** Returns what a second signal can leave behind, because the second signal exits before the cleanup ends. */
  leftovers(workspace: Workspace): string;
}

export function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Runs a script and returns its exit code: 2 for invalid usage, 1 for any other error while parsing,
 * 130 once interrupted, otherwise what `run` returns. The first SIGINT or SIGTERM aborts the run's
 * signal, runs every open Cleanup and exits with 130. A second signal exits with 130 at once.
 */
export async function runScript<Options>(script: Script<Options>): Promise<number> {
  let options: Options;
  try {
    options = script.parse(Bun.argv.slice(2));
  } catch (error) {
    console.error(describeError(error));
    return error instanceof UsageError ? 2 : 1;
  }

  const directory = mkdtempSync(join(tmpdir(), script.workspacePrefix));
  const workspace: Workspace = { directory, logDirectory: join(directory, "logs") };
  mkdirSync(workspace.logDirectory);
  const abort = new AbortController();
  let interrupted = false;
  const onSignal = (signal: string) => {
    if (interrupted) {
      console.error(`${signal} again: exiting before cleanup finished. Check for leftover ${script.leftovers(workspace)}`);
      process.exit(130);
    }
    interrupted = true;
    console.error(`${signal}: stopping and removing what the ${script.name} made`);
    abort.abort(new Error(`interrupted by ${signal}`));
    // Cleanup.run never rejects, because it returns a message for each step that failed instead.
    void Promise.all([...openCleanups].map((cleanup) => cleanup.run()))
      .then((failures) => {
        for (const failure of failures.flat()) console.error(`cleanup failed: ${failure}`);
      })
      .finally(() => process.exit(130));
  };
  process.on("SIGINT", () => onSignal("SIGINT"));
  process.on("SIGTERM", () => onSignal("SIGTERM"));

  try {
    const exitCode = await withCleanup((cleanup) => script.run(options, { workspace, signal: abort.signal, cleanup }));
    return abort.signal.aborted ? 130 : exitCode;
  } catch (error) {
    // An interrupted run often fails on its way out, because its processes are stopped under it.
    if (abort.signal.aborted) return 130;
    throw error;
  }
}
