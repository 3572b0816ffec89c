/**
 * The allocator: the manager's owner of addresses. It gives networks their subnets (Docker's default pool
 * 10.0.0.0/8 in /24s) and VXLAN IDs, services their virtual IPs and published ports (30000–32767 when none is
 * given), and tasks their addresses on every network they attach to — moving each task from NEW to PENDING
 * ("pending task scheduling"). Addresses go back to the pools when tasks stop or objects are deleted.
 *
 * The pools live in memory and are rebuilt from the store at start, so the store stays the only truth.
 */
import type { Component } from '../../base/component';
import type { Clock } from '../../base/clock';
import { CoalescingRunner } from '../../base/coalescing-runner';
import { conflict } from '../../base/errors';
import type { Logger } from '../../base/log';
import { newId } from '../../api/ids';
import { isTerminal } from '../../api/task-state';
import type { Endpoint, Network, NetworkAttachment, PortConfig, Service, ServiceSpec, Task } from '../../api/types';
import type { NetworkCreateRequest } from '../../api/normalize-service';
import { edit, type ReadTx, type Store, type WriteTx } from '../../store/store';
import type { AllocationRules } from '../api/control-api';
import { NetworkIpam } from './ipam';
import { PortAllocator } from './port-allocator';
import { SubnetPool } from './subnet-pool';

export const INGRESS_SUBNET = '10.0.0.0/24';
const FIRST_VNI = 4096;

export class Allocator implements Component, AllocationRules {
  readonly name = 'allocator';
  private subnets = new SubnetPool();
  private ipams = new Map<string, NetworkIpam>(); // by network ID
  private ports = new PortAllocator();
  private vnis = new Set<number>();
  /** Addresses each live task holds: [networkId, address][]. */
  private taskAddrs = new Map<string, [string, string][]>();
  private runner: CoalescingRunner;
  private unwatch?: () => void;

  constructor(private readonly opts: { store: Store; clock: Clock; log: Logger }) {
    this.runner = new CoalescingRunner(() => this.reconcile(), {
      clock: opts.clock,
      onError: (e) => opts.log.error('allocation failed', { err: e }),
    });
  }

  async start(): Promise<void> {
    this.opts.store.view((tx) => this.rebuild(tx));
    this.unwatch = this.opts.store.watch((events) => {
      let kick = false;
      for (const e of events) {
        if (e.kind === 'task' && (e.action === 'delete' || isTerminal((e.object as Task).Status.State))) this.releaseTask(e.object.ID);
        if (e.kind === 'service' && e.action === 'delete') this.releaseService(e.object as Service);
        if (e.kind === 'task' || e.kind === 'service' || e.kind === 'network') kick = true;
      }
      if (kick) this.runner.kick();
    });
    this.runner.kick();
  }

  async stop(): Promise<void> {
    this.unwatch?.();
    await this.runner.stop();
  }

  // ---- synchronous rules used by the control API ------------------------------------------------------------

  /** The ingress network `swarm init` creates: 10.0.0.0/24, as Docker's. */
  ingressNetwork(tx: ReadTx): Network {
    this.rebuild(tx);
    return this.makeNetwork(
      {
        Name: 'ingress',
        Driver: 'overlay',
        Scope: 'swarm',
        EnableIPv6: false,
        IPAM: { Driver: 'default', Options: null, Config: [{ Subnet: INGRESS_SUBNET }] },
        Internal: false,
        Attachable: false,
        Ingress: true,
        Options: {},
        Labels: {},
      },
      true,
    );
  }

  allocateNetwork(_tx: WriteTx, request: NetworkCreateRequest): Network {
    return this.makeNetwork(request, false);
  }

  releaseNetwork(network: Network): void {
    for (const c of network.IPAM.Config) this.subnets.release(c.Subnet);
    this.ipams.delete(network.ID);
    if (network.VNI) this.vnis.delete(network.VNI);
  }

