/**
 * One process task's controller. Everything it knows about a running task comes from the task directory
 * (process-task-files.ts), never from memory alone, so a controller made after a swarmd restart — even from a
 * stub task holding only the ID — sees, waits for, stops and removes a task the previous swarmd started.
 *
 * Lifecycle: prepare() makes the namespace `shoal-<taskId>` with the task's interfaces and resolv.conf; start()
 * writes launch.json and starts the detached supervisor; wait() learns the exit from exit.json (through the
 * supervisor's 'exit' event when this swarmd started it, else by polling); shutdown() signals the task's process
 * group; remove() releases namespace, veths, /etc/netns entry and the directory.
 */
import { promises as fsp, existsSync } from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import { ExecError, type Exec } from '../base/exec';
import type { Logger } from '../base/log';
import type { Task } from '../api/types';
import type { NetworkPlumber } from '../../overlay/network-plumber';
import type { Controller, ExitStatus, LogLine, LogOptions } from './executor';
import { isAlive, TaskFiles, writeJsonAtomic } from './process-task-files';
import { netnsName, resolvConf, taskInterfaces, taskLaunch } from './process-task-plan';
import { launchSupervisor } from './process-supervisor';
import { readLogFile } from './task-log-files';

const POLL_MS = 150;
const START_TIMEOUT_MS = 10_000;
/** How long after the task dies its supervisor may take to write exit.json (it waits up to 2 s for the pipes). */
const SUPERVISOR_EXIT_MS = 5_000;

/** What the executor shares with its controllers: supervisors this swarmd started, by task ID. */
export interface ProcessControllerContext {
  dataDir: string;
  plumber: NetworkPlumber;
  exec: Exec;
  log: Logger;
  supervisors: Map<string, ChildProcess>;
}

export class ProcessController implements Controller {
  private readonly files: TaskFiles;
  private readonly ns: string;

  constructor(
    private readonly task: Task,
    private readonly ctx: ProcessControllerContext,
  ) {
    this.files = TaskFiles.of(ctx.dataDir, task.ID);
    this.ns = netnsName(task.ID);
  }

  async prepare(): Promise<void> {
    if (await this.isRunning()) return; // adopted: leave it as it is
    taskLaunch(this.task); // refuse early (no command, not on PATH, bad signal...) before making anything
    const ifaces = taskInterfaces(this.task);
    await this.files.create();
    if (!existsSync(`/run/netns/${this.ns}`)) await this.tolerate(['ip', 'netns', 'add', this.ns], /File exists/);
    for (const iface of ifaces) await this.ctx.plumber.ensureNetwork(iface.network);
    await this.ctx.plumber.attach(this.task.ID, `/run/netns/${this.ns}`, ifaces);
    const conf = resolvConf(this.task);
    if (conf) {
      await fsp.mkdir(`/etc/netns/${this.ns}`, { recursive: true });
      await fsp.writeFile(`/etc/netns/${this.ns}/resolv.conf`, conf);
    }
  }

  async start(): Promise<void> {
    if (await this.isRunning()) return;
    const launch = taskLaunch(this.task);
    await this.files.create();
    // A previous run's records would make the new process look finished.
    await fsp.rm(this.files.statePath, { force: true });
    await fsp.rm(this.files.exitPath, { force: true });
    writeJsonAtomic(this.files.launchPath, launch);
    const sup = launchSupervisor(this.files);
    this.ctx.supervisors.set(this.task.ID, sup);
    sup.once('exit', () => this.ctx.supervisors.delete(this.task.ID));
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (!this.files.readState() && !this.files.readExit()) {
      if (sup.exitCode !== null || sup.signalCode !== null) {
        if (this.files.readState() || this.files.readExit()) break;
        throw new Error(`task supervisor failed to start: ${await this.supervisorLog()}`);
      }
      if (Date.now() > deadline) throw new Error(`task process did not start within ${START_TIMEOUT_MS / 1000}s`);
      await sleep(20);
    }
    this.ctx.log.info('task process started', { task: this.task.ID, pid: this.files.readState()?.pid });
  }

