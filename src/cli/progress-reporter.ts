// Writes a followed job's progress to a stream (stderr for `bun run batch`): one line redrawn in place
// on a terminal, or plain lines at a bounded rate otherwise.
import type { JobStatus } from "./client.ts";
import {
  PlainLineSchedule,
  RateMeter,
  defaultColumns,
  renderPlainLine,
  renderTerminalLine,
  type ProgressSnapshot,
} from "./progress.ts";

/** Carriage return, which moves the cursor back to the start of the line to redraw it. */
const redrawPrefix = "\r";
/** ANSI EL 0, which erases from the cursor to the end of the line. */
const clearToEnd = "\x1b[K";

/**
 * Part of a tty.WriteStream that the reporter uses. `columns` is read on every redraw, so a resized
 * terminal gets lines of its new width.
 */
export interface ProgressStream {
  isTTY?: boolean;
  columns?: number;
  write(text: string): unknown;
}

export class ProgressReporter {
  readonly #rate = new RateMeter();
  readonly #schedule = new PlainLineSchedule();
  readonly #startedMs: number;
  /** Whether a terminal line is drawn and not yet ended with a newline. */
  #lineOpen = false;

  constructor(
    readonly stream: ProgressStream,
    readonly clock: () => number = () => performance.now(),
  ) {
    this.#startedMs = clock();
  }

  get isTerminal(): boolean {
    return this.stream.isTTY === true;
  }

  /** Records a status and draws it: always on a terminal, otherwise only when a plain line is due. */
  update(job: JobStatus): void {
    const nowMs = this.clock();
    const snapshot = this.#snapshot(job, nowMs);
    if (this.isTerminal) {
      this.#drawTerminalLine(snapshot);
      return;
    }
    if (!this.#schedule.isDue(snapshot, nowMs)) return;
    this.#schedule.markWritten(snapshot, nowMs);
    this.stream.write(`${renderPlainLine(snapshot)}\n`);
  }

  /** Draws the job's last status regardless of the schedule, and ends the terminal line. */
  finish(job: JobStatus): void {
    const nowMs = this.clock();
    const snapshot = this.#snapshot(job, nowMs);
    if (this.isTerminal) {
      this.#drawTerminalLine(snapshot);
      this.#endLine();
      return;
    }
    this.#schedule.markWritten(snapshot, nowMs);
    this.stream.write(`${renderPlainLine(snapshot)}\n`);
  }

  /** Writes a separate line (a retry notice, an interruption), first erasing an open progress line. */
  note(text: string): void {
    if (this.#lineOpen) {
      this.stream.write(`${redrawPrefix}${clearToEnd}`);
      this.#lineOpen = false;
    }
    this.stream.write(`${text}\n`);
  }

  /** Ends an open terminal line, so that whatever is written next starts on a line of its own. */
  close(): void {
    this.#endLine();
  }

  #snapshot(job: JobStatus, nowMs: number): ProgressSnapshot {
    this.#rate.add(nowMs, job.completed + job.failed);
    return {
      status: job.status,
      totalRows: job.total_rows,
      completed: job.completed,
      failed: job.failed,
      elapsedMs: nowMs - this.#startedMs,
      rowsPerSecond: this.#rate.rowsPerSecond(),
    };
  }

  #drawTerminalLine(snapshot: ProgressSnapshot): void {
    // A pseudo-terminal without a size reports 0 columns.
    const line = renderTerminalLine(snapshot, this.stream.columns || defaultColumns);
    this.stream.write(`${redrawPrefix}${line}${clearToEnd}`);
    this.#lineOpen = true;
  }

  #endLine(): void {
    if (!this.#lineOpen) return;
    this.stream.write("\n");
    this.#lineOpen = false;
  }
}