  checkPublishedPorts(tx: ReadTx, serviceId: string, spec: ServiceSpec): void {
    const wanted = (spec.EndpointSpec?.Ports ?? []).filter((p) => p.PublishedPort && (p.PublishMode ?? 'ingress') === 'ingress');
    if (wanted.length === 0) return;
    for (const other of tx.list('service')) {
      if (other.ID === serviceId) continue;
      for (const p of other.Endpoint.Ports ?? other.Spec.EndpointSpec?.Ports ?? []) {
        const clash = wanted.find((w) => w.PublishedPort === p.PublishedPort && (w.Protocol ?? 'tcp') === (p.Protocol ?? 'tcp'));
        if (!clash) continue;
        const mode = (p.PublishMode ?? 'ingress') === 'ingress' ? 'an ingress port' : 'a host-published port';
        throw conflict(`port '${clash.PublishedPort}' is already in use by service '${other.Spec.Name}' (${other.ID}) as ${mode}`);
      }
    }
  }

  // ---- the watch loop ---------------------------------------------------------------------------------------

  private async reconcile(): Promise<void> {
    const now = new Date(this.opts.clock.now()).toISOString();
    await this.opts.store.update((tx) => {
      const networks = new Map(tx.list('network').map((n) => [n.ID, n]));
      const ingress = [...networks.values()].find((n) => n.Ingress);
      for (const service of tx.list('service')) {
        const endpoint = this.endpointFor(service, networks, ingress);
        if (JSON.stringify(endpoint) !== JSON.stringify(service.Endpoint)) {
          const s = edit(service);
          s.Endpoint = endpoint;
          tx.update('service', s);
        }
      }
      for (const task of tx.list('task')) {
        if (task.Status.State !== 'new' || task.DesiredState === 'remove') continue;
        const service = tx.get('service', task.ServiceID);
        if (!service) continue;
        // Stored objects are immutable, so the task may share the service's endpoint object.
        tx.update('task', {
          ...task,
          Endpoint: service.Endpoint,
          NetworksAttachments: this.attachTask(task.ID, service, networks, ingress),
          Status: { Timestamp: now, State: 'pending', Message: 'pending task scheduling' },
        });
      }
    });
  }

  /** The service's endpoint as served: its spec, its ports with published ports filled in, and its VIPs. */
  private endpointFor(service: Service, networks: Map<string, Network>, ingress: Network | undefined): Endpoint {
    const spec = service.Spec.EndpointSpec ?? { Mode: 'vip' };
    const previous = new Map((service.Endpoint.Ports ?? []).map((p) => [portIdentity(p), p.PublishedPort]));
    const ports: PortConfig[] = (spec.Ports ?? []).map((p) => {
      const port: PortConfig = { ...p, Protocol: p.Protocol ?? 'tcp', PublishMode: p.PublishMode ?? 'ingress' };
      if (port.PublishMode === 'ingress') {
        const owner = { id: service.ID, name: service.Spec.Name };
        if (!port.PublishedPort) port.PublishedPort = previous.get(portIdentity(port)) || this.ports.allocate(port.Protocol!, owner);
        else this.ports.reserve(port.Protocol!, port.PublishedPort, owner);
      }
      return port;
    });
    const endpoint: Endpoint = { Spec: spec };
    if (ports.length) endpoint.Ports = ports;
    if ((spec.Mode ?? 'vip') === 'vip') {
      const targets = serviceNetworkIds(service, ingress).filter((id) => networks.has(id));
      const old = new Map((service.Endpoint.VirtualIPs ?? []).map((v) => [v.NetworkID, v.Addr]));
      const vips = targets.map((id) => ({ NetworkID: id, Addr: old.get(id) ?? this.ipam(networks.get(id)!).allocate() }));
      for (const [id, addr] of old) if (!targets.includes(id)) this.ipams.get(id)?.release(addr);
      if (vips.length) endpoint.VirtualIPs = vips;
    }
    return endpoint;
  }

  private attachTask(taskId: string, service: Service, networks: Map<string, Network>, ingress: Network | undefined): NetworkAttachment[] {
    const held: [string, string][] = this.taskAddrs.get(taskId) ?? [];
    const attachments: NetworkAttachment[] = [];
    for (const id of serviceNetworkIds(service, ingress)) {
      const net = networks.get(id);
      if (!net) continue;
      let addr = held.find(([n]) => n === id)?.[1];
      if (!addr) {
        addr = this.ipam(net).allocate();
        held.push([id, addr]);
      }
      attachments.push({ Network: net, Addresses: [addr] });
    }
    this.taskAddrs.set(taskId, held);
    return attachments;
  }

