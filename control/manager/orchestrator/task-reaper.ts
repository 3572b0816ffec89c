/**
 * The task reaper keeps history bounded: per slot (or per node for global services) at most the cluster's
 * TaskHistoryRetentionLimit tasks (default 5, the live one included; negative keeps everything), deleting the
 * oldest stopped ones first. Tasks whose desired state is REMOVE (scale-down, service rm) are deleted as soon as
 * they have stopped or if they never reached a node.
 */
import type { Component } from '../../base/component';
import type { Clock } from '../../base/clock';
import type { Logger } from '../../base/log';
import { isTerminal, rank } from '../../api/task-state';
import type { Task } from '../../api/types';
import type { Store } from '../../store/store';
import { StoreReactor } from '../../store/store-reactor';
import { slotKey } from './new-task';

export const DEFAULT_TASK_HISTORY_LIMIT = 5;

export class TaskReaper implements Component {
  readonly name = 'task-reaper';
  private reactor: StoreReactor;

  constructor(private readonly opts: { store: Store; clock: Clock; log: Logger }) {
    this.reactor = new StoreReactor({ ...opts, on: ['task', 'cluster', 'service'], job: () => this.reap(), what: 'reaping' });
  }

  async start(): Promise<void> {
    this.reactor.start();
  }

  async stop(): Promise<void> {
    await this.reactor.stop();
  }

  private async reap(): Promise<void> {
    const doomed = this.opts.store.view((tx) => {
      const cluster = tx.list('cluster')[0];
      const limit = cluster?.Spec.Orchestration.TaskHistoryRetentionLimit ?? DEFAULT_TASK_HISTORY_LIMIT;
      return chooseTasksToDelete(tx.list('task'), (id) => tx.get('service', id) !== undefined, limit);
    });
    if (doomed.length === 0) return;
    await this.opts.store.update((tx) => {
      for (const id of doomed) if (tx.get('task', id)) tx.delete('task', id);
    });
  }
}

/** Pure: which tasks to delete, given all tasks, which services exist, and the history limit. */
export function chooseTasksToDelete(tasks: Task[], serviceExists: (id: string) => boolean, limit: number): string[] {
  const out: string[] = [];
  const history = new Map<string, Task[]>();
  for (const t of tasks) {
    const stopped = isTerminal(t.Status.State) || rank(t.Status.State) < rank('assigned');
    if ((t.DesiredState === 'remove' || !serviceExists(t.ServiceID)) && stopped) {
      out.push(t.ID);
      continue;
    }
    const key = slotKey(t);
    let list = history.get(key);
    if (!list) history.set(key, (list = []));
    list.push(t);
  }
  if (limit < 0) return out;
  for (const list of history.values()) {
    if (list.length <= limit) continue;
    const removable = list
      .filter((t) => isTerminal(t.Status.State) && rank(t.DesiredState) >= rank('shutdown'))
      .sort((a, b) => stamp(a) - stamp(b));
    const excess = Math.min(list.length - Math.max(limit, 1), removable.length);
    for (let i = 0; i < excess; i++) out.push(removable[i].ID);
  }
  return out;
}

const stamp = (t: Task): number => Date.parse(t.AppliedAt ?? t.Status.Timestamp);
