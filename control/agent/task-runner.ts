/**
 * One task on this node: walks it through Docker's task states with its controller, one step at a time
 * (swarmkit's exec.Do), and reports every state it reaches. States only move forward: ASSIGNED → ACCEPTED →
 * PREPARING → READY → STARTING → RUNNING → COMPLETE/FAILED, or SHUTDOWN when told to stop, REJECTED when it
 * cannot even be prepared. A step never goes past the desired state, except that a running task is waited on.
 *
 * Health checks (swarmkit's Docker controller): a task with one stays STARTING until its first healthy result,
 * then goes RUNNING; unhealthy at any point, it is stopped and ends FAILED with Docker's "task: non-zero exit (N):
 * dockerexec: unhealthy container", so the orchestrator replaces it and the mesh and DNS (RUNNING tasks only)
 * never route to it.
 */
import type { Logger } from '../base/log';
import { errorMessage } from '../base/errors';
import { rank } from '../api/task-state';
import type { Task, TaskState, TaskStatus } from '../api/types';
import { UNHEALTHY_ERROR, type Controller } from './executor';
import type { HealthFeed, HealthStatus } from './health-monitor';
import type { TaskGate } from './task-gate';
import { failureReason, type AgentObserver, type ExecutorOperation } from './agent-observer';

export type Report = (taskId: string, status: TaskStatus) => void;

const MESSAGES: Partial<Record<TaskState, string>> = {
  accepted: 'accepted',
  preparing: 'preparing',
  ready: 'prepared',
  starting: 'starting',
  running: 'started',
  complete: 'finished',
  shutdown: 'shutdown',
};

export class TaskRunner {
  private state: TaskState;
  private desired: TaskState;
  private busy = false;
  private waiting = false;
  private removed = false;
  private halted = false;
  private stepping: Promise<void> = Promise.resolve();
  /** For the failure reason: the executor refused to start the task (vs. it started, then exited). */
  private startError = false;
  private unhealthy = false;

  constructor(
    private task: Task,
    private readonly controller: Controller,
    private readonly report: Report,
    private readonly log: Logger,
    /** The node's data plane: told before RUNNING is reported and before the task is stopped. */
    private readonly gate?: TaskGate,
    /** Metrics: executor call latencies (labelled with `executorKind`) and failures by reason class. */
    private readonly observer?: { observer: AgentObserver; executorKind: string },
  ) {
    this.state = task.Status.State;
    this.desired = task.DesiredState;
  }

  get id(): string {
    return this.task.ID;
  }

  /** The state last reported (tasks by state on the node). */
  get current(): TaskState {
    return this.state;
  }

  /** Runs one executor call, timing it for the observer whether it succeeds or throws. */
  private async timed<T>(operation: ExecutorOperation, call: () => Promise<T>): Promise<T> {
    if (!this.observer) return call();
    const started = performance.now();
    let ok = false;
    try {
      const r = await call();
      ok = true;
      return r;
    } finally {
      this.observer.observer.operation(this.observer.executorKind, operation, ok, (performance.now() - started) / 1000);
    }
  }

  /** The manager's latest copy of the task (its desired state may have moved). */
  update(task: Task): void {
    this.task = task;
    if (rank(task.DesiredState) > rank(this.desired)) this.desired = task.DesiredState;
    void this.pump();
  }

  /** Drives the task as far as it can go now. */
  pump(): Promise<void> {
    if (this.busy || this.removed || this.halted) return this.stepping;
    this.busy = true;
    this.stepping = (async () => {
      try {
        while (!this.removed && !this.halted && (await this.step())) {
          /* keep stepping */
        }
      } finally {
        this.busy = false;
      }
    })();
    return this.stepping;
  }

  /**
   * The agent is stopping: take no further step, and resolve once the step under way (a prepare, a start) has
   * finished — so nothing recreates what a `swarm leave` is about to remove. The task itself keeps running.
   */
  halt(): Promise<void> {
    this.halted = true;
    // The step's own failure is the task's business (it was reported, or will be by the next swarmd), not the
    // stopping agent's: a failed step must not fail `swarm leave`.
    return this.stepping.catch(() => undefined);
  }

  /** The task was deleted by the manager: stop it if needed and release everything it holds. */
  async remove(graceMs: number): Promise<void> {
    this.removed = true;
    // A step under way (a prepare making the namespace, a start) finishes first: releasing while it runs would
    // leave behind whatever it creates after the release.
    await this.stepping.catch(() => undefined);
    try {
      if (await this.controller.isRunning()) {
        await this.gate?.evict(this.id);
        await this.timed('stop', () => this.controller.shutdown(graceMs));
      }
    } finally {
      await this.controller.remove();
    }
  }

  private grace(): number {
    return (this.task.Spec.ContainerSpec.StopGracePeriod ?? 10e9) / 1e6;
  }

