/**
 * Two questions the orchestrator, the updater and the control API all ask about a task: was it made from an
 * older spec than its service has now (Docker's "dirty" task), and can its node still run it.
 */
import type { EndpointSpec, Node, Service, Task } from '../../api/types';

/**
 * Whether the task was made from an older task template than the service has now (Docker's "dirty" task). Unlike
 * Docker, an endpoint change alone (ports added or removed, vip ↔ dnsrr) does not replace tasks: the mesh serves
 * ports from the service's endpoint, not from the task. The exception is a change that moves the task on or off
 * the ingress network (its first published port, or its last), since that changes its interfaces.
 */
export function isOutdated(task: Task, service: Service): boolean {
  if (task.SpecVersion?.Index === (service.SpecVersion?.Index ?? service.Version.Index)) return false;
  return JSON.stringify(task.Spec) !== JSON.stringify(service.Spec.TaskTemplate) || publishes(task.Endpoint?.Spec) !== publishes(service.Endpoint.Spec);
}

const publishes = (spec: EndpointSpec | undefined): boolean => (spec?.Ports ?? []).length > 0;

/** A node that can no longer run its tasks: gone, down, or drained. */
export function invalidNode(node: Node | undefined): boolean {
  return !node || node.Status.State === 'down' || node.Spec.Availability === 'drain';
}
