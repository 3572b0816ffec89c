/**
 * The orchestrator: keeps each service's tasks matching its spec. Replicated services get one task per slot
 * 1..Replicas (scale-up fills the lowest free slots, scale-down removes the highest); global services get one
 * task per eligible node. A task that stopped, or whose node is gone, down or drained, is replaced per the
 * restart policy: the old one is told to shut down and a successor takes its slot, held at desired state READY
 * for the restart delay and until the old task has stopped, then released to RUNNING.
 *
 * Tasks made from an older spec are the rolling updater's (../updater/updater.ts), which runs inside this same
 * reconcile transaction right after the slots are supervised: it replaces them slot by slot per UpdateConfig.
 *
 * It is level-triggered: every store change kicks one reconcile of everything (coalesced), so a missed event or
 * a restart of swarmd never leaves work undone.
 */
import type { Component } from '../../base/component';
import type { Clock, Timer } from '../../base/clock';
import type { Logger } from '../../base/log';
import { before, isTerminal, rank } from '../../api/task-state';
import type { Node, Service, Task, TaskState } from '../../api/types';
import { edit, type Store, type WriteTx } from '../../store/store';
import { StoreReactor } from '../../store/store-reactor';
import { Updater } from '../updater/updater';
import { newTask, slotKey } from './new-task';
import { RestartHistory, restartDelayMs, shouldRestart } from './restart-policy';
import { invalidNode } from './task-checks';

export { isOutdated, invalidNode } from './task-checks';

/** How long a successor waits for its predecessor to stop before it starts anyway (swarmkit's 1 minute). */
const OLD_TASK_TIMEOUT_MS = 60_000;

export interface OrchestratorOptions {
  store: Store;
  clock: Clock;
  log: Logger;
  /** Whether a global service may run on a node (constraints, platforms); the scheduler's matcher. */
  nodeMatches: (service: Service, node: Node) => boolean;
}

export class Orchestrator implements Component {
  readonly name = 'orchestrator';
  private reactor: StoreReactor;
  private history = new RestartHistory();
  /** Successors held at READY: the time each may start. */
  private releaseAt = new Map<string, number>();
  private timers = new Map<string, Timer>();
  private readonly updater: Updater;

  constructor(private readonly opts: OrchestratorOptions) {
    this.reactor = new StoreReactor({ ...opts, on: ['service', 'task', 'node', 'network'], job: () => this.reconcile(), what: 'reconcile' });
    this.updater = new Updater({
      log: opts.log.child({ component: 'updater' }),
      // An update's successor waits only for the old task to stop: no restart delay.
      hold: (taskId) => this.holdUntil(taskId, this.opts.clock.now()),
      wake: (serviceId, at) => this.wakeAt(`update/${serviceId}`, at),
    });
  }

  async start(): Promise<void> {
    this.reactor.start();
  }

  async stop(): Promise<void> {
    for (const t of this.timers.values()) t.cancel();
    this.timers.clear();
    await this.reactor.stop();
  }

  /** Resolves once queued reconciles are done (tests). */
  settled(): Promise<void> {
    return this.reactor.idle();
  }

  private async reconcile(): Promise<void> {
    const now = this.opts.clock.now();
    await this.opts.store.update((tx) => {
      const nodes = new Map(tx.list('node').map((n) => [n.ID, n]));
      const services = tx.list('service');
      for (const service of services) {
        const tasks = tx.tasksByService(service.ID);
        if (service.Spec.Mode.Global) this.reconcileGlobal(tx, service, tasks, nodes, now);
        else this.reconcileReplicated(tx, service, tasks, nodes, now);
        this.updater.reconcile(tx, service.ID, now);
        this.releaseSuccessors(tx, tx.tasksByService(service.ID), nodes, now);
      }
      this.updater.forgetExcept(new Set(services.map((s) => s.ID)));
    });
  }

  private reconcileReplicated(tx: WriteTx, service: Service, tasks: Task[], nodes: Map<string, Node>, now: number): void {
    const slots = new Map<number, Task[]>();
    for (const t of tasks) {
      if (t.DesiredState === 'remove' || !t.Slot) continue;
      let list = slots.get(t.Slot);
      if (!list) slots.set(t.Slot, (list = []));
      list.push(t);
    }
    for (const list of slots.values()) this.superviseSlot(tx, service, list, nodes, now);

    const want = service.Spec.Mode.Replicated?.Replicas ?? 1;
    const occupied = [...slots.keys()].sort((a, b) => a - b);
    if (occupied.length > want) {
      // Scale down: the highest slots go first, with their history.
      for (const slot of occupied.slice(want)) for (const t of slots.get(slot)!) this.setDesired(tx, t, 'remove');
    } else if (occupied.length < want) {
      let slot = 0;
      for (let added = occupied.length; added < want; added++) {
        do slot++;
        while (slots.has(slot));
        tx.create('task', newTask(service, { slot }, 'running', now));
      }
    }
  }

  private reconcileGlobal(tx: WriteTx, service: Service, tasks: Task[], nodes: Map<string, Node>, now: number): void {
    const byNode = new Map<string, Task[]>();
    for (const t of tasks) {
      if (t.DesiredState === 'remove' || !t.NodeID) continue;
      let list = byNode.get(t.NodeID);
      if (!list) byNode.set(t.NodeID, (list = []));
      list.push(t);
    }
    for (const [nodeId, list] of byNode) {
      const node = nodes.get(nodeId);
      if (!node || !this.globalEligible(service, node)) {
        // No longer a place for this service: stop its task there, without a successor.
        for (const t of list) if (rank(t.DesiredState) <= rank('running')) this.setDesired(tx, t, 'shutdown');
        continue;
      }
      this.superviseSlot(tx, service, list, nodes, now);
    }
    for (const node of nodes.values()) {
      if (byNode.has(node.ID) || !this.globalEligible(service, node) || node.Spec.Availability === 'pause') continue;
      tx.create('task', newTask(service, { nodeId: node.ID }, 'running', now));
    }
  }

