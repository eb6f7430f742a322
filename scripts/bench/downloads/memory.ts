// Samples the resident memory of the API process from /proc/<pid>/status while a transfer runs.
import { readFileSync } from "node:fs";

const sampleIntervalMs = 100;

export interface ResidentMemory {
  /** Current resident set size (VmRSS). */
  residentKiB: number;
  /** Peak resident set size since the process started (VmHWM). */
  peakKiB: number;
}

/** Reads VmRSS and VmHWM of a running process. Throws when the process is gone. */
export function readResidentMemory(pid: number): ResidentMemory {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const resident = /^VmRSS:\s+(\d+) kB/m.exec(status)?.[1];
  const peak = /^VmHWM:\s+(\d+) kB/m.exec(status)?.[1];
  if (resident === undefined || peak === undefined) throw new Error(`/proc/${pid}/status has no VmRSS or VmHWM line`);
  return { residentKiB: Number(resident), peakKiB: Number(peak) };
}

export interface MemoryFigures {
  startKiB: number;
  /** Maximum VmRSS among the samples, the start and the end. */
  maxSampleKiB: number;
  /** Maximum VmRSS sampled before and after `startSecondHalf`. The two are about equal when memory does not grow with the rows sent. */
  firstHalfMaxKiB: number;
  secondHalfMaxKiB: number | null;
  endKiB: number;
  /** VmHWM at the end, the process's peak since it started, so it includes every earlier phase. */
  processPeakKiB: number;
  /** Maximum time between two samples, which is more than 100 ms when the benchmark's own event loop was busy. */
  maxGapMs: number;
}

/** Samples VmRSS of one process every 100 ms, from its construction until `stop`. */
export class MemorySampler {
  readonly #pid: number;
  readonly #start: ResidentMemory;
  #maxKiB: number;
  #firstHalfMaxKiB: number | null = null;
  #lastSampleAt = performance.now();
  #maxGapMs = 0;
  readonly #timer: ReturnType<typeof setInterval>;
  /** VmRSS of the latest sample, for progress lines. */
  latestKiB: number;

  /** Takes the first sample immediately and starts the timer. Throws when the process has exited. */
  constructor(pid: number) {
    this.#pid = pid;
    this.#start = readResidentMemory(pid);
    this.#maxKiB = this.#start.residentKiB;
    this.latestKiB = this.#start.residentKiB;
    this.#timer = setInterval(() => this.#sample(), sampleIntervalMs);
  }

  #sample(): void {
    const now = performance.now();
    this.#maxGapMs = Math.max(this.#maxGapMs, now - this.#lastSampleAt);
    this.#lastSampleAt = now;
    try {
      const { residentKiB } = readResidentMemory(this.#pid);
      this.latestKiB = residentKiB;
      this.#maxKiB = Math.max(this.#maxKiB, residentKiB);
    } catch {
      // The process has exited. The caller learns that from the failed transfer and the child's exit status.
      clearInterval(this.#timer);
    }
  }

  /** Marks the end of the first half of the transfer. Later samples count towards the second half's maximum. */
  startSecondHalf(): void {
    if (this.#firstHalfMaxKiB !== null) return;
    this.#firstHalfMaxKiB = this.#maxKiB;
    this.#maxKiB = this.latestKiB;
  }

  /** Stops sampling without computing figures, for use after a failure. */
  cancel(): void {
    clearInterval(this.#timer);
  }

  /** Takes a last sample and returns the figures. Throws when the process is gone. */
  stop(): MemoryFigures {
    clearInterval(this.#timer);
    const end = readResidentMemory(this.#pid);
    // Maximum of the second half, or of the whole transfer when startSecondHalf was never called.
    const lastPartMaxKiB = Math.max(this.#maxKiB, end.residentKiB);
    const firstHalfMaxKiB = this.#firstHalfMaxKiB ?? lastPartMaxKiB;
    return {
      startKiB: this.#start.residentKiB,
      maxSampleKiB: Math.max(firstHalfMaxKiB, lastPartMaxKiB),
      firstHalfMaxKiB,
      secondHalfMaxKiB: this.#firstHalfMaxKiB === null ? null : lastPartMaxKiB,
      endKiB: end.residentKiB,
      processPeakKiB: end.peakKiB,
      maxGapMs: this.#maxGapMs,
    };
  }
}
