/**
 * `service logs --follow` keeps up with the service, as swarmkit's log broker does for a following
 * subscription: a task of the service that comes to run on this node after the stream began is streamed too.
 * Its lines are read from the first one (a task that just started has nothing old to skip), once it is RUNNING —
 * by then the executor has its output (the process task's log file, the container) — or, for a task already
 * past RUNNING when first seen, as soon as it is seen.
 */
import { rank } from './api/task-state';
import type { Task } from './api/types';
import type { Store } from './store/store';

/**
 * Calls start(task) once for each task of serviceId on nodeId that reaches RUNNING (or later) after now and is
 * not in `known` (which it extends). Returns a function that stops watching.
 */
export function followNewTasks(store: Store, serviceId: string, nodeId: string, known: Set<string>, start: (t: Task) => void): () => void {
  return store.watch((events) => {
    for (const e of events) {
      if (e.kind !== 'task' || e.action === 'delete') continue;
      const t = e.object as Task;
      if (t.ServiceID !== serviceId || t.NodeID !== nodeId || known.has(t.ID)) continue;
      if (rank(t.Status.State) < rank('running')) continue;
      known.add(t.ID);
      start(t);
    }
  });
}
