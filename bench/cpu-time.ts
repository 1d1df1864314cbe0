/**
 * CPU time per process from /proc (Linux), so the bench can say where each event's CPU goes:
 * API, workers, MariaDB, Redis and the load generator itself. On two cores the sum is the budget.
 */
import { readdirSync, readFileSync } from 'node:fs';

const TICKS_PER_SECOND = 100; // USER_HZ: fixed at 100 on Linux for /proc/<pid>/stat

/** utime + stime of one process (all its threads), in seconds; null when it is gone or /proc is missing. */
export function cpuSeconds(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  } catch {
    return null;
  }
}

/** Pids whose command name is exactly `name` (e.g. mariadbd, redis-server). */
export function pidsNamed(name: string): number[] {
  try {
    return readdirSync('/proc')
      .filter((entry) => /^\d+$/.test(entry))
      .filter((pid) => {
        try {
          return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === name;
        } catch {
          return false;
        }
      })
      .map(Number);
  } catch {
    return [];
  }
}

/** Total CPU seconds of a group of processes, e.g. every worker. */
export function groupCpuSeconds(pids: number[]): number {
  return pids.reduce((sum, pid) => sum + (cpuSeconds(pid) ?? 0), 0);
}
