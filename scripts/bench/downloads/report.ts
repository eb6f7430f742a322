// Prints the summary table of the downloads benchmark, with one column per job size so that memory
// and rates at the two sizes sit side by side.
import type { Machine } from "../machine.ts";
import type { MemoryFigures } from "./memory.ts";
import type { DownloadRunResult } from "./run.ts";
import { failedPerHundred } from "./seed.ts";
import type { DownloadFigures } from "./transfer.ts";
import type { ValuePools } from "./values.ts";

const labelWidth = 44;
const cellWidth = 24;

export interface DownloadSummary {
  machine: Machine;
  postgresVersion: string;
  pools: ValuePools;
  runs: DownloadRunResult[];
}

function mebibytes(kibibytes: number): string {
  return (kibibytes / 1024).toFixed(1);
}

function grouped(value: number): string {
  return Math.round(value).toLocaleString("en-US");
}

function tableLine(label: string, cells: string[]): string {
  return `  ${label.padEnd(labelWidth)}${cells.map((cell) => cell.padStart(cellWidth)).join("")}`;
}

function memoryCell(memory: MemoryFigures): string {
  return `${mebibytes(memory.startKiB)} / ${mebibytes(memory.maxSampleKiB)} / ${mebibytes(memory.endKiB)}`;
}

function halvesCell(memory: MemoryFigures): string {
  const second = memory.secondHalfMaxKiB;
  return `${mebibytes(memory.firstHalfMaxKiB)} / ${second === null ? "-" : mebibytes(second)}`;
}

function downloadLines(runs: DownloadRunResult[], pick: (run: DownloadRunResult) => DownloadFigures): string[] {
  const name = `results.${pick(runs[0]!).format}`;
  const row = (label: string, cell: (figures: DownloadFigures, rows: number) => string) =>
    tableLine(`${name} ${label}`, runs.map((run) => cell(pick(run), run.rows)));
  return [
    row("size, MB", (figures) => (figures.bytes / 1e6).toFixed(1)),
    row("lines", (figures) => grouped(figures.lines)),
    row("response headers, ms", (figures) => (figures.headersSeconds * 1000).toFixed(1)),
    row("to last byte, s", (figures) => figures.seconds.toFixed(2)),
    row("rows/s", (figures, rows) => grouped(rows / figures.seconds)),
    row("MB/s", (figures) => (figures.bytes / 1e6 / figures.seconds).toFixed(1)),
    row("API RSS start/peak/end, MiB", (figures) => memoryCell(figures.memory)),
    row("API RSS peak, 1st/2nd half, MiB", (figures) => halvesCell(figures.memory)),
    row("API VmHWM after, MiB", (figures) => mebibytes(figures.memory.processPeakKiB)),
  ];
}

function pageLines(runs: DownloadRunResult[]): string[] {
  const row = (label: string, cell: (run: DownloadRunResult) => string) => tableLine(`results pages ${label}`, runs.map(cell));
  return [
    row("read (of all), 500 rows each", (run) => `${grouped(run.pages.pagesRead)} (of ${grouped(run.pages.totalPages)})`),
    row("request time, s", (run) => run.pages.requestSeconds.toFixed(2)),
    row("rows/s", (run) => grouped(run.pages.rowsRead / run.pages.requestSeconds)),
    row("median / p95 / max, ms", (run) => `${run.pages.medianMs.toFixed(1)} / ${run.pages.p95Ms.toFixed(1)} / ${run.pages.maxMs.toFixed(1)}`),
    row("API RSS start/peak/end, MiB", (run) => memoryCell(run.pages.memory)),
    row("API RSS peak, 1st/2nd half, MiB", (run) => halvesCell(run.pages.memory)),
    row("API VmHWM after, MiB", (run) => mebibytes(run.pages.memory.processPeakKiB)),
  ];
}

/** Prints the machine, the seeded content and one column of figures per job size. */
export function printDownloadSummary(summary: DownloadSummary): void {
  const { machine, pools, runs } = summary;
  console.log("\ndownloads benchmark summary");
  console.log(`  machine: ${machine.processors} processors, ${(machine.totalMemoryKiB / 1024 / 1024).toFixed(1)} GiB memory, ${machine.cpuModel}`);
  console.log(`  bun ${machine.bunVersion}, PostgreSQL ${summary.postgresVersion}, load average at start ${machine.loadAverageAtStart}`);
  console.log(
    `  each job: ${100 - failedPerHundred}% ok rows over ${grouped(pools.locationCount)} locations (${grouped(pools.ok.length)} place names from world-cities.csv), ` +
      `${failedPerHundred}% failed rows (${grouped(pools.failed.length)} values that the resolver rejects, with its errors)`,
  );
  if (runs.length === 0) return;

  const lines = [
    tableLine("job rows", runs.map((run) => grouped(run.rows))),
    tableLine("rows ok / failed", runs.map((run) => `${grouped(run.seed.okRows)} / ${grouped(run.seed.failedRows)}`)),
    tableLine("seeding with VACUUM ANALYZE, s", runs.map((run) => run.seed.seconds.toFixed(1))),
    tableLine("API RSS once healthy, MiB", runs.map((run) => mebibytes(run.apiAtStart.residentKiB))),
    ...downloadLines(runs, (run) => run.csv),
    ...downloadLines(runs, (run) => run.ndjson),
    ...pageLines(runs),
  ];
  console.log("");
  for (const line of lines) console.log(line);

  const samples = runs.flatMap((run) => [run.csv.memory, run.ndjson.memory, run.pages.memory]);
  const maxGapMs = Math.max(...samples.map((memory) => memory.maxGapMs));
  console.log(`\n  RSS is the API's VmRSS, sampled every 100 ms (maximum gap between samples ${maxGapMs.toFixed(0)} ms).`);
  console.log("  1st/2nd half: the maximum sample while the first and the second half of the rows were read.");
  console.log("  VmHWM is the process's peak since it started, so it also covers earlier phases and peaks between samples.");
}
