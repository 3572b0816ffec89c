/**
 * The endpoint table as a pure function of store objects: which tasks are backends (RUNNING and wanted running,
 * or let in early by the node's gate, never one being stopped), and each service's VIPs, aliases, ports and
 * backends in the form the data plane reads (mesh/endpoint-table.ts). EndpointTableBuilder builds the same
 * incrementally; tests hold the two equal.
 */
import type { Network, Service, Task } from '../api/types';
import { rank } from '../api/task-state';
import { containerName } from '../agent/templates';
import { ACCOUNTING_LABEL, BALANCE_LABEL, type Balance, type EndpointTable, type ServiceEndpoint } from '../../mesh/endpoint-table';

const plain = (cidr: string): string => cidr.split('/')[0];

/** Which tasks the node's gate has let in early or taken out early (see EndpointPublisher). */
export interface GateOverrides {
  admitted: ReadonlySet<string>;
  evicted: ReadonlySet<string>;
}

const NO_OVERRIDES: GateOverrides = { admitted: new Set(), evicted: new Set() };

/** A task that serves traffic now: RUNNING and wanted running, or admitted by the gate; never one being stopped. */
export function isBackend(t: Task, gate: GateOverrides = NO_OVERRIDES): boolean {
  if (t.DesiredState !== 'running' || gate.evicted.has(t.ID)) return false;
  if (t.Status.State === 'running') return true;
  return gate.admitted.has(t.ID) && rank(t.Status.State) < rank('running');
}

/** Pure: the endpoint table for these objects (EndpointTableBuilder gives the same at the cost of what changed). */
export function buildEndpointTable(services: Service[], tasks: Task[], networks: Network[], gate: GateOverrides = NO_OVERRIDES): EndpointTable {
  const byService = backendTasksByService(tasks, gate);
  const out = services.map((s) => serviceEndpoint(s, (byService.get(s.ID) ?? []).map(backendOf)));
  return { ...networkPart(networks), services: out.sort(byServiceName) };
}

/** Each service's backend tasks, in slot order (then ID): the order the table lists them in. */
export function backendTasksByService(tasks: Task[], gate: GateOverrides): Map<string, Task[]> {
  const byService = new Map<string, Task[]>();
  for (const t of tasks) {
    if (!isBackend(t, gate)) continue;
    let list = byService.get(t.ServiceID);
    if (!list) byService.set(t.ServiceID, (list = []));
    list.push(t);
  }
  for (const list of byService.values()) sortBackendTasks(list);
  return byService;
}

/** Slot order, then ID: the order the table lists a service's backends in. Sorts in place; returns the list. */
export function sortBackendTasks(list: Task[]): Task[] {
  if (list.length > 1) list.sort((a, b) => (a.Slot ?? 0) - (b.Slot ?? 0) || collator.compare(a.ID, b.ID));
  return list;
}

/** The same order as String#localeCompare (the default collator), without making one per comparison. */
const collator = new Intl.Collator();
/** By name (unique in a store; the ID breaks ties anyway, so the order never depends on the store's listing order). */
export const byServiceName = (a: ServiceEndpoint, b: ServiceEndpoint): number => collator.compare(a.serviceName, b.serviceName) || collator.compare(a.serviceId, b.serviceId);

export function serviceEndpoint(s: Service, backends: ServiceEndpoint['backends']): ServiceEndpoint {
  return {
    serviceId: s.ID,
    serviceName: s.Spec.Name,
    mode: s.Endpoint.Spec.Mode ?? 'vip',
    // The API validated the label; anything else here (an older store) falls back to the default.
    balance: s.Spec.Labels?.[BALANCE_LABEL] === 'least-connections' ? 'least-connections' : ('round-robin' as Balance),
    ...(s.Spec.Labels?.[ACCOUNTING_LABEL] === 'bytes' ? { accounting: true } : {}),
    vips: Object.fromEntries((s.Endpoint.VirtualIPs ?? []).map((v) => [v.NetworkID, plain(v.Addr)])),
    aliases: Object.fromEntries((s.Spec.TaskTemplate.Networks ?? []).filter((n) => n.Aliases?.length).map((n) => [n.Target, n.Aliases!])),
    ports: (s.Endpoint.Ports ?? [])
      .filter((p) => p.PublishedPort && p.TargetPort)
      .map((p) => ({
        ...(p.Name ? { name: p.Name } : {}),
        protocol: p.Protocol ?? 'tcp',
        targetPort: p.TargetPort!,
        publishedPort: p.PublishedPort!,
        publishMode: p.PublishMode ?? 'ingress',
        ...(p.HostIP ? { hostIP: p.HostIP } : {}),
      })),
    backends,
  };
}

export function backendOf(t: Task): ServiceEndpoint['backends'][number] {
  return {
    taskId: t.ID,
    name: containerName(t),
    nodeId: t.NodeID ?? '',
    addrs: Object.fromEntries((t.NetworksAttachments ?? []).filter((a) => a.Addresses.length).map((a) => [a.Network.ID, plain(a.Addresses[0])])),
  };
}

export function networkPart(networks: Network[]): Omit<EndpointTable, 'services'> {
  return {
    ingressNetworkId: networks.find((n) => n.Ingress)?.ID,
    networks: Object.fromEntries(networks.map((n) => [n.ID, { name: n.Name, subnet: n.IPAM?.Config?.[0]?.Subnet ?? '' }])),
  };
}
