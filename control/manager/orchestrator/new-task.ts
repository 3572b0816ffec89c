/**
 * How an orchestrator makes a task: a copy of the service's task template at its current spec version, in state
 * NEW ("created"), for one slot (replicated) or one node (global). Nothing else creates tasks.
 */
import { newId } from '../../api/ids';
import type { Service, Task, TaskState } from '../../api/types';

export function newTask(
  service: Service,
  where: { slot?: number; nodeId?: string },
  desired: TaskState,
  now: number,
): Task {
  const ts = new Date(now).toISOString();
  return {
    ID: newId(),
    Version: { Index: 0 },
    CreatedAt: ts,
    UpdatedAt: ts,
    Labels: {},
    Spec: structuredClone(service.Spec.TaskTemplate),
    SpecVersion: service.SpecVersion ?? { Index: service.Version.Index },
    ServiceID: service.ID,
    ServiceAnnotations: { Name: service.Spec.Name, Labels: service.Spec.Labels ?? {} },
    Slot: where.slot,
    NodeID: where.nodeId,
    Status: { Timestamp: ts, State: 'new', Message: 'created' },
    DesiredState: desired,
    Endpoint: structuredClone(service.Endpoint),
  };
}

/** The slot a replicated task fills, or its node for a global task: tasks with the same key are one history. */
export function slotKey(task: Task): string {
  return task.Slot !== undefined && task.Slot > 0 ? `${task.ServiceID}/${task.Slot}` : `${task.ServiceID}/${task.NodeID}`;
}
