/**
 * Builds the endpoint table from the store and hands it to the data plane (mesh, DNS) after each change,
 * coalesced: a burst of task updates costs one rebuild. A backend is a task that is RUNNING and still wanted
 * running. (With several nodes the table will come from gossip; the sinks do not change.)
 *
 * It is also this node's data-plane gate (TaskGate), which closes two races Docker has:
 *   - admit: the agent asks before it reports a task RUNNING; the task joins the table (DNS answers for it, the
 *     mesh sends it traffic) and the call returns once every sink holds it. So RUNNING means reachable by name
 *     and through the mesh (moby#34596: Docker reports running before its resolver knows the task).
 *   - evict: the agent asks before it stops a task; the task leaves the table and the call returns once every
 *     sink has dropped it. So no new connection or DNS answer goes to a task that is being stopped, and the
 *     connections it has get the stop grace period.
 * Both waits are bounded: a sink that is stuck must delay a task, never wedge it.
 */
import type { Component } from '../base/component';
import type { Clock } from '../base/clock';
import type { Logger } from '../base/log';
import type { Network, Service, Task } from '../api/types';
import { rank } from '../api/task-state';
import type { Store } from '../store/store';
import { StoreReactor } from '../store/store-reactor';
import { containerName } from '../agent/templates';
import { ACCOUNTING_LABEL, BALANCE_LABEL, type Balance, type EndpointSink, type EndpointTable, type ServiceEndpoint } from '../../mesh/endpoint-table';
import type { TaskGate } from '../agent/task-gate';

const GATE_TIMEOUT_MS = 5000;

export class EndpointPublisher implements Component, TaskGate {
  readonly name = 'endpoint-publisher';
  private reactor: StoreReactor;
  private last = '';
  /** Tasks the agent started and is about to report RUNNING: backends already. */
  private readonly admitted = new Set<string>();
  /** Tasks the agent is about to stop: backends no more, whatever the store says. */
  private readonly evicted = new Set<string>();
  /** Gate requests are numbered; a publish that began after request n and finished releases its waiter. */
  private requested = 0;
  private published = 0;
  private waiters: { gen: number; resolve: () => void }[] = [];

  constructor(
    private readonly opts: {
      store: Store;
      clock: Clock;
      log: Logger;
      sinks: EndpointSink[];
      gateTimeoutMs?: number;
      /** After an eviction is confirmed, this long before the task is stopped: a connection the mesh handed to the
       * task just before it left gets its request answered rather than cut (0 in tests). */
      evictLingerMs?: number;
    },
  ) {
    this.reactor = new StoreReactor({ ...opts, on: ['task', 'service', 'network'], job: () => this.publish(), what: 'publishing endpoints' });
  }

  async start(): Promise<void> {
    await this.publish();
    this.reactor.start();
  }

  async stop(): Promise<void> {
    await this.reactor.stop();
    for (const w of this.waiters.splice(0)) w.resolve();
  }

  admit(taskId: string): Promise<void> {
    this.evicted.delete(taskId);
    this.admitted.add(taskId);
    return this.waitForPublish('admit', taskId);
  }

  async evict(taskId: string): Promise<void> {
    this.admitted.delete(taskId);
    this.evicted.add(taskId);
    await this.waitForPublish('evict', taskId);
    const linger = this.opts.evictLingerMs ?? 0;
    if (linger > 0) await new Promise<void>((r) => this.opts.clock.setTimeout(r, linger));
  }

  private waitForPublish(what: string, taskId: string): Promise<void> {
    const gen = ++this.requested;
    return new Promise<void>((resolve) => {
      const timer = this.opts.clock.setTimeout(() => {
        this.opts.log.warn(`data plane did not confirm ${what} in time; going on`, { task: taskId });
        done();
      }, this.opts.gateTimeoutMs ?? GATE_TIMEOUT_MS);
      const done = () => {
        timer.cancel();
        this.waiters = this.waiters.filter((w) => w.resolve !== done);
        resolve();
      };
      this.waiters.push({ gen, resolve: done });
      this.reactor.kick();
    });
  }

  private async publish(): Promise<void> {
    const gen = this.requested;
    const table = this.opts.store.view((tx) => {
      const tasks = tx.list('task');
      this.forgetSettled(tasks);
      return buildEndpointTable(tx.list('service'), tasks, tx.list('network'), { admitted: this.admitted, evicted: this.evicted });
    });
    const text = JSON.stringify(table);
    if (text !== this.last) {
      this.last = text;
      for (const sink of this.opts.sinks) await sink.apply(table);
    }
    // Confirmation is awaited aside, so a slow sink holds the gate's callers, never the next table.
    if (this.waiters.length) void Promise.all(this.opts.sinks.map((sink) => sink.settled?.())).then(() => this.release(gen), () => this.release(gen));
  }

  private release(gen: number): void {
    this.published = Math.max(this.published, gen);
    for (const w of this.waiters.filter((x) => x.gen <= this.published)) w.resolve();
  }

  /** Gate entries end once the store agrees: an admitted task shows RUNNING, an evicted one has ended or gone. */
  private forgetSettled(tasks: Task[]): void {
    if (!this.admitted.size && !this.evicted.size) return;
    const byId = new Map(tasks.map((t) => [t.ID, t]));
    for (const id of this.admitted) {
      const t = byId.get(id);
      if (!t || rank(t.Status.State) >= rank('running') || t.DesiredState !== 'running') this.admitted.delete(id);
    }
    for (const id of this.evicted) {
      const t = byId.get(id);
      if (!t || rank(t.Status.State) > rank('running')) this.evicted.delete(id);
    }
  }
}

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

/** Pure: the endpoint table for these objects. */
export function buildEndpointTable(services: Service[], tasks: Task[], networks: Network[], gate: GateOverrides = NO_OVERRIDES): EndpointTable {
  const byService = new Map<string, Task[]>();
  for (const t of tasks) {
    if (!isBackend(t, gate)) continue;
    let list = byService.get(t.ServiceID);
    if (!list) byService.set(t.ServiceID, (list = []));
    list.push(t);
  }
  const out: ServiceEndpoint[] = services.map((s) => ({
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
