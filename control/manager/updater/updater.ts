/**
 * The updater: the store side of rolling updates. It keeps one RollingUpdate per service and, inside the
 * orchestrator's reconcile transaction, shows it the service's slots and carries out what it decides — tasks
 * created and shut down, UpdateStatus written, the spec swapped back on a rollback.
 *
 * Why inside the orchestrator rather than a component of its own: both write the same slots (the orchestrator
 * replaces tasks that stop, the updater replaces tasks that are out of date), and both hold successors at READY
 * until the old task has stopped. Running in the same transaction means they never race over a slot, and the
 * updater reuses the orchestrator's successor release (`hold`) instead of a second copy of it.
 *
 * Which update runs is read from the store each time (Spec, SpecVersion, UpdateStatus), so after a restart of
 * swarmd an update in progress continues: the new RollingUpdate finds the slots still dirty. A PAUSED or
 * ROLLBACK_PAUSED update stays so until the next `service update`, which clears UpdateStatus (control-api.ts).
 */
import type { Logger } from '../../base/log';
import { rank } from '../../api/task-state';
import type { Service, Task, UpdateStatus } from '../../api/types';
import { edit, type WriteTx } from '../../store/store';
import { newTask, slotKey } from '../orchestrator/new-task';
import { isOutdated } from '../orchestrator/task-checks';
import { isSlotDirty, RollingUpdate, updatePolicy, type SlotView, type UpdateEffects, type UpdateSnapshot } from './rolling-update';

export interface UpdaterOptions {
  log: Logger;
  /** Holds a READY task until its slot's other tasks have stopped, then lets it run (the orchestrator's release). */
  hold: (taskId: string) => void;
  /** Asks for a reconcile of everything at this time. */
  wake: (serviceId: string, at: number) => void;
}

export class Updater {
  private readonly runs = new Map<string, RollingUpdate>();

  constructor(private readonly opts: UpdaterOptions) {}

  /** Moves the service's update along; call after the orchestrator has supervised the service's slots. */
  reconcile(tx: WriteTx, serviceId: string, now: number): void {
    const service = tx.get('service', serviceId);
    if (!service) {
      this.runs.delete(serviceId);
      return;
    }
    const state = service.UpdateStatus?.State;
    if (state === 'paused' || state === 'rollback_paused') {
      this.runs.delete(serviceId);
      return;
    }
    const specVersion = service.SpecVersion?.Index ?? service.Version.Index;
    const rollback = state === 'rollback_started';
    let run = this.runs.get(serviceId);
    if (run && (run.specVersion !== specVersion || run.rollback !== rollback)) run = undefined;
    if (run?.done) return;
    const snap = snapshot(tx, service, now);
    if (!run) {
      const dirty = snap.slots.filter((s) => isSlotDirty(s, snap.isDirty)).length;
      if (dirty === 0) {
        // Nothing to replace: a replicas-only change, or an update that was done when swarmd restarted.
        this.runs.delete(serviceId);
        if (state === 'updating' || state === 'rollback_started') this.finish(tx, serviceId, now);
        return;
      }
      if (!service.UpdateStatus) {
        this.setStatus(tx, serviceId, () => ({ State: 'updating', Message: 'update in progress', StartedAt: iso(now) }));
      }
      const policy = updatePolicy(rollback ? service.Spec.RollbackConfig : service.Spec.UpdateConfig);
      run = new RollingUpdate(specVersion, rollback, policy, dirty, now);
      this.runs.set(serviceId, run);
      this.opts.log.info(rollback ? 'rollback started' : 'update started', { service: service.Spec.Name, slots: dirty });
    }
    const wakeAt = run.step(snap, this.effects(tx, serviceId, now));
    if (wakeAt !== undefined) this.opts.wake(serviceId, wakeAt);
  }

  /** Drops the updates of services that no longer exist. */
  forgetExcept(serviceIds: Set<string>): void {
    for (const id of this.runs.keys()) if (!serviceIds.has(id)) this.runs.delete(id);
  }