  async wait(): Promise<ExitStatus> {
    const sup = this.ctx.supervisors.get(this.task.ID);
    if (sup && sup.exitCode === null && sup.signalCode === null) {
      // The handle is unref'd so swarmd can exit while tasks run; someone waiting on it must keep the loop alive.
      sup.ref();
      await new Promise((resolve) => sup.once('exit', resolve)).finally(() => sup.unref());
    }
    for (;;) {
      const exit = this.files.readExit();
      if (exit) return { exitCode: exit.exitCode, message: exit.exitCode === 0 ? undefined : exit.message ?? `task: non-zero exit (${exit.exitCode})` };
      const state = this.files.readState();
      if (!state) {
        if (!existsSync(this.files.launchPath)) throw new Error('task was never started on this node');
      } else if (!isAlive(state.pid, state.startTime) && !isAlive(state.supervisorPid, state.supervisorStartTime)) {
        if (this.files.readExit()) continue; // written between the two reads
        return { exitCode: 255, message: 'task process ended while its supervisor was gone: exit status unknown' };
      }
      await sleep(POLL_MS);
    }
  }

  async shutdown(gracePeriodMs: number): Promise<void> {
    const state = this.files.readState();
    if (!state || !isAlive(state.pid, state.startTime)) return this.supervisorGone(state);
    const signal = this.files.readLaunch()?.stopSignal ?? 'SIGTERM';
    this.ctx.log.info('stopping task process', { task: this.task.ID, pid: state.pid, signal, graceMs: gracePeriodMs });
    killGroup(state.pid, signal);
    const deadline = Date.now() + gracePeriodMs;
    while (isAlive(state.pid, state.startTime) && Date.now() < deadline) await sleep(Math.min(POLL_MS, Math.max(1, deadline - Date.now())));
    if (isAlive(state.pid, state.startTime)) {
      this.ctx.log.info('task process ignored its stop signal: killing it', { task: this.task.ID, pid: state.pid, signal });
      killGroup(state.pid, 'SIGKILL');
      while (isAlive(state.pid, state.startTime)) await sleep(20);
    }
    await this.supervisorGone(state);
  }

  async remove(): Promise<void> {
    if (await this.isRunning()) await this.shutdown(0);
    await this.ctx.plumber.detach(this.task.ID);
    if (existsSync(`/run/netns/${this.ns}`)) await this.tolerate(['ip', 'netns', 'del', this.ns], /No such file|not exist/);
    await fsp.rm(`/etc/netns/${this.ns}`, { recursive: true, force: true });
    await this.files.destroy();
  }

  async isRunning(): Promise<boolean> {
    const state = this.files.readState();
    return state !== undefined && isAlive(state.pid, state.startTime);
  }

  logs(opts: LogOptions): AsyncIterable<LogLine> {
    return readLogFile(this.files.outputPath, opts);
  }

  /** Waits (bounded) for the supervisor to record the exit, so wait() and `service ps` see the real code. */
  private async supervisorGone(state: ReturnType<TaskFiles['readState']>): Promise<void> {
    if (!state) return;
    const deadline = Date.now() + SUPERVISOR_EXIT_MS;
    while (!this.files.readExit() && isAlive(state.supervisorPid, state.supervisorStartTime) && Date.now() < deadline) await sleep(20);
  }

  private async supervisorLog(): Promise<string> {
    const text = await fsp.readFile(this.files.supervisorLogPath, 'utf8').catch(() => '');
    return text.trim() || 'no output';
  }

  private async tolerate(argv: string[], ok: RegExp): Promise<void> {
    try {
      await this.ctx.exec(argv);
    } catch (e) {
      if (!(e instanceof ExecError && ok.test(e.stderr))) throw e;
    }
  }
}

/** Signals the task's whole process group (it leads one: the supervisor starts it in a new session). */
function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ESRCH') throw e;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
