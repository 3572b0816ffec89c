/**
 * Builds the endpoint table from the store and hands it to the data plane (mesh, DNS) after each change,
 * coalesced: a burst of task updates costs one rebuild. A backend is a task that is RUNNING and still wanted
 * running — a task told to stop leaves the table before it is stopped. (With several nodes the table will come
 * from gossip; the sinks do not change.)
 */
import type { Component } from '../base/component';
import type { Clock } from '../base/clock';
import type { Logger } from '../base/log';
import type { Network, Service, Task } from '../api/types';
import type { Store } from '../store/store';
import { StoreReactor } from '../store/store-reactor';
import { containerName } from '../agent/templates';
import type { EndpointSink, EndpointTable, ServiceEndpoint } from '../../mesh/endpoint-table';

export class EndpointPublisher implements Component {
  readonly name = 'endpoint-publisher';
  private reactor: StoreReactor;
  private last = '';

  constructor(private readonly opts: { store: Store; clock: Clock; log: Logger; sinks: EndpointSink[] }) {
    this.reactor = new StoreReactor({ ...opts, on: ['task', 'service', 'network'], job: () => this.publish(), what: 'publishing endpoints' });
  }

  async start(): Promise<void> {
    await this.publish();
    this.reactor.start();
  }

  async stop(): Promise<void> {
    await this.reactor.stop();
  }

  private async publish(): Promise<void> {
    const table = this.opts.store.view((tx) => buildEndpointTable(tx.list('service'), tx.list('task'), tx.list('network')));
    const text = JSON.stringify(table);
    if (text === this.last) return;
    this.last = text;
    for (const sink of this.opts.sinks) await sink.apply(table);
  }
}

const plain = (cidr: string): string => cidr.split('/')[0];

/** Pure: the endpoint table for these objects. */
export function buildEndpointTable(services: Service[], tasks: Task[], networks: Network[]): EndpointTable {
  const byService = new Map<string, Task[]>();
  for (const t of tasks) {
    if (t.Status.State !== 'running' || t.DesiredState !== 'running') continue;
    let list = byService.get(t.ServiceID);
    if (!list) byService.set(t.ServiceID, (list = []));
    list.push(t);
  }
  const out: ServiceEndpoint[] = services.map((s) => ({
    serviceId: s.ID,
    serviceName: s.Spec.Name,
    mode: s.Endpoint.Spec.Mode ?? 'vip',
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
    backends: (byService.get(s.ID) ?? [])
      .sort((a, b) => (a.Slot ?? 0) - (b.Slot ?? 0) || a.ID.localeCompare(b.ID))
      .map((t) => ({
        taskId: t.ID,
        name: containerName(t),
        nodeId: t.NodeID ?? '',
        addrs: Object.fromEntries((t.NetworksAttachments ?? []).filter((a) => a.Addresses.length).map((a) => [a.Network.ID, plain(a.Addresses[0])])),
      })),
  }));
  return {
    ingressNetworkId: networks.find((n) => n.Ingress)?.ID,
    networks: Object.fromEntries(networks.map((n) => [n.ID, { name: n.Name, subnet: n.IPAM?.Config?.[0]?.Subnet ?? '' }])),
    services: out.sort((a, b) => a.serviceName.localeCompare(b.serviceName)),
  };
}
