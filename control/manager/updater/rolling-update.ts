/**
 * One rolling update of one service, as a clock-driven state machine with no store in it: Docker's algorithm
 * (swarmkit's update.Updater) recast as a step function. The orchestrator calls step() on every reconcile with
 * a snapshot of the service's slots and the time; the update answers through an UpdateEffects (create a task,
 * shut tasks down, pause, roll back, complete) and returns when it next wants to be woken.
 *
 * The algorithm: the slots dirty at the start are handed to Parallelism workers (0 = one per slot) in slot
 * order. A worker replaces its slot's task — stop-first: the old task is told to stop and the new one starts
 * once it has; start-first: the new one starts at once and the old one stops when the new one runs — waits
 * until the new task has reached RUNNING (or ended), then rests for Delay before taking the next slot. Tasks
 * this update created that end before RUNNING, or within Monitor after it, are failures; once failures / dirty
 * slots exceeds MaxFailureRatio the FailureAction applies (pause; rollback — or, during a rollback, pause;
 * continue never looks). When every slot is done and every worker has rested, the update keeps watching for
 * one more Monitor period and then completes.
 *
 * Everything here is memory: worker positions and the failure count are lost with the process, as swarmkit's
 * are. What must survive a restart is the UpdateStatus in the store; a new RollingUpdate built from it after a
 * restart finds the slots still dirty and carries on.
 */
import { rank } from '../../api/task-state';
import type { Task, UpdateConfig } from '../../api/types';

/** One slot (replicated) or node (global) of a service: its live tasks (desired state RUNNING or READY). */
export interface SlotView {
  key: string;
  placement: { slot?: number; nodeId?: string };
  live: Task[];
}

export interface UpdateSnapshot {
  /** The service's slots that have at least one live task, in slot order. */
  slots: SlotView[];
  /** Whether the task was made from an older spec than the service has now. */
  isDirty: (t: Task) => boolean;
  /** Any task of the service by ID, whatever its state (undefined once deleted). */
  task: (id: string) => Task | undefined;
  now: number;
}

/** What an update asks of the store; the updater glue implements it inside the reconcile transaction. */
export interface UpdateEffects {
  /** Creates a task with the service's current spec in this slot, at this desired state; returns its ID. */
  create(slot: SlotView, desired: 'ready' | 'running'): string;
  /** Tells these tasks to shut down (they stay as the slot's history). */
  shutdown(taskIds: string[]): void;
  /** Lets a task held at READY start once the slot's other tasks have stopped. */
  release(taskId: string): void;
  /** Stops the update: PAUSED (or ROLLBACK_PAUSED during a rollback) with this message. */
  pause(message: string): void;
  /** Stops the update and rolls the service back to its previous spec: ROLLBACK_STARTED with this message. */
  rollback(message: string): void;
  /** COMPLETED, or ROLLBACK_COMPLETED for a rollback. */
  complete(): void;
}

export interface UpdatePolicy {
  parallelism: number;
  delayMs: number;
  monitorMs: number;
  failureAction: 'pause' | 'continue' | 'rollback';
  maxFailureRatio: number;
  order: 'stop-first' | 'start-first';
}

const DEFAULT_MONITOR_MS = 5000;

/** A stored UpdateConfig (or none) as the numbers the update runs by; Docker's defaults where it has none. */
export function updatePolicy(config: UpdateConfig | undefined): UpdatePolicy {
  return {
    parallelism: config ? config.Parallelism ?? 0 : 1,
    delayMs: (config?.Delay ?? 0) / 1e6,
    monitorMs: config?.Monitor ? config.Monitor / 1e6 : DEFAULT_MONITOR_MS,
    failureAction: config?.FailureAction ?? 'pause',
    maxFailureRatio: config?.MaxFailureRatio ?? 0,
    order: config?.Order ?? 'stop-first',
  };
}

interface Worker {
  /** The slot this worker is replacing, and the task it created there. */
  slot?: string;
  taskId?: string;
  /** When the worker may take its next slot (after Delay). */
  freeAt: number;
}

export class RollingUpdate {
  private readonly workers: Worker[];
  /** Tasks this update created → when they were first seen RUNNING (undefined until then). */
  private readonly created = new Map<string, number | undefined>();
  private readonly counted = new Set<string>();
  private failures = 0;
  private finished = false;

  /**
   * @param specVersion the service spec version being rolled out; a newer one means a new update
   * @param rollback whether this update is a rollback (ROLLBACK_STARTED, RollbackConfig)
   * @param dirtySlots how many slots were dirty at the start: the denominator of the failure ratio
   */
  constructor(
    readonly specVersion: number,
    readonly rollback: boolean,
    readonly policy: UpdatePolicy,
    private readonly dirtySlots: number,
    now: number,
  ) {
    const n = policy.parallelism > 0 ? policy.parallelism : Math.max(1, dirtySlots);
    this.workers = Array.from({ length: n }, () => ({ freeAt: now }));
  }

  /** Whether the update has paused, rolled back or completed: it does nothing more. */
  get done(): boolean {
    return this.finished;
  }

