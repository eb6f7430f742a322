// The faults of a chaos run, injected one after another while the job runs. Each fault waits for the
// spacing after the previous one and for the job's progress to reach the fault's share of rows, so
// the faults land while rows are processed however fast the machine is. Once the job has ended,
// the faults still to come are skipped, since they could test nothing.
import { sleep } from "../support/processes.ts";

export interface Fault {
  kind: "worker kill" | "NATS restart" | "Postgres kill";
  /** Share of the job's rows, 0 to 1, that must have an outcome before the fault is injected. */
  minProgress: number;
  /** Injects the fault and returns what it did, for the run's output. */
  inject(): Promise<string>;
}

export interface FaultOutcome {
  kind: Fault["kind"];
  status: "injected" | "skipped" | "error";
  detail: string;
}

export interface FaultSchedule {
  firstDelayMs: number;
  spacingMs: number;
  isJobOver(): boolean;
  /** The job's progress, 0 to 1, as last read. */
  progress(): number;
  log(line: string): void;
}

/** Waits at least `ms`, and until `ready` holds, in short steps; returns false early when the job ends meanwhile. */
async function waitWhileJobRuns(ms: number, ready: () => boolean, isJobOver: () => boolean): Promise<boolean> {
  const stepMs = 100;
  const started = performance.now();
  // The job's own timeout ends the wait through isJobOver; the step limit only guards against a clock that stops.
  const maxSteps = 100_000;
  for (let step = 0; step < maxSteps; step += 1) {
    if (isJobOver()) return false;
    if (performance.now() - started >= ms && ready()) return true;
    await sleep(stepMs);
  }
  return false;
}

export async function injectFaults(faults: Fault[], schedule: FaultSchedule): Promise<FaultOutcome[]> {
  const outcomes: FaultOutcome[] = [];
  for (const [index, fault] of faults.entries()) {
    const delayMs = index === 0 ? schedule.firstDelayMs : schedule.spacingMs;
    const running = await waitWhileJobRuns(delayMs, () => schedule.progress() >= fault.minProgress, schedule.isJobOver);
    if (!running) {
      outcomes.push({ kind: fault.kind, status: "skipped", detail: "the job had ended" });
      schedule.log(`fault skipped: ${fault.kind}, the job had ended`);
      continue;
    }
    try {
      const detail = await fault.inject();
      outcomes.push({ kind: fault.kind, status: "injected", detail });
      schedule.log(`fault: ${detail}`);
    } catch (error) {
      const detail = error instanceof Error ? error.message : String(error);
      outcomes.push({ kind: fault.kind, status: "error", detail });
      schedule.log(`fault failed: ${fault.kind}: ${detail}`);
    }
  }
  return outcomes;
}

/** Counts faults by kind, as `3 worker kill, 1 NATS restart, 1 Postgres kill`. */
export function describeFaults(kinds: Fault["kind"][]): string {
  const counts = new Map<string, number>();
  for (const kind of kinds) counts.set(kind, (counts.get(kind) ?? 0) + 1);
  return [...counts.entries()].map(([kind, count]) => `${count} ${kind}`).join(", ") || "none";
}
