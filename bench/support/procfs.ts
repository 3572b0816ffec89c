/**
 * Reading /proc for the benchmarks: a process's identity (pid + start time, as the process executor records it),
 * CPU seconds used by one process and by the whole machine, and available memory.
 */
import { readFileSync, readdirSync } from 'node:fs';

const TICKS = 100; // USER_HZ on Linux

/** Fields of /proc/PID/stat after the command name (field 3 is index 0). */
function statFields(pid: number): string[] | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return s.slice(s.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** Whether pid is still the process that started at startTime (field 22); zombies count as gone. */
export function alive(pid: number, startTime: string): boolean {
  const f = statFields(pid);
  return f !== undefined && f[19] === startTime && f[0] !== 'Z';
}

/** User + system CPU seconds of one process (0 once it is gone). */
export function processCpuSeconds(pid: number): number {
  const f = statFields(pid);
  return f ? (Number(f[11]) + Number(f[12])) / TICKS : 0;
}

/** Busy CPU seconds of the whole machine since boot (all cores, everything but idle and iowait). */
export function machineCpuSeconds(): number {
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, system, , , irq, softirq, steal] = cpu;
  return (user + nice + system + irq + softirq + (steal ?? 0)) / TICKS;
}

export function memAvailableBytes(): number {
  const m = /MemAvailable:\s+(\d+) kB/.exec(readFileSync('/proc/meminfo', 'utf8'));
  return m ? Number(m[1]) * 1024 : Infinity;
}

/** Named network namespaces (/run/netns) whose name starts with prefix. */
export function netnsWithPrefix(prefix: string): string[] {
  try {
    return readdirSync('/run/netns').filter((n) => n.startsWith(prefix));
  } catch {
    return [];
  }
}

/** Private (not shared) resident memory of a process in bytes, from smaps_rollup; 0 if gone. */
export function privateBytes(pid: number): number {
  try {
    const s = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    let kb = 0;
    for (const m of s.matchAll(/^Private_(?:Clean|Dirty):\s+(\d+) kB/gm)) kb += Number(m[1]);
    return kb * 1024;
  } catch {
    return 0;
  }
}
