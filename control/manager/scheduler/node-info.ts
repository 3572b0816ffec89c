/**
 * What the scheduler knows about each node during one pass: the node, the tasks it holds (counted, not listed),
 * the resources still free, the host ports taken and recent failures per service version. Built once per
 * `scheduleTasks` call in a single sweep over the store's tasks, then updated in place as tasks are placed, so
 * the filters and the spread ordering read counters instead of rescanning tasks.
 *
 * Two notions of "on a node", as in swarmkit: a task *holds* resources and host ports from assignment until it
 * is terminal (assigned ≤ state < complete); among those, it is *active* — counted for spread and max-replicas —
 * while its desired state is at most complete (one being shut down no longer counts as a replica).
 */
import type { Node, PortConfig, Service, Task } from '../../api/types';
import { TASK_STATES } from '../../api/types';

export const FAILURE_WINDOW_MS = 5 * 60 * 1000;
export const MAX_FAILURES = 5;

export interface NodeInfo {
  readonly node: Node;
  readonly id: string;
  /** Active tasks per service ID. */
  readonly activeByService: Map<string, number>;
  activeTotal: number;
  /** Description.Resources minus the reservations of tasks held; may go negative if overcommitted. */
  freeNanoCPUs: number;
  freeMemoryBytes: number;
  /** Host-mode published ports in use, as `protocol/port`. */
  readonly hostPorts: Set<string>;
  /** Failed or rejected tasks within the window, per `serviceID@specVersion`. */
  readonly recentFailures: Map<string, number>;
}

/** The key tasks are grouped and failures counted by: same service, same spec version. */
export function groupKey(task: Task): string {
  return `${task.ServiceID}@${task.SpecVersion?.Index ?? ''}`;
}

export const portKey = (p: PortConfig): string => `${p.Protocol ?? 'tcp'}/${p.PublishedPort}`;

const NO_PORTS: readonly PortConfig[] = [];

/**
 * The host-mode ports with a fixed published port that a task binds: from its allocated endpoint, else its
 * copied endpoint spec, else (older tasks without an endpoint) the service's current spec. Allocates nothing
 * for the common task without host ports, since the store sweep calls this for every task.
 */
export function hostPortsOf(task: Task, service?: Service): readonly PortConfig[] {
  const ports =
    (task.Endpoint?.Ports?.length ? task.Endpoint.Ports : undefined) ??
    (task.Endpoint?.Spec?.Ports?.length ? task.Endpoint.Spec.Ports : undefined) ??
    service?.Spec.EndpointSpec?.Ports;
  if (!ports) return NO_PORTS;
  let out: PortConfig[] | undefined;
  for (const p of ports) if (p.PublishMode === 'host' && (p.PublishedPort ?? 0) !== 0) (out ??= []).push(p);
  return out ?? NO_PORTS;
}

/** What one task of a group takes from a node: computed once per group, applied per placement. */
export interface Footprint {
  serviceId: string;
  nanoCPUs: number;
  memoryBytes: number;
  hostPorts: readonly string[];
}

export function footprintOf(task: Task, service?: Service): Footprint {
  const r = task.Spec?.Resources?.Reservations;
  return {
    serviceId: task.ServiceID,
    nanoCPUs: r?.NanoCPUs ?? 0,
    memoryBytes: r?.MemoryBytes ?? 0,
    hostPorts: hostPortsOf(task, service).map(portKey),
  };
}

/** Whether a task held by a node counts as a replica there (not being shut down or removed). */
export const isActive = (task: Task): boolean => TASK_STATES[task.DesiredState] <= TASK_STATES.complete;

/** Records one task of footprint `fp` placed on `info`'s node. */
export function place(info: NodeInfo, fp: Footprint, active: boolean): void {
  info.freeNanoCPUs -= fp.nanoCPUs;
  info.freeMemoryBytes -= fp.memoryBytes;
  for (const k of fp.hostPorts) info.hostPorts.add(k);
  if (active) {
    info.activeTotal++;
    info.activeByService.set(fp.serviceId, (info.activeByService.get(fp.serviceId) ?? 0) + 1);
  }
}

export function newNodeInfo(node: Node): NodeInfo {
  return {
    node,
    id: node.ID,
    activeByService: new Map(),
    activeTotal: 0,
    freeNanoCPUs: node.Description?.Resources?.NanoCPUs ?? 0,
    freeMemoryBytes: node.Description?.Resources?.MemoryBytes ?? 0,
    hostPorts: new Set(),
    recentFailures: new Map(),
  };
}

/**
 * Records that `task` now sits on `info`'s node: reservations, host ports and (if active) counts. The store
 * sweep's form of `place`, without allocating a footprint per task.
 */
export function addTask(info: NodeInfo, task: Task, service?: Service): void {
  const r = task.Spec?.Resources?.Reservations;
  if (r) {
    info.freeNanoCPUs -= r.NanoCPUs ?? 0;
    info.freeMemoryBytes -= r.MemoryBytes ?? 0;
  }
  for (const p of hostPortsOf(task, service)) info.hostPorts.add(portKey(p));
  if (isActive(task)) {
    info.activeTotal++;
    info.activeByService.set(task.ServiceID, (info.activeByService.get(task.ServiceID) ?? 0) + 1);
  }
}

/**
 * One sweep over every task in the store. `now` (ms since epoch) enables failure tracking; without it no node
 * is underweighted.
 */
export function buildNodeInfos(
  nodes: readonly Node[],
  tasks: Iterable<Task>,
  services: ReadonlyMap<string, Service>,
  now?: number,
): Map<string, NodeInfo> {
  const infos = new Map<string, NodeInfo>();
  for (const n of nodes) infos.set(n.ID, newNodeInfo(n));
  for (const t of tasks) {
    if (!t.NodeID) continue;
    const info = infos.get(t.NodeID);
    if (!info) continue;
    const state = TASK_STATES[t.Status.State];
    if (state >= TASK_STATES.assigned && state < TASK_STATES.complete) {
      addTask(info, t, services.get(t.ServiceID));
    } else if (now !== undefined && (t.Status.State === 'failed' || t.Status.State === 'rejected')) {
      const at = Date.parse(t.Status.Timestamp);
      // A timestamp slightly ahead of ours (agent clock skew) still counts as recent.
      if (now - at <= FAILURE_WINDOW_MS) {
        const key = groupKey(t);
        info.recentFailures.set(key, (info.recentFailures.get(key) ?? 0) + 1);
      }
    }
  }
  return infos;
}

/** Failures that count against a node for this group: only from MAX_FAILURES on (fewer are noise). */
export function failurePenalty(info: NodeInfo, key: string): number {
  const n = info.recentFailures.get(key) ?? 0;
  return n >= MAX_FAILURES ? n : 0;
}
