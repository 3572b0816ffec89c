/**
 * The userspace mesh backend: TCP and UDP proxies in this process for published ports (ingress and mode=host)
 * and service VIPs, as planned by listener-plan.ts. Each endpoint table is diffed against the listeners it has:
 * new ones open, gone ones close, the rest only get a new picker.
 *
 * A listener that cannot bind (a port some other program holds: EADDRINUSE; a VIP not yet on lo:
 * EADDRNOTAVAIL) is logged once and tried again on the next table and on a timer, without holding up any other
 * listener. Applies run one after another, so a port is never opened twice.
 */
import { systemClock, type Clock, type Timer } from '../../control/base/clock';
import type { Component } from '../../control/base/component';
import type { Logger } from '../../control/base/log';
import { errorMessage } from '../../control/base/errors';
import type { EndpointSink, EndpointTable } from '../endpoint-table';
import { planListeners, socketsFor, type ListenerSpec } from './listener-plan';
import { zeroCounters, type PortProxy, type ProxyCounters } from './port-proxy';
import { chooseTcpRelay, NativeTcpProxy, type TcpRelayKind } from './native-tcp-proxy';
import { TcpProxy, type LocalRoute } from './tcp-proxy';
import { TcpWorkerPool, type WorkerStats } from './tcp-worker-pool';
import { UdpProxy } from './udp-proxy';

export const DEFAULT_BIND_RETRY_MS = 5000;

export interface UserspaceMeshOptions {
  /** This node's ID: mode=host ports are served only here, to this node's tasks. Unset: a single node. */
  nodeId?: string;
  /** Only ingress-published ports, on 127.0.0.1 (beside the iptables mesh, which does not serve loopback). */
  loopbackOnly?: boolean;
  clock?: Clock;
  /** UDP flows end after this long without a datagram either way (default 30 s). */
  udpIdleMs?: number;
  /** How often listeners that failed to bind are tried again (default 5 s). */
  bindRetryMs?: number;
  /**
   * TCP listeners are served by this many worker processes sharing each socket (tcp-worker-pool.ts), so the
   * relay can use more than one core; 1 (default): in this process. UDP stays in this process either way.
   */
  tcpWorkers?: number;
  /** What relays TCP (native-tcp-proxy.ts): by default the native relay where it is built, else Node's handles. */
  tcpRelay?: TcpRelayKind;
}

/** One row of counters for metrics: a service's protocol and port, summed over its listeners with that port. */
export interface MeshCounterRow {
  serviceName: string;
  protocol: 'tcp' | 'udp';
  port: number;
  counters: ProxyCounters;
}

interface Listener {
  spec: ListenerSpec;
  proxy: PortProxy;
  /** Specific-address TCP listeners carried by this wildcard socket (see socketsFor), with their own counters. */
  routes: Map<string, { spec: ListenerSpec; counters: ProxyCounters }>;
  open: boolean;
  /** The bind error last logged, so a listener that keeps failing the same way logs once. */
  lastError?: string;
}

export class UserspaceMesh implements Component, EndpointSink {
  readonly name = 'mesh-userspace';
  private listeners = new Map<string, Listener>();
  private queue: Promise<void> = Promise.resolve();
  private table: EndpointTable = { networks: {}, services: [] };
  private retry?: Timer;
  private stopped = false;
  private readonly clock: Clock;
  private readonly pool?: TcpWorkerPool;
  /** What relays TCP, chosen once at construction. */
  readonly tcpRelay: TcpRelayKind;

  constructor(
    private readonly log: Logger,
    private readonly opts: UserspaceMeshOptions = {},
  ) {
    this.clock = opts.clock ?? systemClock;
    const workers = opts.tcpWorkers ?? 1;
    if (!Number.isInteger(workers) || workers < 1) throw new Error(`tcpWorkers: ${workers} is not a whole number of processes of at least 1`);
    this.tcpRelay = chooseTcpRelay(opts.tcpRelay, log);
    if (workers > 1) this.pool = new TcpWorkerPool(workers, log.child({ listeners: 'workers' }), this.tcpRelay);
  }

  async start(): Promise<void> {}

  async stop(): Promise<void> {
    this.stopped = true;
    this.retry?.cancel();
    this.retry = undefined;
    await this.queue;
    for (const l of this.listeners.values()) await l.proxy.close();
    this.listeners.clear();
    await this.pool?.stop();
  }

  apply(table: EndpointTable): Promise<void> {
    this.table = table;
    return this.enqueue();
  }

  settled(): Promise<void> {
    return this.queue;
  }

