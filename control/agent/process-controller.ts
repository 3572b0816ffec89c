/**
 * One process task's controller. Everything it knows about a running task comes from the task directory
 * (process-task-files.ts) and from the node's process shim (process-shim.ts), never from memory alone, so a
 * controller made after a swarmd restart — even from a stub task holding only the ID — sees, waits for, stops
 * and removes a task the previous swarmd started.
 *
 * Lifecycle: prepare() makes the namespace `shoal-<taskId>` (batched, process-netns-batch.ts) with the task's
 * interfaces and resolv.conf; start() writes launch.json and asks the shim to start the task, which answers once
 * the process exists (no deadline while the shim is reachable: a busy node queues, it does not fail); wait() and
 * shutdown() learn the end from the shim's exit event, with exit.json as the record (re-read on a slow poll and
 * whenever the shim connection is remade); shutdown() signals the task's process group; remove() releases
 * namespace, veths, /etc/netns entry and the directory.
 */
import { promises as fsp, existsSync } from 'node:fs';
import type { Exec } from '../base/exec';
import type { Logger } from '../base/log';
import type { Task } from '../api/types';
import type { LocalNetwork, NetworkPlumber } from '../../overlay/network-plumber';
import type { Controller, ExitStatus, LogLine, LogOptions } from './executor';
import { systemClock, type Clock } from '../base/clock';
import { healthTimings } from './health-config';
import { HealthMonitor, type HealthFeed } from './health-monitor';
import { probeCommand, processProbe } from './process-health-probe';
import { isAlive, TaskFiles, writeJsonAtomic, type TaskExitRecord, type TaskProcessState } from './process-task-files';
import { netnsName, resolvConf, taskInterfaces, taskLaunch } from './process-task-plan';
import type { ShimClient } from './process-shim-client';
import type { NetnsBatcher } from './process-netns-batch';
import { UNKNOWN_EXIT_MESSAGE } from './process-supervisor';
import { readLogFile } from './task-log-files';

/** How often a waiter re-reads exit.json besides the shim's event (a safety net, not the signal). */
const EXIT_POLL_MS = 2000;
/** How often shutdown looks at /proc while the stop signal's grace period runs. */
const STOP_POLL_MS = 100;
/** How long after the task dies the shim may take to write exit.json (it drains the pipes for up to 2 s). */
const EXIT_RECORD_MS = 5_000;
/** How long a network known to be set up is not checked again (a burst of tasks on one network costs one check). */
const NETWORK_FRESH_MS = 5_000;

/** What the executor shares with its controllers. */
export interface ProcessControllerContext {
  dataDir: string;
  plumber: NetworkPlumber;
  exec: Exec;
  log: Logger;
  shim: ShimClient;
  netns: NetnsBatcher;
  /** Bounds concurrent plumber work (each step is an `ip` exec). */
  plumbing: Limiter;
  /** Networks ensured lately: network ID → when (ms) and the promise of that ensure. */
  networks: Map<string, { at: number; done: Promise<void> }>;
  /** Times health probes; the system clock by default. */
  clock?: Clock;
}

