// Progress text of `bun run batch`, as pure functions of a job's counts and the time: the bar, counts,
// percent, smoothed rate and time left, for a terminal line redrawn in place or for plain log lines.

/** Time span over which the rate is averaged, so one burst of finished rows does not swing the time left. */
export const rateWindowMs = 5_000;

/**
 * Minimum interval between plain progress lines while the counts move, unless a new 10% step or a new status
 * comes first.
 */
export const plainLineIntervalMs = 5_000;

/**
 * Interval at which a plain line is repeated while counts and status are unchanged, to show that the command
 * is still following.
 */
export const plainHeartbeatMs = 60_000;

/**
 * Maximum and minimum width of the bar between its brackets, in characters. A terminal too narrow for the
 * minimum gets no bar.
 */
const barMaxWidth = 30;
const barMinWidth = 10;

/** Terminal width assumed when the stream does not report one. */
export const defaultColumns = 80;

/** A job's status and counts at one moment, as the status route returns them, plus what the follower measured. */
export interface ProgressSnapshot {
  status: string;
  totalRows: number | null;
  completed: number;
  failed: number;
  /** Time since the command started following the job. */
  elapsedMs: number;
  /** Smoothed rate in rows per second, or null until two samples at least 250 ms apart exist. */
  rowsPerSecond: number | null;
}

/** Rows with an outcome (resolved or failed) at one moment of the follower's clock. */
export interface RateSample {
  atMs: number;
  done: number;
}

/**
 * Minimum span between the samples a rate is computed from. A shorter span gives no rate, because the rate
 * would be mostly noise.
 */
const minimumRateSpanMs = 250;

/**
 * Computes rows per second over the samples inside `windowMs` before the newest one, plus the newest
 * sample older than that, so the span covers the whole window once enough samples exist. Returns null
 * for fewer than two samples or a span under 250 ms. Samples must be in time order.
 */
export function smoothedRate(samples: readonly RateSample[], windowMs = rateWindowMs): number | null {
  const newest = samples.at(-1);
  if (newest === undefined) return null;
  let oldest = newest;
  for (let index = samples.length - 1; index >= 0; index -= 1) {
    const sample = samples[index]!;
    oldest = sample;
    if (newest.atMs - sample.atMs >= windowMs) break;
  }
  const spanMs = newest.atMs - oldest.atMs;
  if (spanMs < minimumRateSpanMs) return null;
  return Math.max(0, newest.done - oldest.done) / (spanMs / 1000);
}

/**
 * Rate samples of a followed job, pruned to those `smoothedRate` needs: every sample inside the window and
 * one before it.
 */
export class RateMeter {
  readonly #samples: RateSample[] = [];

  constructor(readonly windowMs = rateWindowMs) {}