  private releaseService(service: Service): void {
    this.ports.releaseOwner(service.ID);
    for (const v of service.Endpoint.VirtualIPs ?? []) this.ipams.get(v.NetworkID)?.release(v.Addr);
  }

  private releaseTask(taskId: string): void {
    for (const [net, addr] of this.taskAddrs.get(taskId) ?? []) this.ipams.get(net)?.release(addr);
    this.taskAddrs.delete(taskId);
  }

  private ipam(net: Network): NetworkIpam {
    let ipam = this.ipams.get(net.ID);
    if (!ipam) {
      const c = net.IPAM.Config[0];
      this.ipams.set(net.ID, (ipam = new NetworkIpam({ subnet: c.Subnet, gateway: c.Gateway, name: net.Name })));
    }
    return ipam;
  }

  private makeNetwork(request: NetworkCreateRequest, ingress: boolean): Network {
    const wanted = request.IPAM.Config[0]?.Subnet;
    const subnet = wanted ? (this.subnets.reserve(wanted), wanted) : this.subnets.allocate();
    let vni = FIRST_VNI;
    while (this.vnis.has(vni)) vni++;
    this.vnis.add(vni);
    const id = newId();
    const ipam = new NetworkIpam({ subnet, name: request.Name });
    this.ipams.set(id, ipam);
    return {
      ID: id,
      Name: request.Name,
      Created: '',
      Scope: 'swarm',
      Driver: 'overlay',
      EnableIPv6: false,
      IPAM: { Driver: 'default', Options: null, Config: [{ Subnet: subnet, Gateway: ipam.gateway }] },
      Internal: request.Internal,
      Attachable: request.Attachable,
      Ingress: ingress,
      ConfigFrom: { Network: '' },
      ConfigOnly: false,
      Containers: null,
      Options: { ...request.Options, 'com.docker.network.driver.overlay.vxlanid_list': String(vni) },
      Labels: request.Labels,
      VNI: vni,
    };
  }

  /** Marks everything the store already holds as taken (start, or before a synchronous allocation). */
  private rebuild(tx: ReadTx): void {
    this.subnets = new SubnetPool();
    this.ipams.clear();
    this.ports = new PortAllocator();
    this.vnis.clear();
    this.taskAddrs.clear();
    for (const net of tx.list('network')) {
      for (const c of net.IPAM.Config) this.subnets.reserve(c.Subnet);
      if (net.VNI) this.vnis.add(net.VNI);
      this.ipam(net);
    }
    for (const s of tx.list('service')) {
      for (const p of s.Endpoint.Ports ?? []) if (p.PublishMode === 'ingress' && p.PublishedPort) this.ports.reserve(p.Protocol ?? 'tcp', p.PublishedPort, { id: s.ID, name: s.Spec.Name });
      for (const v of s.Endpoint.VirtualIPs ?? []) this.ipams.get(v.NetworkID)?.reserve(v.Addr);
    }
    for (const t of tx.list('task')) {
      if (isTerminal(t.Status.State)) continue;
      const held: [string, string][] = [];
      for (const a of t.NetworksAttachments ?? []) for (const addr of a.Addresses) {
        this.ipams.get(a.Network.ID)?.reserve(addr);
        held.push([a.Network.ID, addr]);
      }
      if (held.length) this.taskAddrs.set(t.ID, held);
    }
  }
}

/**
 * The networks a service's tasks join: its own, plus ingress when it publishes any port — through the mesh, or
 * mode=host, where the node reaches its own task by that address (Docker uses a per-node docker_gwbridge).
 */
function serviceNetworkIds(service: Service, ingress: Network | undefined): string[] {
  const ids = (service.Spec.TaskTemplate.Networks ?? []).map((n) => n.Target);
  const publishes = (service.Spec.EndpointSpec?.Ports ?? []).length > 0;
  if (publishes && ingress && !ids.includes(ingress.ID)) ids.unshift(ingress.ID);
  return ids;
}

const portIdentity = (p: PortConfig): string => `${p.Protocol ?? 'tcp'}/${p.TargetPort}/${p.PublishMode ?? 'ingress'}/${p.Name ?? ''}`;
