// Facts about the machine and the processes the benchmark measures, read from /proc and from the
// programs themselves.
import { readFileSync, readlinkSync, realpathSync } from "node:fs";

export interface Machine {
  /** Processors available to this process, as `nproc` prints. */
  processors: number;
  totalMemoryKiB: number;
  cpuModel: string;
  bunVersion: string;
  natsServerVersion: string;
  /** The 1, 5 and 15 minute load averages from /proc/loadavg when the benchmark started, since other work on the machine skews every figure. */
  loadAverageAtStart: string;
}

function commandOutput(command: string[]): string {
  const result = Bun.spawnSync(command, { stdout: "pipe", stderr: "pipe" });
  if (result.exitCode !== 0) return `unknown (${command.join(" ")} exited with ${result.exitCode})`;
  return `${result.stdout.toString()}${result.stderr.toString()}`.trim();
}

export function readMachine(natsServerBinary: string): Machine {
  const meminfo = readFileSync("/proc/meminfo", "utf8");
  const cpuinfo = readFileSync("/proc/cpuinfo", "utf8");
  return {
    processors: Number(commandOutput(["nproc"])),
    totalMemoryKiB: Number(/^MemTotal:\s+(\d+) kB/m.exec(meminfo)?.[1] ?? Number.NaN),
    cpuModel: /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? "unknown",
    bunVersion: Bun.version,
    natsServerVersion: commandOutput([natsServerBinary, "--version"]).replace(/^nats-server:\s*/, ""),
    loadAverageAtStart: readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" "),
  };
}

/** Peak resident memory of one process, from VmHWM in /proc/<pid>/status. */
export interface PeakMemory {
  name: string;
  pid: number;
  peakResidentKiB: number | null;
  /** Whether /proc/<pid>/exe is the bun binary, which shows the pid is not a wrapper around it. */
  isBun: boolean;
}

const bunBinary = realpathSync(process.execPath);

/** Reads VmHWM of a running process. The figure is null when the process has already exited. */
export function readPeakMemory(name: string, pid: number): PeakMemory {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const peak = /^VmHWM:\s+(\d+) kB/m.exec(status)?.[1];
    const isBun = readlinkSync(`/proc/${pid}/exe`) === bunBinary;
    return { name, pid, peakResidentKiB: peak === undefined ? null : Number(peak), isBun };
  } catch {
    return { name, pid, peakResidentKiB: null, isBun: false };
  }
}