  add(atMs: number, done: number): void {
    this.#samples.push({ atMs, done });
    while (this.#samples.length > 2 && atMs - this.#samples[1]!.atMs >= this.windowMs) this.#samples.shift();
  }

  rowsPerSecond(): number | null {
    return smoothedRate(this.#samples, this.windowMs);
  }
}

/** Formats a duration as `42s`, `3m 07s` or `2h 05m`, rounding up to whole seconds. */
export function formatDuration(seconds: number): string {
  const whole = Math.max(0, Math.ceil(seconds));
  if (whole < 60) return `${whole}s`;
  const minutes = Math.floor(whole / 60);
  if (minutes < 60) return `${minutes}m ${String(whole % 60).padStart(2, "0")}s`;
  return `${Math.floor(minutes / 60)}h ${String(minutes % 60).padStart(2, "0")}m`;
}

/** Formats an integer with comma thousands separators, independent of the machine's locale. */
export function formatCount(count: number): string {
  return String(Math.trunc(count)).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

/** Formats a rate as `1,234 rows/s`, with one decimal under 10 rows/s so a slow job does not read as 0. */
export function formatRate(rowsPerSecond: number): string {
  if (rowsPerSecond < 10) return `${rowsPerSecond.toFixed(1)} rows/s`;
  return `${formatCount(Math.round(rowsPerSecond))} rows/s`;
}

/** Formats the percent done with one decimal, rounded down so that 100.0% appears only when every row has an outcome. */
export function formatPercent(done: number, total: number): string {
  if (total <= 0) return "100.0%";
  const tenths = Math.floor((1000 * Math.min(done, total)) / total);
  return `${(tenths / 10).toFixed(1)}%`;
}

/** Draws `[####------]` with `width` characters between the brackets. `fraction` is clamped to 0..1. */
export function renderBar(fraction: number, width: number): string {
  const clamped = Number.isFinite(fraction) ? Math.min(1, Math.max(0, fraction)) : 0;
  const filled = Math.floor(clamped * width);
  return `[${"#".repeat(filled)}${"-".repeat(width - filled)}]`;
}

/**
 * Estimates the seconds left at the given rate. Returns 0 when no rows are left, and null when the rate is
 * unknown or zero.
 */
export function estimateSecondsLeft(totalRows: number, done: number, rowsPerSecond: number | null): number | null {
  const remaining = Math.max(0, totalRows - done);
  if (remaining === 0) return 0;
  if (rowsPerSecond === null || rowsPerSecond <= 0) return null;
  return remaining / rowsPerSecond;
}

/**
 * Rows that must be done before a time left is shown, because the first rows come while workers start up,
 * too slowly to judge by. A job with fewer rows must have all of them done.
 */
const rowsBeforeEstimate = 100;

function rateAndEta(snapshot: ProgressSnapshot, totalRows: number): { rate: string; eta: string } {
  const done = snapshot.completed + snapshot.failed;
  const judged = done >= Math.min(totalRows, rowsBeforeEstimate);
  const secondsLeft = judged ? estimateSecondsLeft(totalRows, done, snapshot.rowsPerSecond) : null;
  return {
    rate: snapshot.rowsPerSecond === null ? "-- rows/s" : formatRate(snapshot.rowsPerSecond),
    eta: secondsLeft === null ? "--" : formatDuration(secondsLeft),
  };
}

/**
 * Renders the terminal line, without the carriage return and clear-to-end codes the caller adds.
 * The line is at most `columns - 1` characters wide, because some terminals wrap as soon as the
 * last column is written, and `\r` then returns only to the start of the new line. To fit, the bar
 * shrinks first, then is dropped, then the text is cut.
 */
export function renderTerminalLine(snapshot: ProgressSnapshot, columns = defaultColumns): string {
  const maxWidth = Math.max(1, columns - 1);
  if (snapshot.totalRows === null) {
    if (isFinalStatus(snapshot.status)) return fitWidth(endedBeforeRowsLine(snapshot), maxWidth);
    return fitWidth(`${snapshot.status}: reading the file... ${formatDuration(snapshot.elapsedMs / 1000)}`, maxWidth);
  }

  const total = snapshot.totalRows;
  const done = snapshot.completed + snapshot.failed;
  const { rate, eta } = rateAndEta(snapshot, total);
  const text =
    `${formatCount(done)}/${formatCount(total)} rows ${formatPercent(done, total)}` +
    ` | ${formatCount(snapshot.failed)} failed | ${rate} | ETA ${eta}`;

  const barWidth = Math.min(barMaxWidth, maxWidth - text.length - 3);
  if (barWidth < barMinWidth) return fitWidth(text, maxWidth);
  return `${renderBar(total > 0 ? done / total : 1, barWidth)} ${text}`;
}

/** Renders one plain log line: no control codes, so CI logs read cleanly. */
export function renderPlainLine(snapshot: ProgressSnapshot): string {
  if (snapshot.totalRows === null) {
    if (isFinalStatus(snapshot.status)) return endedBeforeRowsLine(snapshot);
    return `${snapshot.status}: reading the file (${formatDuration(snapshot.elapsedMs / 1000)})`;
  }
  const total = snapshot.totalRows;
  const done = snapshot.completed + snapshot.failed;
  const { rate, eta } = rateAndEta(snapshot, total);
  return (
    `${snapshot.status}: ${formatCount(done)} of ${formatCount(total)} rows (${formatPercent(done, total)}),` +
    ` ${formatCount(snapshot.failed)} failed, ${rate}, time left ${eta}`
  );
}

function isFinalStatus(status: string): boolean {
  return status === "complete" || status === "failed";
}

/** Renders the line of a job that ended with no row count, which happens when its file could not be read. */
function endedBeforeRowsLine(snapshot: ProgressSnapshot): string {
  return `${snapshot.status} after ${formatDuration(snapshot.elapsedMs / 1000)}, before any rows were counted`;
}

function fitWidth(text: string, maxWidth: number): string {
  return text.length <= maxWidth ? text : text.slice(0, maxWidth);
}

/** Returns the 10% step that the rows done have reached: 0 to 10, or -1 while the row count is unknown. */
function tenPercentStep(snapshot: ProgressSnapshot): number {
  if (snapshot.totalRows === null) return -1;
  if (snapshot.totalRows <= 0) return 10;
  return Math.floor((10 * Math.min(snapshot.totalRows, snapshot.completed + snapshot.failed)) / snapshot.totalRows);
}

/**
 * Schedule of plain progress lines. A line is due on the first snapshot, a new status, a new 10% step,
 * every 5 s while the counts move, and every 60 s while they stand still.
 */
export class PlainLineSchedule {
  #lastAtMs: number | null = null;
  #lastStatus = "";
  #lastStep = -1;
  #lastDone = -1;

  isDue(snapshot: ProgressSnapshot, nowMs: number): boolean {
    if (this.#lastAtMs === null) return true;
    if (snapshot.status !== this.#lastStatus) return true;
    if (tenPercentStep(snapshot) > this.#lastStep) return true;
    const sinceLastMs = nowMs - this.#lastAtMs;
    const moved = snapshot.completed + snapshot.failed !== this.#lastDone;
    return sinceLastMs >= (moved ? plainLineIntervalMs : plainHeartbeatMs);
  }

  /** Records that a line for this snapshot was written at `nowMs`. */
  markWritten(snapshot: ProgressSnapshot, nowMs: number): void {
    this.#lastAtMs = nowMs;
    this.#lastStatus = snapshot.status;
    this.#lastStep = tenPercentStep(snapshot);
    this.#lastDone = snapshot.completed + snapshot.failed;
  }
}
