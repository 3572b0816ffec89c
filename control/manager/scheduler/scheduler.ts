/**
 * The scheduler component: the thin, store-facing half of scheduling. Each time tasks or nodes change it takes
 * every PENDING task, asks the pure pipeline (filters, then spread) where each goes, and writes the answers in
 * one transaction: ASSIGNED with the node ("scheduler assigned task to node"), or still PENDING with Docker's
 * explanation in Status.Err ("no suitable node (...)"). A pending task is retried whenever a node or task
 * changes, so it is placed as soon as room appears.
 */
import type { Component } from '../../base/component';
import type { Clock } from '../../base/clock';
import type { Logger } from '../../base/log';
import { rank } from '../../api/task-state';
import type { Task } from '../../api/types';
import type { Store } from '../../store/store';
import { StoreReactor } from '../../store/store-reactor';
import { scheduleTasks } from './pipeline';

/** Told, per task assigned, the time from its creation to its assignment (the scheduling latency histogram). */
export interface SchedulingObserver {
  scheduled(seconds: number): void;
}

export class Scheduler implements Component {
  readonly name = 'scheduler';
  private reactor: StoreReactor;

  constructor(private readonly opts: { store: Store; clock: Clock; log: Logger; observer?: SchedulingObserver }) {
    this.reactor = new StoreReactor({ ...opts, on: ['task', 'node', 'service'], job: () => this.tick(), what: 'scheduling' });
  }

  async start(): Promise<void> {
    this.reactor.start();
  }

  async stop(): Promise<void> {
    await this.reactor.stop();
  }

  private async tick(): Promise<void> {
    const input = this.opts.store.view((tx) => {
      const tasks = tx.list('task');
      const pending = tasks.filter((t) => t.Status.State === 'pending' && rank(t.DesiredState) <= rank('running'));
      return { pending, tasks, nodes: tx.list('node'), services: new Map(tx.list('service').map((s) => [s.ID, s])) };
    });
    if (input.pending.length === 0) return;
    input.pending.sort((a, b) => a.CreatedAt.localeCompare(b.CreatedAt) || (a.Slot ?? 0) - (b.Slot ?? 0));
    const decisions = scheduleTasks({ ...input, now: this.opts.clock.now() });
    const now = this.opts.clock.now();
    const ts = new Date(now).toISOString();
    const assignedAfter: number[] = [];
    await this.opts.store.update((tx) => {
      const fresh = (id: string): Task | undefined => {
        const t = tx.get('task', id);
        return t && t.Status.State === 'pending' ? t : undefined;
      };
      for (const a of decisions.assigned) {
        const current = fresh(a.taskId);
        if (!current) continue;
        const preassigned = current.NodeID !== undefined;
        const created = Date.parse(current.CreatedAt);
        if (Number.isFinite(created)) assignedAfter.push((now - created) / 1000);
        tx.update('task', {
          ...current,
          NodeID: a.nodeId,
          Status: {
            Timestamp: ts,
            State: 'assigned',
            Message: preassigned ? 'scheduler confirmed task can run on preassigned node' : 'scheduler assigned task to node',
          },
        });
      }
      for (const u of decisions.unschedulable) {
        const current = fresh(u.taskId);
        if (!current || current.Status.Err === u.err) continue;
        tx.update('task', { ...current, Status: { ...current.Status, Timestamp: ts, Err: u.err } });
      }
    });
    // Observed after the commit, so a transaction that failed counts nothing.
    for (const seconds of assignedAfter) this.opts.observer?.scheduled(seconds);
    if (decisions.unschedulable.length) {
      this.opts.log.debug('tasks left pending', { count: decisions.unschedulable.length, reason: decisions.unschedulable[0].err });
    }
  }
}