  /** Advances the update to `snap.now`; returns when it wants the next step (undefined: on store changes only). */
  step(snap: UpdateSnapshot, fx: UpdateEffects): number | undefined {
    if (this.finished) return undefined;
    if (this.watchFailures(snap, fx)) return undefined;
    this.finishSlots(snap, fx);

    const busy = new Set(this.workers.flatMap((w) => (w.slot ? [w.slot] : [])));
    const pending = snap.slots.filter((s) => !busy.has(s.key) && isSlotDirty(s, snap.isDirty));
    for (const w of this.workers) {
      if (pending.length === 0) break;
      if (w.slot || w.freeAt > snap.now) continue;
      this.take(w, pending.shift()!, snap, fx);
    }

    const wakes: number[] = [];
    const idle = this.workers.every((w) => !w.slot);
    if (pending.length > 0) {
      for (const w of this.workers) if (!w.slot && w.freeAt > snap.now) wakes.push(w.freeAt);
    } else if (idle) {
      // Every slot is done: watch one more Monitor period after the last worker's rest, then complete.
      const doneAt = Math.max(...this.workers.map((w) => w.freeAt)) + this.policy.monitorMs;
      if (snap.now >= doneAt) {
        this.finished = true;
        fx.complete();
        return undefined;
      }
      wakes.push(doneAt);
    }
    return wakes.length ? Math.min(...wakes) : undefined;
  }

  /** Counts tasks this update created that ended early; applies the failure action once the ratio is crossed. */
  private watchFailures(snap: UpdateSnapshot, fx: UpdateEffects): boolean {
    for (const [id, runningSince] of this.created) {
      const t = snap.task(id);
      if (!t) continue;
      if (rank(t.Status.State) >= rank('running') && runningSince === undefined) this.created.set(id, snap.now);
      if (this.policy.failureAction === 'continue' || this.counted.has(id) || !endedEarly(t)) continue;
      if (runningSince !== undefined && snap.now - runningSince > this.policy.monitorMs) continue;
      this.counted.add(id);
      this.failures++;
      if (this.failures / this.dirtySlots <= this.policy.maxFailureRatio) continue;
      this.finished = true;
      if (this.policy.failureAction === 'rollback' && !this.rollback) {
        fx.rollback(`update rolled back due to failure or early termination of task ${id}`);
      } else if (this.policy.failureAction === 'rollback') {
        fx.pause(`rollback paused due to failure or early termination of task ${id}`); // never roll back a rollback
      } else {
        fx.pause(`update paused due to failure or early termination of task ${id}`);
      }
      return true;
    }
    return false;
  }

  /** A worker's slot is done once its new task has reached RUNNING or ended; start-first then stops the old. */
  private finishSlots(snap: UpdateSnapshot, fx: UpdateEffects): void {
    for (const w of this.workers) {
      if (!w.slot) continue;
      const t = snap.task(w.taskId!);
      const removed = !t || rank(t.DesiredState) > rank('running');
      if (!removed && rank(t.Status.State) < rank('running')) continue;
      if (t && !removed && t.Status.State === 'running' && this.policy.order === 'start-first') {
        const slot = snap.slots.find((s) => s.key === w.slot);
        fx.shutdown((slot?.live ?? []).filter((o) => o.ID !== t.ID).map((o) => o.ID));
      }
      w.slot = undefined;
      w.taskId = undefined;
      w.freeAt = snap.now + this.policy.delayMs;
    }
  }

  private take(w: Worker, slot: SlotView, snap: UpdateSnapshot, fx: UpdateEffects): void {
    // A slot may already hold a task of the new spec (a restart made it, or an earlier pass of this update):
    // keep that one and stop the rest, as swarmkit's useExistingTask does, without waiting on it.
    const clean = slot.live.find((t) => !snap.isDirty(t) && t.DesiredState === 'running') ?? slot.live.find((t) => !snap.isDirty(t));
    if (clean) {
      fx.shutdown(slot.live.filter((t) => t.ID !== clean.ID).map((t) => t.ID));
      if (clean.DesiredState !== 'running') fx.release(clean.ID);
      w.freeAt = snap.now + this.policy.delayMs;
      return;
    }
    let id: string;
    if (this.policy.order === 'start-first') {
      id = fx.create(slot, 'running'); // the old task stops once this one runs (finishSlots)
    } else {
      fx.shutdown(slot.live.map((t) => t.ID));
      id = fx.create(slot, 'ready');
      fx.release(id);
    }
    this.created.set(id, undefined);
    w.slot = slot.key;
    w.taskId = id;
  }
}

/** A slot needs the update if it holds a task of an older spec, or more than one live task. */
export function isSlotDirty(slot: SlotView, isDirty: (t: Task) => boolean): boolean {
  return slot.live.length > 1 || slot.live.some(isDirty);
}

/** Ended on its own (failed, rejected, or exited), rather than being told to stop. */
function endedEarly(t: Task): boolean {
  return t.Status.State === 'failed' || t.Status.State === 'rejected' || t.Status.State === 'complete';
}
