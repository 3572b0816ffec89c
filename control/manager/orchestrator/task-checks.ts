/**
 * Two questions the orchestrator, the updater and the control API all ask about a task: was it made from an
 * older spec than its service has now (Docker's "dirty" task), and can its node still run it.
 */
import type { Node, Service, Task } from '../../api/types';

/**
 * Whether the task was made from an older task template or endpoint than the service has now. A new spec version
 * whose task template and endpoint are unchanged (a replicas-only or label-only update) leaves tasks alone.
 */
export function isOutdated(task: Task, service: Service): boolean {
  if (task.SpecVersion?.Index === (service.SpecVersion?.Index ?? service.Version.Index)) return false;
  return (
    JSON.stringify(task.Spec) !== JSON.stringify(service.Spec.TaskTemplate) ||
    JSON.stringify(task.Endpoint?.Spec ?? {}) !== JSON.stringify(service.Endpoint.Spec ?? {})
  );
}

/** A node that can no longer run its tasks: gone, down, or drained. */
export function invalidNode(node: Node | undefined): boolean {
  return !node || node.Status.State === 'down' || node.Spec.Availability === 'drain';
}
