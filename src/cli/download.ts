// Streams a results download to its destination without holding it in memory: to stdout, or to a
// temporary file beside the target that is renamed into place only once the whole body has arrived.
import { constants, rmSync } from "node:fs";
import { access, rename, stat } from "node:fs/promises";
import { basename, dirname, join } from "node:path";

/** The `--out` value that sends the results to stdout. */
export const stdoutPath = "-";

/** Error of a download that broke off or could not be written. An output file keeps whatever it contained before. */
export class DownloadError extends Error {
  override readonly name = "DownloadError";
}

/**
 * Builds the temporary path next to `outPath`. It is in the same directory, so the final rename stays
 * on one file system and is atomic. It is hidden, and contains the process id so that two runs writing
 * the same target do not share one temporary file.
 */
export function temporaryPathFor(outPath: string): string {
  return join(dirname(outPath), `.${basename(outPath)}.${process.pid}.part`);
}

/**
 * Returns why results could not be written to `outPath`, or null when its directory exists and is writable
 * and the path itself is not a directory. The command calls it before a job starts, so that a typo does not
 * cost a whole job.
 */
export async function outputDirectoryError(outPath: string): Promise<string | null> {
  if (outPath === stdoutPath) return null;
  const existing = await stat(outPath).catch(() => null);
  if (existing?.isDirectory()) return `--out ${outPath} is a directory: pass a file path inside it`;
  const directory = dirname(outPath);
  try {
    const info = await stat(directory);
    if (!info.isDirectory()) return `output directory ${directory} is not a directory`;
  } catch {
    return `output directory ${directory} not found: create it or pass another --out`;
  }
  try {
    await access(directory, constants.W_OK);
  } catch {
    return `output directory ${directory} is not writable: pass another --out`;
  }
  return null;
}

/**
 * Deletes the temporary file of `outPath` if there is one. It is synchronous because the Ctrl-C handler
 * calls it and exits before an await could finish.
 */
export function removeTemporaryFile(outPath: string): void {
  if (outPath === stdoutPath) return;
  rmSync(temporaryPathFor(outPath), { force: true });
}

/**
 * Writes the response body to `outPath`, or to stdout for "-". Returns the bytes written, or -1 when the
 * reader of stdout closed it before the end. The body is streamed (Bun.write persists a Response's body as
 * it arrives), so memory use does not grow with the download's size. On a broken connection or a failed
 * write, it removes the temporary file and throws DownloadError, leaving whatever was at `outPath` untouched.
 */
export async function saveResponse(response: Response, outPath: string): Promise<number> {
  if (outPath === stdoutPath) {
    try {
      return await Bun.write(Bun.stdout, response);
    } catch (error) {
      // The reader closed the pipe on purpose (`| head`), so that is where the output ends, not a failure.
      if ((error as { code?: unknown }).code === "EPIPE") {
        await response.body?.cancel().catch(() => undefined);
        return -1;
      }
      throw new DownloadError(`download to stdout broke off: ${(error as Error).message}`);
    }
  }

  const temporaryPath = temporaryPathFor(outPath);
  try {
    const bytes = await Bun.write(temporaryPath, response, { createPath: false });
    await rename(temporaryPath, outPath);
    return bytes;
  } catch (error) {
    rmSync(temporaryPath, { force: true });
    throw new DownloadError(`download to ${outPath} failed, so nothing was written there: ${(error as Error).message}`);
  }
}