export class ProcessController implements Controller {
  private readonly files: TaskFiles;
  private readonly ns: string;
  private monitor: HealthMonitor | undefined;

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
    probeCommand(this.task); // and a health check this node cannot run
    const ifaces = taskInterfaces(this.task);
    await this.files.create();
    await this.ctx.netns.add(this.ns);
    if (ifaces.length > 0) {
      for (const iface of ifaces) await this.ensureNetwork(iface.network);
      await this.ctx.plumbing.run(() => this.ctx.plumber.attach(this.task.ID, `/run/netns/${this.ns}`, ifaces));
    }
    writeJsonAtomic(this.files.preparedPath, { interfaces: ifaces.length });
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
    const reply = await this.ctx.shim.request({ op: 'start', taskId: this.task.ID });
    if (!reply.ok) throw new Error(`the process shim could not start the task: ${reply.error}`);
    if (!reply.state && reply.exit) throw new Error(reply.exit.message ?? `task process failed to start (exit ${reply.exit.exitCode})`);
    this.ctx.log.info('task process started', { task: this.task.ID, pid: reply.state?.pid });
  }

  async wait(): Promise<ExitStatus> {
    if (!existsSync(this.files.launchPath) && !this.files.readState()) throw new Error('task was never started on this node');
    const exit = await this.exitRecord();
    return { exitCode: exit.exitCode, message: exit.exitCode === 0 ? undefined : exit.message ?? `task: non-zero exit (${exit.exitCode})` };
  }

  /** Probes run by a HealthMonitor in this swarmd (a restarted one starts a new monitor for an adopted task). */
  async health(): Promise<HealthFeed | undefined> {
    if (this.monitor) return this.monitor;
    const cmd = probeCommand(this.task);
    if (!cmd) return undefined;
    const started = this.files.readState()?.startedAt;
    this.monitor = new HealthMonitor({
      timings: healthTimings(this.task.Spec.ContainerSpec.Healthcheck),
      probe: processProbe(cmd, this.files),
      clock: this.ctx.clock ?? systemClock,
      startedAt: started ? Date.parse(started) : undefined,
      onProbe: (h) => {
        try {
          writeJsonAtomic(this.files.healthPath, h);
        } catch (e) {
          this.ctx.log.debug('cannot record the health state', { task: this.task.ID, err: e }); // removed meanwhile
        }
      },
    });
    this.monitor.start();
    return this.monitor;
  }

  async shutdown(gracePeriodMs: number): Promise<void> {
    this.monitor?.close(); // a probe of a stopping task would only add noise
    const state = this.files.readState();
    if (!state) return;
    if (isAlive(state.pid, state.startTime)) {
      const signal = this.files.readLaunch()?.stopSignal ?? 'SIGTERM';
      this.ctx.log.info('stopping task process', { task: this.task.ID, pid: state.pid, signal, graceMs: gracePeriodMs });
      killGroup(state.pid, signal);
      if (!(await this.gone(state, gracePeriodMs))) {
        this.ctx.log.info('task process ignored its stop signal: killing it', { task: this.task.ID, pid: state.pid, signal });
        killGroup(state.pid, 'SIGKILL');
        await this.gone(state, Infinity);
      }
    }
    // Bounded: wait() and `service ps` should see the real code, but a lost shim must not hang a removal.
    await this.exitRecord(EXIT_RECORD_MS).catch(() => undefined);
  }

  async remove(): Promise<void> {
    this.monitor?.close();
    if (await this.isRunning()) await this.shutdown(0);
    // Veths go with the namespace; the scan for host sides is only needed when prepare() made some (or is unknown).
    if ((this.files.readPrepared()?.interfaces ?? 1) > 0) await this.ctx.plumbing.run(() => this.ctx.plumber.detach(this.task.ID));
    await this.ctx.netns.del(this.ns);
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

  /**
   * exit.json once it exists: woken by the shim's exit event, and re-read on a slow poll and whenever the shim
   * connection is remade. A task whose process and supervisor are both gone without a record ended unseen.
   * Rejects after timeoutMs when given.
   */
  private exitRecord(timeoutMs = Infinity): Promise<TaskExitRecord> {
    return new Promise((resolve, reject) => {
      let settled = false;
      let poll: NodeJS.Timeout | undefined;
      let limit: NodeJS.Timeout | undefined;
      const finish = (err: Error | undefined, rec?: TaskExitRecord): void => {
        if (settled) return;
        settled = true;
        unsubscribe();
        clearTimeout(poll);
        clearTimeout(limit);
        if (err) reject(err);
        else resolve(rec!);
      };
      const check = (): void => {
        try {
          const rec = this.files.readExit();
          if (rec) return finish(undefined, rec);
          const state = this.files.readState();
          if (state && !isAlive(state.pid, state.startTime) && !isAlive(state.supervisorPid, state.supervisorStartTime)) {
            const again = this.files.readExit(); // written between the reads
            return finish(undefined, again ?? { exitCode: 255, message: UNKNOWN_EXIT_MESSAGE, finishedAt: new Date().toISOString() });
          }
        } catch (e) {
          return finish(e as Error);
        }
        poll = setTimeout(check, EXIT_POLL_MS);
      };
      const unsubscribe = this.ctx.shim.onExit(this.task.ID, (rec) => {
        if (rec) finish(undefined, rec);
        else {
          clearTimeout(poll);
          check();
        }
      });
      if (timeoutMs !== Infinity) limit = setTimeout(() => finish(new Error('no exit record')), timeoutMs);
      check();
      // An adopted task whose shim is gone: connecting starts a new shim, which adopts it and reports its end.
      const state = this.files.readState();
      if (!settled && state && !isAlive(state.supervisorPid, state.supervisorStartTime)) {
        this.ctx.shim.ensureConnected().catch((e) => this.ctx.log.warn('process shim unreachable', { task: this.task.ID, err: e }));
      }
    });
  }

  /** Whether the task's process is gone within ms: the shim's exit event ends the wait early, /proc decides. */
  private async gone(state: TaskProcessState, ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    let wake: (() => void) | undefined;
    const unsubscribe = this.ctx.shim.onExit(this.task.ID, () => wake?.());
    try {
      while (isAlive(state.pid, state.startTime)) {
        const left = deadline - Date.now();
        if (left <= 0) return false;
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, Math.min(STOP_POLL_MS, left));
        });
      }
      return true;
    } finally {
      unsubscribe();
    }
  }

  /** The network's bridge, checked at most once per NETWORK_FRESH_MS across this executor's tasks. */
  private ensureNetwork(net: LocalNetwork): Promise<void> {
    const seen = this.ctx.networks.get(net.id);
    if (seen && Date.now() - seen.at < NETWORK_FRESH_MS) return seen.done;
    const done = this.ctx.plumbing.run(() => this.ctx.plumber.ensureNetwork(net));
    this.ctx.networks.set(net.id, { at: Date.now(), done });
    done.catch(() => this.ctx.networks.delete(net.id));
    return done;
  }
}

/** At most `max` tasks' plumbing at once, so a burst of starts does not fork hundreds of `ip` at the same time. */
export class Limiter {
  private active = 0;
  private readonly queue: (() => void)[] = [];

  constructor(private readonly max: number) {}

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.max) await new Promise<void>((resolve) => this.queue.push(resolve));
    this.active++;
    try {
      return await fn();
    } finally {
      this.active--;
      this.queue.shift()?.();
    }
  }
}

/** Signals the task's whole process group (it leads one: the shim starts it in a new session). */
function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ESRCH') throw e;
  }
}
