/**
 * What a process task leaves on disk in `<dataDir>/tasks/<taskId>/`, so any swarmd — the one that started it or
 * the next one after a restart — can find, watch and stop it:
 *   launch.json  what to run (argv, env, cwd, stop signal); written by the executor before the supervisor starts
 *   state.json   the task process's pid and /proc start time, and the supervisor's; written by the supervisor
 *   exit.json    how the task process ended; written by the supervisor after the last output line is saved
 *   output.log   stdout and stderr lines with timestamps (task-log-files.ts)
 *   stdout.pipe, stderr.pipe  the FIFOs the task writes to; the shim reads them, and a restarted shim reopens them
 *   prepared.json  how many interfaces prepare() gave the task (so remove() skips the veth scan when none)
 *   health.json  the health check's State.Health (status, failing streak, last probes), as `docker inspect` shows
 * A pid alone is not an identity: pids are recycled, so a process is "ours" only while /proc/PID/stat still shows
 * the start time recorded with it. JSON files are written to a temporary name and renamed, so a reader never sees
 * half a file.
 */
import { promises as fsp, readFileSync, writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';

export interface TaskLaunch {
  argv: string[];
  env: Record<string, string>;
  cwd: string;
  /** Signal name for shutdown ("SIGTERM"), from ContainerSpec.StopSignal. */
  stopSignal: NodeJS.Signals;
}

export interface TaskProcessState {
  pid: number;
  /** /proc/PID/stat field 22 (clock ticks since boot), the pid's identity together with the pid. */
  startTime: string;
  /** The process shim supervising the task (one per node, process-shim.ts); a new shim rewrites them on adoption. */
  supervisorPid: number;
  supervisorStartTime: string;
  startedAt: string;
}

export interface TaskExitRecord {
  exitCode: number;
  signal?: string;
  message?: string;
  finishedAt: string;
}

export interface TaskPrepared {
  interfaces: number;
}

export class TaskFiles {
  constructor(readonly dir: string) {}

  static of(dataDir: string, taskId: string): TaskFiles {
    return new TaskFiles(join(dataDir, 'tasks', taskId));
  }

  get launchPath(): string {
    return join(this.dir, 'launch.json');
  }
  get statePath(): string {
    return join(this.dir, 'state.json');
  }
  get exitPath(): string {
    return join(this.dir, 'exit.json');
  }
  get outputPath(): string {
    return join(this.dir, 'output.log');
  }
  get stdoutPipePath(): string {
    return join(this.dir, 'stdout.pipe');
  }
  get stderrPipePath(): string {
    return join(this.dir, 'stderr.pipe');
  }
  get healthPath(): string {
    return join(this.dir, 'health.json');
  }
  get preparedPath(): string {
    return join(this.dir, 'prepared.json');
  }

  readLaunch(): TaskLaunch | undefined {
    return readJson<TaskLaunch>(this.launchPath);
  }
  readState(): TaskProcessState | undefined {
    return readJson<TaskProcessState>(this.statePath);
  }
  readExit(): TaskExitRecord | undefined {
    return readJson<TaskExitRecord>(this.exitPath);
  }
  readPrepared(): TaskPrepared | undefined {
    return readJson<TaskPrepared>(this.preparedPath);
  }

  async create(): Promise<void> {
    await fsp.mkdir(this.dir, { recursive: true, mode: 0o700 });
  }

  async destroy(): Promise<void> {
    await fsp.rm(this.dir, { recursive: true, force: true });
  }
}

export function writeJsonAtomic(path: string, value: unknown): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(value, null, 1) + '\n');
  renameSync(tmp, path);
}

function readJson<T>(path: string): T | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`unreadable task file ${path}: ${(e as Error).message}`);
  }
}

/** /proc/PID/stat field 22 of a live (not zombie) process; undefined when it is gone or a zombie. */
export function procStartTime(pid: number): string | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // comm (field 2) is in parentheses and may hold spaces or ')': fields 3.. follow the last ')'.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const state = rest[0];
  if (state === 'Z' || state === 'X') return undefined;
  return rest[22 - 3];
}

/** Whether the process that had this pid and start time is still alive. */
export function isAlive(pid: number | undefined, startTime: string | undefined): boolean {
  return pid !== undefined && startTime !== undefined && procStartTime(pid) === startTime;
}
