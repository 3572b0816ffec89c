/**
 * The supervision of one process task inside the node's process shim (process-shim.ts): start the task, read its
 * output, record its pid, its end and its exit code in the task directory (process-task-files.ts).
 *
 * The task runs in a new session (its own process group, so the executor signals the task and everything it
 * forked). Its stdout and stderr are FIFOs in the task directory, opened read-write by the task: the task itself
 * always holds a read end, so if the shim dies the task never gets SIGPIPE — its writes block once the 64 KiB
 * pipe buffer is full, until a restarted shim reopens the FIFOs and drains them. The shim reads the FIFOs
 * non-blocking (libuv, no thread per pipe) and timestamps every line into output.log the moment it reads it.
 * When the task ends its group is killed (as a container's processes die with it), the pipes are drained
 * (at most DRAIN_MS, in case a descendant left the group and still holds them) and exit.json is written: the exit
 * code, or 128 + signal number as Docker reports kills.
 *
 * An adopted task (one a previous shim started) is not this shim's child: its end is noticed by polling
 * /proc (ADOPTED_POLL_MS) and its exit code is unknown (255), because Linux reports an exit status only to the
 * parent. Lines it wrote while no shim ran are timestamped when the new shim reads them.
 *
 * Besides control/base/exec.ts this is the only code that uses child_process: the task must be the shim's own
 * child, so that the shim receives its exit status.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, constants as fsConstants, existsSync, openSync, writeSync } from 'node:fs';
import { Socket } from 'node:net';
import { constants } from 'node:os';
import { formatLogLine, LineSplitter } from './task-log-files';
import { isAlive, procStartTime, TaskFiles, writeJsonAtomic, type TaskExitRecord, type TaskProcessState } from './process-task-files';

const DRAIN_MS = 2000;
export const ADOPTED_POLL_MS = 500;
export const UNKNOWN_EXIT_MESSAGE = 'task process ended while its supervisor was gone: exit status unknown';

type ExitFacts = Omit<TaskExitRecord, 'finishedAt'>;

export class SupervisedTask {
  readonly files: TaskFiles;
  state: TaskProcessState | undefined;
  private out = -1;
  private exited: ExitFacts | undefined;
  private openStreams = 0;
  private finished = false;
  private poll: NodeJS.Timeout | undefined;
  private drain: NodeJS.Timeout | undefined;

  private constructor(
    dir: string,
    private readonly onEnd: (task: SupervisedTask, exit: TaskExitRecord) => void,
  ) {
    this.files = new TaskFiles(dir);
  }

  /** Starts the task of a prepared directory (launch.json written, FIFOs made). Never throws: a failed start ends it. */
  static start(dir: string, onEnd: (task: SupervisedTask, exit: TaskExitRecord) => void): SupervisedTask {
    const t = new SupervisedTask(dir, onEnd);
    t.launch();
    return t;
  }

  /** Takes over a task a previous shim started (state.json names a live process). */
  static adopt(dir: string, state: TaskProcessState, onEnd: (task: SupervisedTask, exit: TaskExitRecord) => void): SupervisedTask {
    const t = new SupervisedTask(dir, onEnd);
    t.out = openSync(t.files.outputPath, 'a');
    t.state = { ...state, ...shimIdentity() };
    writeJsonAtomic(t.files.statePath, t.state);
    for (const [path, stream] of [[t.files.stdoutPipePath, 'stdout'], [t.files.stderrPipePath, 'stderr']] as const) {
      if (existsSync(path)) t.read(openSync(path, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK), stream);
    }
    t.poll = setInterval(() => {
      if (isAlive(state.pid, state.startTime)) return;
      t.ended({ exitCode: 255, message: UNKNOWN_EXIT_MESSAGE });
    }, ADOPTED_POLL_MS);
    return t;
  }

  get taskId(): string {
    return this.files.dir.split('/').pop() ?? '';
  }

  private launch(): void {
    const launch = this.files.readLaunch();
    this.out = openSync(this.files.outputPath, 'a');
    if (!launch) return this.failed('no launch.json in the task directory');
    const writers: number[] = [];
    let child: ChildProcess;
    try {
      // Read ends first (non-blocking opens never wait for a writer), then the task's read-write ends.
      for (const [path, stream] of [[this.files.stdoutPipePath, 'stdout'], [this.files.stderrPipePath, 'stderr']] as const) {
        this.read(openSync(path, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK), stream);
        writers.push(openSync(path, fsConstants.O_RDWR));
      }
      child = spawn(launch.argv[0], launch.argv.slice(1), {
        cwd: launch.cwd,
        env: launch.env,
        detached: true,
        stdio: ['ignore', writers[0], writers[1]],
      });
    } catch (e) {
      return this.failed((e as Error).message);
    } finally {
      // Only the task holds the write ends now: the read ends see EOF once it (and whatever it forked) is gone.
      for (const fd of writers) closeSync(fd);
    }
    child.on('error', (e) => this.failed(e.message));
    child.on('exit', (code, signal) =>
      this.ended(signal ? { exitCode: 128 + (constants.signals[signal] ?? 0), signal, message: `task: killed by ${signal}` } : { exitCode: code ?? 255 }),
    );
    if (child.pid === undefined) return; // 'error' follows
    this.state = { pid: child.pid, startTime: procStartTime(child.pid) ?? '', ...shimIdentity(), startedAt: new Date().toISOString() };
    writeJsonAtomic(this.files.statePath, this.state);
  }

  /** A spawn that failed (ip missing, cwd gone): the task never ran. */
  private failed(reason: string): void {
    if (this.out >= 0) writeSync(this.out, formatLogLine('stderr', `shoal: cannot start task: ${reason}`));
    this.ended({ exitCode: 127, message: `cannot start task: ${reason}` });
  }

  private read(fd: number, stream: 'stdout' | 'stderr'): void {
    const lines = new LineSplitter((l) => {
      if (this.out >= 0) writeSync(this.out, formatLogLine(stream, l));
    });
    const sock = new Socket({ fd, readable: true, writable: false });
    this.openStreams++;
    sock.on('data', (b: Buffer) => lines.push(b));
    sock.on('error', () => undefined); // 'close' follows
    sock.on('close', () => {
      lines.end();
      this.openStreams--;
      if (this.exited && this.openStreams === 0) this.finish();
    });
  }

  /** The task's main process is gone: kill its group, let the pipes drain, then record the end. */
  private ended(facts: ExitFacts): void {
    if (this.exited) return;
    this.exited = facts;
    if (this.poll) clearInterval(this.poll);
    if (this.state) {
      try {
        process.kill(-this.state.pid, 'SIGKILL');
      } catch {
        /* the group is already empty */
      }
    }
    if (this.openStreams === 0) return this.finish();
    this.drain = setTimeout(() => this.finish(), DRAIN_MS);
  }

  private finish(): void {
    if (this.finished || !this.exited) return;
    this.finished = true;
    if (this.drain) clearTimeout(this.drain);
    if (this.out >= 0) closeSync(this.out);
    this.out = -1;
    const rec: TaskExitRecord = { ...this.exited, finishedAt: new Date().toISOString() };
    try {
      writeJsonAtomic(this.files.exitPath, rec);
    } catch {
      /* the directory was removed under us: nobody is left to read it */
    }
    this.onEnd(this, rec);
  }
}

function shimIdentity(): Pick<TaskProcessState, 'supervisorPid' | 'supervisorStartTime'> {
  return { supervisorPid: process.pid, supervisorStartTime: procStartTime(process.pid) ?? '' };
}

/** Starts a detached shim for dataDir (`node process-shim.js DATADIR`); stderr goes to logPath. */
export function launchShimProcess(shimScript: string, dataDir: string, logPath: string): ChildProcess {
  const errFd = openSync(logPath, 'a');
  try {
    const child = spawn(process.execPath, [shimScript, dataDir], {
      detached: true,
      stdio: ['ignore', 'ignore', errFd],
      cwd: '/',
      env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin' },
    });
    // swarmd may exit while the shim runs on.
    child.unref();
    return child;
  } finally {
    closeSync(errFd);
  }
}