  /** One transition; false when there is nothing to do until something changes. */
  private async step(): Promise<boolean> {
    const s = this.state;
    if (rank(this.desired) >= rank('shutdown')) {
      if (rank(s) >= rank('complete')) return false;
      if (rank(s) >= rank('starting')) await this.gate?.evict(this.id);
      if (rank(s) >= rank('preparing')) await this.timed('stop', () => this.controller.shutdown(this.grace())).catch((e) => this.log.warn('shutdown failed', { task: this.id, err: e }));
      this.move('shutdown');
      return false;
    }
    if (rank(s) >= rank('complete')) return false;
    if (s === 'running') {
      if (!this.waiting) this.watch(await this.followHealth());
      return false;
    }
    // Below RUNNING: step forward only while short of the desired state.
    if (rank(s) >= rank(this.desired)) return false;
    switch (s) {
      case 'new':
      case 'pending':
      case 'assigned':
        this.move('accepted');
        return true;
      case 'accepted':
        this.move('preparing');
        return true;
      case 'preparing':
        try {
          await this.timed('prepare', () => this.controller.prepare());
        } catch (e) {
          this.move('rejected', errorMessage(e));
          return false;
        }
        this.move('ready');
        return true;
      case 'ready':
        this.move('starting');
        return true;
      case 'starting': {
        if (this.waiting) return false; // started, and waiting for its first healthy check
        try {
          await this.timed('start', () => this.controller.start());
        } catch (e) {
          this.startError = true;
          this.move('failed', errorMessage(e));
          return false;
        }
        const feed = await this.followHealth();
        if (!feed) {
          await this.gate?.admit(this.id);
          this.move('running');
          return true;
        }
        this.watch(feed); // RUNNING comes with the first healthy result
        return false;
      }
      default:
        return false;
    }
  }

  /**
   * The task's health feed, or undefined when it has no check. A feed that cannot be had (a broken check) is
   * logged and ignored: the task runs unchecked rather than fails on our side.
   */
  private async followHealth(): Promise<HealthFeed | undefined> {
    try {
      return await this.controller.health?.();
    } catch (e) {
      this.log.warn('cannot follow the task\'s health check', { task: this.id, err: e });
      return undefined;
    }
  }

  /**
   * A started task is waited on in the background: its exit moves it to COMPLETE or FAILED. With a health feed,
   * the first healthy result moves a STARTING task to RUNNING, and an unhealthy one stops the task, whose exit
   * then reads as FAILED "unhealthy container".
   */
  private watch(feed: HealthFeed | undefined): void {
    if (this.waiting) return;
    this.waiting = true;
    let unhealthy = false;
    let admitting = false;
    const onHealth = (h: HealthStatus): void => {
      if (this.removed || rank(this.state) >= rank('complete') || rank(this.desired) >= rank('shutdown')) return;
      if (h === 'healthy' && this.state === 'starting' && !admitting) {
        // Healthy: into the data plane first, then RUNNING (see TaskGate).
        admitting = true;
        const run = () => {
          if (!unhealthy && this.state === 'starting' && !this.removed && rank(this.desired) < rank('shutdown')) this.move('running');
        };
        if (this.gate) void this.gate.admit(this.id).then(run);
        else run();
      } else if (h === 'unhealthy' && !unhealthy) {
        unhealthy = this.unhealthy = true;
        this.log.info('task is unhealthy: stopping it', { task: this.id });
        // Out of the mesh and DNS before it is stopped, like any task that stops.
        void (this.gate?.evict(this.id) ?? Promise.resolve())
          .then(() => this.timed('stop', () => this.controller.shutdown(this.grace())))
          .catch((e) => this.log.warn('shutdown of an unhealthy task failed', { task: this.id, err: e }));
      }
    };
    const unsubscribe = feed?.onChange(onHealth);
    if (feed && feed.status !== 'starting') onHealth(feed.status);
    this.controller
      .wait()
      .then((exit) => {
        if (this.removed || rank(this.state) >= rank('complete')) return;
        if (rank(this.desired) >= rank('shutdown')) this.move('shutdown');
        else if (unhealthy) {
          const err = exit.exitCode !== 0 ? `task: non-zero exit (${exit.exitCode}): ${UNHEALTHY_ERROR}` : UNHEALTHY_ERROR;
          this.move('failed', err, exit.exitCode);
        } else if (exit.exitCode === 0) this.move('complete', undefined, 0);
        else this.move('failed', exit.message ?? `task: non-zero exit (${exit.exitCode})`, exit.exitCode);
      })
      .catch((e) => {
        if (!this.removed && rank(this.state) < rank('complete')) this.move('failed', errorMessage(e));
      })
      .finally(() => {
        unsubscribe?.();
        feed?.close();
        this.waiting = false;
        void this.pump();
      });
  }

  private move(to: TaskState, err?: string, exitCode?: number): void {
    if (rank(to) <= rank(this.state)) return;
    this.state = to;
    const status: TaskStatus = {
      Timestamp: new Date().toISOString(),
      State: to,
      Message: MESSAGES[to] ?? (err ? 'error' : to),
    };
    if (err) status.Err = err;
    if (exitCode !== undefined) status.ContainerStatus = { ExitCode: exitCode };
    if (to === 'failed' || to === 'rejected') {
      this.observer?.observer.taskFailed(failureReason({ state: to, unhealthy: this.unhealthy, startError: this.startError, exitCode }));
    }
    this.log.debug('task state', { task: this.id, state: to, err });
    this.report(this.id, status);
  }
}