  private globalEligible(service: Service, node: Node): boolean {
    return node.Status.State !== 'down' && node.Spec.Availability !== 'drain' && this.opts.nodeMatches(service, node);
  }

  /**
   * Replaces the slot's live task if it stopped or lost its node, per the restart policy. A task of an older spec
   * is left to the updater, unless it stops: then its successor simply gets the current spec, as in swarmkit.
   */
  private superviseSlot(tx: WriteTx, service: Service, slotTasks: Task[], nodes: Map<string, Node>, now: number): void {
    for (const t of slotTasks) {
      if (rank(t.DesiredState) >= rank('shutdown') && rank(t.Status.State) < rank('assigned')) {
        // Never scheduled and no longer wanted: it stops here, as swarmkit's scheduler ends such tasks.
        this.endUnscheduled(tx, t, now);
        continue;
      }
      if (rank(t.DesiredState) > rank('running')) continue;
      const nodeInvalid = t.NodeID !== undefined && rank(t.Status.State) >= rank('assigned') && invalidNode(nodes.get(t.NodeID));
      const ended = rank(t.Status.State) > rank('running');
      if (!ended && !nodeInvalid) continue;
      // A task that ended while still held in its restart delay (rejected while preparing, say) is replaced only
      // once that delay is over: without this a missing image would be retried in a tight loop.
      const heldUntil = this.releaseAt.get(t.ID);
      if (heldUntil !== undefined && now < heldUntil && !nodeInvalid) continue;
      this.releaseAt.delete(t.ID);
      this.setDesired(tx, t, 'shutdown');
      const key = slotKey(t);
      const specVersion = service.SpecVersion?.Index ?? service.Version.Index;
      const policy = service.Spec.TaskTemplate.RestartPolicy;
      const windowMs = (policy?.Window ?? 0) / 1e6;
      const restarts = this.history.count(key, specVersion, now, windowMs);
      if (!shouldRestart(t, policy, restarts, nodeInvalid)) {
        this.opts.log.info('task not restarted: restart policy', { task: t.ID, service: service.Spec.Name });
        continue;
      }
      if (!nodeInvalid) this.history.record(key, specVersion, now);
      const delay = restartDelayMs(policy, nodeInvalid);
      const successor = newTask(
        service,
        service.Spec.Mode.Global ? { nodeId: t.NodeID } : { slot: t.Slot },
        delay > 0 ? 'ready' : 'running',
        now,
      );
      tx.create('task', successor);
      if (delay > 0) this.holdUntil(successor.ID, now + delay);
    }
  }

  /** Successors at desired READY go to RUNNING once their delay passed and the old task has stopped. */
  private releaseSuccessors(tx: WriteTx, tasks: Task[], nodes: Map<string, Node>, now: number): void {
    for (const t of tasks) {
      if (t.DesiredState !== 'ready' || isTerminal(t.Status.State)) continue;
      let at = this.releaseAt.get(t.ID);
      if (at === undefined) {
        // Held before a restart of swarmd: the delay starts again, as swarmkit's in-memory timers do.
        at = now + restartDelayMs(t.Spec.RestartPolicy, false);
        this.holdUntil(t.ID, at);
      }
      if (now < at) continue;
      const predecessorsLive = tasks.some(
        (o) =>
          o.ID !== t.ID &&
          slotKey(o) === slotKey(t) &&
          !isTerminal(o.Status.State) &&
          rank(o.Status.State) >= rank('assigned') &&
          !invalidNode(o.NodeID ? nodes.get(o.NodeID) : undefined) &&
          rank(o.DesiredState) >= rank('shutdown'),
      );
      if (predecessorsLive && now < at + OLD_TASK_TIMEOUT_MS) {
        this.holdUntil(t.ID, at, now + 1000); // look again shortly; the old task's stop also kicks us
        continue;
      }
      this.releaseAt.delete(t.ID);
      this.setDesired(tx, t, 'running');
    }
  }

  private holdUntil(taskId: string, at: number, wakeAt = at): void {
    this.releaseAt.set(taskId, at);
    this.wakeAt(taskId, wakeAt);
  }

  /** One timer per key (a held task, a service's update): a later request replaces the earlier one. */
  private wakeAt(key: string, at: number): void {
    this.timers.get(key)?.cancel();
    this.timers.set(
      key,
      this.opts.clock.setTimeout(() => {
        this.timers.delete(key);
        this.reactor.kick();
      }, Math.max(0, at - this.opts.clock.now())),
    );
  }

  private endUnscheduled(tx: WriteTx, task: Task, now: number): void {
    const t = edit(tx.get('task', task.ID)!);
    if (rank(t.Status.State) >= rank('assigned')) return;
    t.Status = { Timestamp: new Date(now).toISOString(), State: 'shutdown', Message: 'shutdown' };
    tx.update('task', t);
  }

  private setDesired(tx: WriteTx, task: Task, desired: TaskState): void {
    const current = tx.get('task', task.ID)!;
    if (!before(current.DesiredState, desired)) return; // desired state only moves forward
    tx.update('task', { ...current, DesiredState: desired });
  }
}