  private effects(tx: WriteTx, serviceId: string, now: number): UpdateEffects {
    return {
      create: (slot, desired) => {
        const task = newTask(tx.get('service', serviceId)!, slot.placement, desired, now);
        tx.create('task', task);
        return task.ID;
      },
      shutdown: (ids) => {
        for (const id of ids) {
          const t = tx.get('task', id);
          if (t && rank(t.DesiredState) < rank('shutdown')) tx.update('task', { ...t, DesiredState: 'shutdown' });
        }
      },
      release: (id) => this.opts.hold(id),
      pause: (message) => {
        this.opts.log.warn('update paused', { service: serviceId, reason: message });
        this.setStatus(tx, serviceId, (s) => ({
          ...s,
          State: s?.State === 'rollback_started' ? 'rollback_paused' : 'paused',
          Message: message,
        }));
      },
      rollback: (message) => this.rollBack(tx, serviceId, message),
      complete: () => this.finish(tx, serviceId, now),
    };
  }

  /** Docker's automatic rollback: the previous spec becomes the spec again, with its old version. */
  private rollBack(tx: WriteTx, serviceId: string, message: string): void {
    const s = edit(tx.get('service', serviceId)!);
    if (!s.PreviousSpec) {
      // Only an update can fail, and every update leaves a previous spec; still, never leave it "updating".
      this.setStatus(tx, serviceId, (u) => ({ ...u, State: 'paused', Message: `${message}: cannot roll back, the service has no previous spec` }));
      return;
    }
    this.opts.log.warn('update rolled back', { service: s.Spec.Name, reason: message });
    s.Spec = s.PreviousSpec;
    s.SpecVersion = s.PreviousSpecVersion;
    delete s.PreviousSpec;
    delete s.PreviousSpecVersion;
    s.Endpoint = { ...s.Endpoint, Spec: structuredClone(s.Spec.EndpointSpec ?? { Mode: 'vip' }) };
    s.UpdateStatus = { ...s.UpdateStatus, State: 'rollback_started', Message: message };
    tx.update('service', s);
  }

  private finish(tx: WriteTx, serviceId: string, now: number): void {
    this.setStatus(tx, serviceId, (s) =>
      s?.State === 'rollback_started'
        ? { ...s, State: 'rollback_completed', Message: 'rollback completed', CompletedAt: iso(now) }
        : { ...s, State: 'completed', Message: 'update completed', CompletedAt: iso(now) },
    );
  }

  private setStatus(tx: WriteTx, serviceId: string, next: (current: UpdateStatus | undefined) => UpdateStatus): void {
    const s = edit(tx.get('service', serviceId)!);
    s.UpdateStatus = next(s.UpdateStatus);
    tx.update('service', s);
  }
}

/** The service's slots with their live tasks, in slot (or node) order, as the RollingUpdate sees them. */
function snapshot(tx: WriteTx, service: Service, now: number): UpdateSnapshot {
  const global = !!service.Spec.Mode.Global;
  const bySlot = new Map<string, SlotView>();
  for (const t of tx.tasksByService(service.ID)) {
    if (rank(t.DesiredState) > rank('running')) continue;
    if (global ? !t.NodeID : !t.Slot) continue;
    const key = slotKey(t);
    let slot = bySlot.get(key);
    if (!slot) bySlot.set(key, (slot = { key, placement: global ? { nodeId: t.NodeID } : { slot: t.Slot }, live: [] }));
    slot.live.push(t);
  }
  const order = (s: SlotView): string => (global ? s.placement.nodeId! : String(s.placement.slot).padStart(10, '0'));
  const slots = [...bySlot.values()].sort((a, b) => (order(a) < order(b) ? -1 : order(a) > order(b) ? 1 : 0));
  return {
    slots,
    isDirty: (t: Task) => isOutdated(t, service),
    task: (id) => {
      const t = tx.get('task', id);
      return t && t.ServiceID === service.ID ? t : undefined;
    },
    now,
  };
}

const iso = (ms: number): string => new Date(ms).toISOString();
