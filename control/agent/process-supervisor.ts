/**
 * The supervisor of one process task: a small Node process, started detached by the executor, that outlives
 * swarmd. It is the only code besides control/base/exec.ts that uses child_process, because the task needs a
 * detached child whose pipes do not run through swarmd (a swarmd restart must not kill the task or lose its
 * output or its exit code).
 *
 * Run as `node process-supervisor.js TASKDIR`, it reads TASKDIR/launch.json, starts the task process in a new
 * session (its own process group, so the executor signals the task and everything it forked), timestamps every
 * stdout/stderr line into output.log, records the task's pid and /proc start time in state.json, and when the
 * task ends writes exit.json (exit code, or 128 + signal number as Docker reports kills) and exits itself.
 * TERM, INT and HUP sent to the supervisor are forwarded to the task, so stopping the supervisor stops the task
 * the same graceful way.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, writeSync } from 'node:fs';
import { constants } from 'node:os';
import { formatLogLine, LineSplitter } from './task-log-files';
import { procStartTime, TaskFiles, writeJsonAtomic, type TaskExitRecord } from './process-task-files';

const DRAIN_MS = 2000;

/** Starts the supervisor for a prepared task directory (launch.json written). Returns the detached child. */
export function launchSupervisor(files: TaskFiles): ChildProcess {
  const errFd = openSync(files.supervisorLogPath, 'a');
  try {
    const child = spawn(process.execPath, [__filename, files.dir], {
      detached: true,
      stdio: ['ignore', 'ignore', errFd],
      cwd: '/',
      env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin' },
    });
    // swarmd may exit while the supervisor runs on; it still hears 'exit' while it lives.
    child.unref();
    return child;
  } finally {
    closeSync(errFd);
  }
}

function supervise(dir: string): void {
  const files = new TaskFiles(dir);
  const launch = files.readLaunch();
  if (!launch) throw new Error(`no launch.json in ${dir}`);
  const out = openSync(files.outputPath, 'a');
  let finished = false;
  const finish = (rec: Omit<TaskExitRecord, 'finishedAt'>): void => {
    if (finished) return;
    finished = true;
    closeSync(out);
    writeJsonAtomic(files.exitPath, { ...rec, finishedAt: new Date().toISOString() });
    process.exit(0);
  };

  const child = spawn(launch.argv[0], launch.argv.slice(1), {
    cwd: launch.cwd,
    env: launch.env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stdout = new LineSplitter((l) => writeSync(out, formatLogLine('stdout', l)));
  const stderr = new LineSplitter((l) => writeSync(out, formatLogLine('stderr', l)));
  child.stdout!.on('data', (b: Buffer) => stdout.push(b));
  child.stderr!.on('data', (b: Buffer) => stderr.push(b));

  child.on('spawn', () => {
    const pid = child.pid!;
    writeJsonAtomic(files.statePath, {
      pid,
      startTime: procStartTime(pid) ?? '',
      supervisorPid: process.pid,
      supervisorStartTime: procStartTime(process.pid) ?? '',
      startedAt: new Date().toISOString(),
    });
  });
  child.on('error', (e) => {
    // Only a failed spawn lands here (ip missing, cwd gone): the task never ran.
    writeSync(out, formatLogLine('stderr', `shoal: cannot start task: ${e.message}`));
    finish({ exitCode: 127, message: `cannot start task: ${e.message}` });
  });
  // As in a container, whatever the task forked dies with it: its process group is killed when it exits.
  // 'close' then comes once both pipes are drained, so every line is in output.log before exit.json exists; a
  // descendant that left the group and still holds a pipe only delays exit.json by DRAIN_MS.
  let exited: Omit<TaskExitRecord, 'finishedAt'> | undefined;
  const done = (): void => {
    stdout.end();
    stderr.end();
    finish(exited!);
  };
  child.on('exit', (code, signal) => {
    exited = signal
      ? { exitCode: 128 + (constants.signals[signal] ?? 0), signal, message: `task: killed by ${signal}` }
      : { exitCode: code ?? 255 };
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      /* the group is already empty */
    }
    setTimeout(done, DRAIN_MS);
  });
  child.on('close', () => {
    if (exited) done();
  });

  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    process.on(sig, () => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, sig);
      } catch {
        /* already gone: 'close' follows */
      }
    });
  }
}

if (require.main === module) {
  try {
    supervise(process.argv[2]);
  } catch (e) {
    process.stderr.write(`shoal supervisor: ${(e as Error).message}\n`);
    process.exit(1);
  }
}