  /** Counters by "service/proto/port", for metrics. */
  counters(): Map<string, MeshCounterRow> {
    const out = new Map<string, MeshCounterRow>();
    const add = (spec: ListenerSpec, counters: ProxyCounters): void => {
      const key = `${spec.serviceName}/${spec.protocol}/${spec.port}`;
      let row = out.get(key);
      if (!row) out.set(key, (row = { serviceName: spec.serviceName, protocol: spec.protocol, port: spec.port, counters: zeroCounters() }));
      for (const k of Object.keys(row.counters) as (keyof ProxyCounters)[]) row.counters[k] += counters[k];
    };
    for (const { spec, proxy, routes } of this.listeners.values()) {
      add(spec, proxy.counters);
      for (const r of routes.values()) add(r.spec, r.counters);
    }
    return out;
  }

  /**
   * Listener keys ("proto/host/port") and whether each is served, for tests and debugging; `via` names the
   * wildcard socket that carries a specific-address TCP listener.
   */
  state(): Map<string, { kind: ListenerSpec['kind']; open: boolean; backends: number; via?: string }> {
    const out = new Map<string, { kind: ListenerSpec['kind']; open: boolean; backends: number; via?: string }>();
    for (const [k, l] of this.listeners) {
      out.set(k, { kind: l.spec.kind, open: l.open, backends: l.spec.backends.length });
      for (const r of l.routes.values()) out.set(r.spec.key, { kind: r.spec.kind, open: l.open, backends: r.spec.backends.length, via: k });
    }
    return out;
  }

  /** The TCP worker processes with how many connections each accepted (none without tcpWorkers > 1). */
  workers(): WorkerStats[] {
    return this.pool?.stats() ?? [];
  }

  private enqueue(): Promise<void> {
    this.queue = this.queue.then(() => this.sync()).catch((e) => this.log.error('mesh sync failed', { err: errorMessage(e) }));
    return this.queue;
  }

  private async sync(): Promise<void> {
    if (this.stopped) return;
    const wanted = socketsFor(planListeners(this.table, { nodeId: this.opts.nodeId, loopbackOnly: this.opts.loopbackOnly }));
    for (const [key, l] of this.listeners) {
      if (wanted.has(key)) continue;
      this.listeners.delete(key);
      await l.proxy.close();
      if (l.open) this.log.info('listener closed', describe(l.spec));
    }
    for (const [key, { spec, routes }] of wanted) {
      let l = this.listeners.get(key);
      if (!l) this.listeners.set(key, (l = { spec, proxy: this.proxyFor(spec), routes: new Map(), open: false }));
      l.spec = spec;
      l.proxy.setBackends(spec.backends, spec.strategy);
      if (isRouted(l.proxy) && (routes.size > 0 || l.routes.size > 0)) {
        const old = l.routes;
        // A route keeps its counters while it stays the same listener.
        l.routes = new Map([...routes].map(([addr, r]) => [addr, { spec: r, counters: old.get(addr)?.spec.key === r.key ? old.get(addr)!.counters : zeroCounters() }]));
        l.proxy.setLocalRoutes(new Map([...l.routes].map(([addr, r]) => [addr, { backends: r.spec.backends, strategy: r.spec.strategy, counters: r.counters }])));
      }
      if (!l.open) await this.bind(l);
    }
    // Workers apply messages in order: once they all answer, the new table is what every one of them serves.
    await this.pool?.barrier();
    this.scheduleRetry();
  }

  private proxyFor(spec: ListenerSpec): PortProxy {
    const bind = { host: spec.host, port: spec.port };
    const log = this.log.child({ service: spec.serviceName });
    if (spec.protocol === 'udp') return new UdpProxy(bind, { clock: this.clock, log, idleMs: this.opts.udpIdleMs });
    if (this.pool) return this.pool.proxy(bind);
    return this.tcpRelay === 'native' ? new NativeTcpProxy(bind, log) : new TcpProxy(bind, log);
  }

  private async bind(l: Listener): Promise<void> {
    try {
      await l.proxy.listen();
    } catch (e) {
      const err = errorMessage(e);
      if (l.lastError !== err) this.log.error('cannot listen, will retry', { ...describe(l.spec), err, retryMs: this.retryMs });
      l.lastError = err;
      return;
    }
    l.open = true;
    this.log.info(l.lastError ? 'listener open after retry' : 'listener open', describe(l.spec));
    l.lastError = undefined;
  }

  private get retryMs(): number {
    return this.opts.bindRetryMs ?? DEFAULT_BIND_RETRY_MS;
  }

  private scheduleRetry(): void {
    if (this.retry || this.stopped || ![...this.listeners.values()].some((l) => !l.open)) return;
    this.retry = this.clock.setTimeout(() => {
      this.retry = undefined;
      void this.enqueue();
    }, this.retryMs);
  }
}

/** A TCP listener that can carry specific-address routes (in this process or in the workers). */
function isRouted(p: PortProxy): p is PortProxy & { setLocalRoutes(routes: ReadonlyMap<string, LocalRoute>): void } {
  return 'setLocalRoutes' in p;
}

function describe(spec: ListenerSpec): Record<string, unknown> {
  return { kind: spec.kind, service: spec.serviceName, protocol: spec.protocol, host: spec.host, port: spec.port };
}
