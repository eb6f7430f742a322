// The benchmark's summary: a table of every figure on stdout, and the same figures as JSON in a file.
import { writeFileSync } from "node:fs";
import type { FloorResult } from "./floor.ts";
import type { Machine } from "./machine.ts";
import type { ServiceRunResult } from "./service-run.ts";

export interface Summary {
  finishedAt: string;
  machine: Machine;
  rows: number;
  floor: FloorResult | null;
  /** The reason the floor has no figures, when it ran and failed. */
  floorError: string | null;
  runs: ServiceRunResult[];
  /** Service rate divided by the floor rate, one per run, in the order of `runs`. */
  ratiosToFloor: (number | null)[];
  logDirectory: string;
}

export function ratioToFloor(run: ServiceRunResult, floor: FloorResult | null): number | null {
  if (floor === null || run.rowsPerSecond === null) return null;
  return run.rowsPerSecond / floor.rowsPerSecond;
}

const labelWidth = 34;
const cellWidth = 18;
const dash = "-";

function fixed(value: number | null | undefined, digits: number): string {
  return value === null || value === undefined || !Number.isFinite(value) ? dash : value.toFixed(digits);
}

function mebibytes(kibibytes: number | null | undefined): string {
  return kibibytes === null || kibibytes === undefined ? dash : (kibibytes / 1024).toFixed(1);
}

function tableLine(label: string, cells: string[]): string {
  return `  ${label.padEnd(labelWidth)}${cells.map((cell) => cell.padStart(cellWidth)).join("")}`;
}

function runLines(summary: Summary): string[] {
  const { runs } = summary;
  const lines = [tableLine("service run", runs.map((run) => `${run.workers} worker${run.workers === 1 ? "" : "s"}`))];
  const row = (label: string, cell: (run: ServiceRunResult, index: number) => string) => lines.push(tableLine(label, runs.map(cell)));

  row("POST to completed event, s", (run) => fixed(run.seconds, 2));
  row("rows/s", (run) => fixed(run.rowsPerSecond, 0));
  row("ratio to the floor", (_run, index) => fixed(summary.ratiosToFloor[index], 3));
  row("POST to started event, s", (run) => fixed(run.startedSeconds, 2));
  // When the job completed before a poll found every row dispatched, the last poll that did not is a lower bound.
  row("POST to all rows dispatched, s", (run) =>
    run.dispatchedSeconds === null && run.undispatchedSeconds !== null ? `> ${run.undispatchedSeconds.toFixed(2)}` : fixed(run.dispatchedSeconds, 2),
  );
  row("rows ok / failed", (run) => (run.completedRows === null ? dash : `${run.completedRows} / ${run.failedRows ?? dash}`));
  row("10-row job, s (big job at %)", (run) =>
    run.smallJob === null ? dash : `${run.smallJob.seconds.toFixed(2)} (${(run.smallJob.bigJobProgress * 100).toFixed(0)}%${run.smallJob.duringBigJob ? "" : ", after"})`,
  );
  for (const position of ["first", "middle", "last"] as const) {
    const page = runs.map((run) => run.pages.find((entry) => entry.position === position)).find((entry) => entry !== undefined)?.page;
    row(`${position} page${page === undefined ? "" : ` (${page})`} median / max, ms`, (run) => {
      const entry = run.pages.find((candidate) => candidate.position === position);
      return entry === undefined ? dash : `${entry.medianMs.toFixed(1)} / ${entry.maxMs.toFixed(1)}`;
    });
  }
  const processNames = [...new Set(runs.flatMap((run) => run.memory.map((memory) => memory.name)))];
  for (const name of processNames) {
    row(`peak RSS (VmHWM) ${name}, MiB`, (run) => mebibytes(run.memory.find((memory) => memory.name === name)?.peakResidentKiB));
  }
  return lines;
}

export function printSummary(summary: Summary): void {
  const { machine, floor } = summary;
  console.log("\nbenchmark summary");
  console.log(`  machine: ${machine.processors} processors, ${(machine.totalMemoryKiB / 1024 / 1024).toFixed(1)} GiB memory, ${machine.cpuModel}`);
  console.log(`  bun ${machine.bunVersion}, nats-server ${machine.natsServerVersion}; load average at start ${machine.loadAverageAtStart}`);
  console.log(`  rows: ${summary.rows}`);
  if (floor === null) {
    console.log(`  floor: ${summary.floorError === null ? "skipped" : `failed: ${summary.floorError}`}`);
  } else {
    console.log(`  floor: ${floor.rowsPerSecond.toFixed(0)} rows/s (${floor.seconds.toFixed(2)} s; last publish acknowledged at ${floor.publishSeconds.toFixed(2)} s)`);
    console.log(`    ${floor.mode}; row message ${floor.rowMessageBytes} B, event ${floor.eventBytes} B`);
    console.log(`    events stored ${floor.eventsStored} of ${floor.rows}, duplicate row publishes ${floor.duplicates}`);
  }
  if (summary.runs.length > 0) {
    console.log("");
    for (const line of runLines(summary)) console.log(line);
  }
  for (const run of summary.runs) {
    if (run.error !== null) console.log(`  ${run.workers}-worker run failed: ${run.error}`);
    const wrapped = run.memory.filter((memory) => !memory.isBun);
    if (wrapped.length > 0) {
      console.log(`  NOTE: in the ${run.workers}-worker run, /proc/<pid>/exe of ${wrapped.map((memory) => memory.name).join(", ")} was not bun, so VmHWM may be a wrapper's`);
    }
  }
}

/** Writes the summary as indented JSON to `path`. */
export function writeSummaryJson(summary: Summary, path: string): void {
  writeFileSync(path, `${JSON.stringify(summary, null, 2)}\n`);
}
