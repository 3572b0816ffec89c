/**
 * The node daemon behind swarmd: the control socket, the store in the data dir, and — once the node is in a
 * swarm — the manager (allocator, orchestrator, scheduler, task reaper, dispatcher on the cluster port) and the
 * agent that runs this node's tasks through its executor. `swarm init` creates the swarm; a restart finds it in
 * the store and brings everything back, adopting the tasks still running; `swarm leave` stops and forgets it.
 */
import * as grpc from '@grpc/grpc-js';
import { createServer, type Server } from 'node:http';
import { mkdirSync, rmSync, existsSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { availableParallelism, networkInterfaces } from 'node:os';
import { ComponentGroup, type Component } from './base/component';
import type { Clock } from './base/clock';
import type { Logger } from './base/log';
import { invalidArgument, ShoalError, errorMessage } from './base/errors';
import type { Node } from './api/types';
import { taskRef, type Executor } from './agent/executor';
import type { NetworkPlumber } from '../overlay/network-plumber';
import { Agent } from './agent/agent';
import { LocalNetworks } from './agent/local-networks';
import { MemoryStore } from './store/memory-store';
import { SqlitePersistence } from './store/sqlite-persistence';
import type { Store } from './store/store';
import { ControlApi, resolveService } from './manager/api/control-api';
import { Router, type Request } from './manager/api/router';
import { buildRouter, type Backend } from './manager/api/routes';
import { Allocator } from './manager/allocator/allocator';
import { Orchestrator } from './manager/orchestrator/orchestrator';
import { TaskReaper } from './manager/orchestrator/task-reaper';
import { Scheduler } from './manager/scheduler/scheduler';
import { nodeMatchesService } from './manager/orchestrator/global-eligibility';
import { Dispatcher } from './manager/dispatcher/dispatcher';
import { newClusterObject } from './cluster-object';
import { parseLogQuery, pipeTaskLogs } from './log-stream';
import { followNewTasks } from './log-follow';
import { engineInfo, engineVersion } from './engine-info';
import { EndpointPublisher } from './endpoints/endpoint-publisher';
import { UserspaceMesh } from '../mesh/userspace/userspace-mesh';
import { IptablesMesh } from '../mesh/iptables/iptables-mesh';
import { probeIptables } from '../mesh/iptables/probe';
import { VipAddresses } from '../overlay/vip-addresses';
import { DnsResolver } from '../dns/dns-resolver';
import { nodeMetrics } from './metrics/node-metrics';
import { MetricsServer } from './metrics/metrics-server';
import { Instruments } from './metrics/instruments';
import { ensureDnsAddress, removeDnsAddress } from '../overlay/dns-address';

export interface DaemonConfig {
  /** unix:///path or tcp://host:port for the control API. */
  host: string;
  dataDir: string;
  /** This node's ID (see node-identity.ts). */
  nodeId: string;
  executor: Executor;
  /** The node's network plumbing (bridges), released when a network goes away or the node leaves. */
  plumber?: NetworkPlumber;
  /** Which routing-mesh backend serves published ports and VIPs; auto (default): iptables when it works here. */
  mesh?: 'auto' | 'userspace' | 'iptables';
  /** Processes serving the userspace mesh's TCP listeners (1, the default: in this process). */
  meshWorkers?: number;
  /** Where Prometheus scrapes /metrics and /healthz; none when absent. */
  metrics?: { host: string; port: number };
  /** The address of the embedded DNS resolver tasks use (port 53); none runs when absent. */
  dnsAddress?: string;
  /** Resolvers for names that are not the swarm's; the host's resolv.conf when absent. */
  dnsUpstreams?: { host: string; port: number }[];
  /** host:port for the cluster (gRPC) API. */
  listenAddr: string;
  advertiseAddr?: string;
  hostname?: string;
  clock: Clock;
  log: Logger;
}

export class Daemon implements Component, Backend {
  readonly name = 'swarmd';
  private store!: MemoryStore;
  private http?: Server;
  private swarm?: {
    group: ComponentGroup;
    grpc: grpc.Server;
    agent: Agent;
    api: ControlApi;
    nodeId: string;
    /** The mesh backends running: iptables with a loopback-only userspace mesh beside it, or userspace alone. */
    mesh: (UserspaceMesh | IptablesMesh)[];
    dns?: DnsResolver;
  };
  private metrics?: MetricsServer;
  /** Event-driven metrics (API, store commits, scheduling, agent), handed to each component as its observer. */
  private readonly instruments = new Instruments();

  constructor(private readonly cfg: DaemonConfig) {}

  async start(): Promise<void> {
    mkdirSync(this.cfg.dataDir, { recursive: true });
    this.store = this.openStore();
    const cluster = this.store.view((tx) => tx.list('cluster')[0]);
    if (cluster) await this.startSwarm(this.cfg.nodeId);
    await this.listen();
    if (this.cfg.metrics) await this.startMetrics(this.cfg.metrics);
    this.cfg.log.info('swarmd started', { host: this.cfg.host, dataDir: this.cfg.dataDir, executor: this.cfg.executor.kind, swarm: this.active() });
  }

  async stop(): Promise<void> {
    await this.metrics?.stop();
    await new Promise<void>((r) => (this.http ? this.http.close(() => r()) : r()));
    this.http?.closeAllConnections?.();
    await this.stopSwarm();
    await this.store.close();
    await this.cfg.executor.close();
  }

  /** The store (tests and benchmarks read it directly). */
  get stateStore(): Store {
    return this.store;
  }

  // ---- Backend ----------------------------------------------------------------------------------------------

  active(): boolean {
    return this.swarm !== undefined;
  }

  control(): ControlApi {
    if (!this.swarm) {
      throw new ShoalError('not-a-manager', 'This node is not a swarm manager. Use "swarmctl swarm init" or "docker swarm init" to create a swarm on this node.');
    }
    return this.swarm.api;
  }

  version(): object {
    return engineVersion();
  }

  async info(): Promise<object> {
    const facts = await this.cfg.executor.describe();
    const swarm = this.swarm
      ? this.store.view((tx) => ({
          nodeId: this.swarm!.nodeId,
          nodes: tx.list('node'),
          cluster: tx.list('cluster')[0],
          localTasks: tx.tasksByNode(this.swarm!.nodeId),
        }))
      : undefined;
    return engineInfo({ facts, executorKind: this.cfg.executor.kind, hostname: this.cfg.hostname, dataDir: this.cfg.dataDir, swarm });
  }

  async init(body: unknown): Promise<string> {
    if (this.swarm) {
      throw new ShoalError('not-a-manager', 'This node is already part of a swarm. Use "swarmctl swarm leave" to leave this swarm and join another one.');
    }
    const req = (body ?? {}) as { AdvertiseAddr?: string; ListenAddr?: string; Availability?: string; Spec?: any };
    const availability = req.Availability ?? 'active';
    if (!['active', 'pause', 'drain'].includes(availability)) {
      throw invalidArgument('Availability', `invalid availability "${availability}": use active, pause or drain`);
    }
    const facts = await this.cfg.executor.describe();
    const nodeId = this.cfg.nodeId;
    const advertise = hostOf(req.AdvertiseAddr || this.cfg.advertiseAddr || '') || '127.0.0.1';
    const clusterObject = newClusterObject({
      taskHistoryLimit: req.Spec?.Orchestration?.TaskHistoryRetentionLimit,
      heartbeatPeriodNs: req.Spec?.Dispatcher?.HeartbeatPeriod || undefined,
    });
    const node: Node = {
      ID: nodeId,
      Version: { Index: 0 },
      CreatedAt: '',
      UpdatedAt: '',
      Spec: { Role: 'manager', Availability: availability as Node['Spec']['Availability'], Labels: {} },
      Description: {
        Hostname: this.cfg.hostname ?? facts.hostname,
        Platform: { Architecture: facts.architecture, OS: facts.os },
        Resources: { NanoCPUs: facts.nanoCPUs, MemoryBytes: facts.memoryBytes },
        Engine: { EngineVersion: facts.engineVersion, Labels: facts.engineLabels, Plugins: [] },
      },
      Status: { State: 'unknown', Addr: advertise },
      ManagerStatus: { Leader: true, Reachability: 'reachable', Addr: `${advertise}:${portOf(this.cfg.listenAddr)}` },
    };
    const allocator = new Allocator({ store: this.store, clock: this.cfg.clock, log: this.cfg.log.child({ component: 'allocator' }) });
    await this.store.update((tx) => {
      tx.create('cluster', clusterObject);
      tx.create('node', node);
      tx.create('network', allocator.ingressNetwork(tx));
    });
    await this.startSwarm(nodeId);
    this.cfg.log.info('swarm initialized', { node: nodeId });
    return nodeId;
  }

  async leave(force: boolean): Promise<void> {
    if (!this.swarm) throw new ShoalError('not-a-manager', 'This node is not part of a swarm');
    if (!force) {
      throw new ShoalError(
        'not-a-manager',
        'You are attempting to leave the swarm on a node that is participating as a manager. Removing the last manager erases all current state of the swarm. Use `--force` to ignore this message.',
      );
    }
    const networks = this.store.view((tx) => tx.list('network'));
    // Whatever failed while stopping the swarm's components, leaving still removes the tasks and networks: a
    // failed leave once left every task's namespace behind.
    await this.stopSwarm().catch((e) => this.cfg.log.warn('stopping the swarm components failed; leaving anyway', { err: e }));
    // Leaving removes this node's tasks, as Docker removes its swarm containers, and then their networks.
    const grace = new Map(this.store.view((tx) => tx.list('task')).map((t) => [t.ID, (t.Spec.ContainerSpec.StopGracePeriod ?? 10e9) / 1e6]));
    await Promise.all(
      (await this.cfg.executor.listTaskIds()).map(async (id) => {
        const c = this.cfg.executor.controller(taskRef(id));
        await c.shutdown(grace.get(id) ?? 10_000).catch(() => undefined);
        await c.remove().catch(() => undefined);
      }),
    );
    if (this.cfg.dnsAddress) await removeDnsAddress(this.cfg.dnsAddress).catch((e) => this.cfg.log.warn('removing the DNS address failed', { err: e }));
    for (const n of this.cfg.plumber ? networks : []) await this.cfg.plumber!.removeNetwork(n.ID).catch((e) => this.cfg.log.warn('removing a network bridge failed', { network: n.Name, err: e }));
    await this.store.close();
    for (const f of ['state.db', 'state.db-wal', 'state.db-shm']) rmSync(join(this.cfg.dataDir, f), { force: true });
    this.store = this.openStore();
    this.cfg.log.info('left the swarm');
  }

  async logs(kind: 'service' | 'task', ref: string, req: Request, res: import('node:http').ServerResponse): Promise<void> {
    const api = this.control();
    const q = parseLogQuery(req.query);
    const serviceId = kind === 'service' ? this.store.view((tx) => resolveService(tx, ref).ID) : undefined;
    const tasks = serviceId ? this.store.view((tx) => tx.tasksByService(serviceId)) : [api.getTask(ref)];
    const local = tasks.filter((t) => t.NodeID === this.swarm!.nodeId);
    res.writeHead(200, { 'Content-Type': 'application/vnd.docker.multiplexed-stream' });
    res.flushHeaders();
    this.cfg.log.debug('log stream open', { kind, ref, follow: q.follow, tasks: local.length });
    const abort = new AbortController();
    res.on('close', () => abort.abort());
    const pipe = (t: (typeof tasks)[number], tail: number | undefined): Promise<void> =>
      pipeTaskLogs(t, this.cfg.executor.controller(t).logs({ follow: q.follow, tail, signal: abort.signal }), q, res).catch((e) =>
        this.cfg.log.debug('log stream ended', { task: t.ID, err: errorMessage(e) }),
      );
    const pipes = local.map((t) => pipe(t, q.tail));
    if (q.follow && serviceId) {
      // Following a service: tasks that start later join the stream, until the client leaves.
      const known = new Set(local.map((t) => t.ID));
      const stop = followNewTasks(this.store, serviceId, this.swarm!.nodeId, known, (t) => pipes.push(pipe(t, undefined)));
      await new Promise<void>((resolve) => (abort.signal.aborted ? resolve() : abort.signal.addEventListener('abort', () => resolve(), { once: true })));
      stop();
    }
    await Promise.all(pipes);
    res.end();
  }

  // ---- internals --------------------------------------------------------------------------------------------

  private openStore(): MemoryStore {
    return new MemoryStore(new SqlitePersistence(join(this.cfg.dataDir, 'state.db')), this.cfg.clock, this.instruments);
  }

  private async startSwarm(nodeId: string): Promise<void> {
    const { clock, log, executor } = this.cfg;
    const server = new grpc.Server();
    const allocator = new Allocator({ store: this.store, clock, log: log.child({ component: 'allocator' }) });
    // The dispatcher registers its gRPC service before the server binds.
    const dispatcher = new Dispatcher({ store: this.store, clock, log: log.child({ component: 'dispatcher' }), server });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(this.cfg.listenAddr, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    ).catch((e) => {
      server.forceShutdown();
      throw new ShoalError('unavailable', `cannot listen on --listen-addr ${this.cfg.listenAddr}: ${errorMessage(e)}`);
    });
    await this.recordManagerPort(nodeId, port);
    const mesh = await this.chooseMesh(nodeId);
    const dns = this.cfg.dnsAddress ? await this.startDns(this.cfg.dnsAddress) : undefined;
    const vips = new VipAddresses({ log: log.child({ component: 'vips' }) });
    // VIPs go on lo before the mesh listens on them or programs rules for them.
    const sinks = [vips, ...mesh, ...(dns ? [dns] : [])];
    const publisher = new EndpointPublisher({ store: this.store, clock, log: log.child({ component: 'endpoints' }), sinks, evictLingerMs: 250 });
    const agent = new Agent({
      nodeId,
      managerAddr: `127.0.0.1:${port}`,
      executor,
      clock,
      log: log.child({ component: 'agent' }),
      hostname: this.cfg.hostname,
      dnsAddress: this.cfg.dnsAddress,
      gate: publisher,
      observer: this.instruments,
    });
    // The data plane starts before the agent (which adopts running tasks and starts new ones through the gate)
    // and so stops after it.
    const group = new ComponentGroup('swarm', [
      allocator,
      new Orchestrator({ store: this.store, clock, log: log.child({ component: 'orchestrator' }), nodeMatches: nodeMatchesService }),
      new Scheduler({ store: this.store, clock, log: log.child({ component: 'scheduler' }), observer: this.instruments }),
      new TaskReaper({ store: this.store, clock, log: log.child({ component: 'task-reaper' }) }),
      dispatcher,
      ...(this.cfg.plumber ? [new LocalNetworks({ store: this.store, plumber: this.cfg.plumber, log: log.child({ component: 'networks' }) })] : []),
      ...sinks,
      publisher,
      agent,
    ]);
    try {
      await group.start();
    } catch (e) {
      server.forceShutdown();
      throw e;
    }
    this.swarm = { group, grpc: server, agent, api: new ControlApi(this.store, allocator, clock), nodeId, mesh, dns };
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([agent.whenConnected(), new Promise((r) => (timer = setTimeout(r, 5000)))]);
    clearTimeout(timer);
  }

  private async startMetrics(at: { host: string; port: number }): Promise<void> {
    const registry = nodeMetrics({
      store: () => (this.swarm ? this.store : undefined),
      mesh: () => this.swarm?.mesh.find((m): m is UserspaceMesh => m instanceof UserspaceMesh)?.counters(),
      dns: () => this.swarm?.dns?.counters(),
      agent: () => this.swarm?.agent,
      iptables: () => this.swarm?.mesh.find((m): m is IptablesMesh => m instanceof IptablesMesh),
    }, this.instruments.registry);
    this.metrics = new MetricsServer({ ...at, registry, health: () => this.healthProblem(), log: this.cfg.log.child({ component: 'metrics' }) });
    await this.metrics.start();
  }

  /** Why this node is not healthy, or undefined when it is (GET /healthz). */
  private healthProblem(): string | undefined {
    if (!this.http?.listening) return 'the control socket is not listening';
    if (!this.swarm) return undefined;
    const node = this.store.view((tx) => tx.get('node', this.swarm!.nodeId));
    if (!node) return 'this node is not in the store';
    if (node.Status.State !== 'ready') return `this node is ${node.Status.State}${node.Status.Message ? `: ${node.Status.Message}` : ''}`;
    return undefined;
  }

  /**
   * The mesh backends: as configured, or for auto, iptables when its binaries and the nat table work. Beside the
   * iptables mesh runs a userspace mesh on 127.0.0.1 only, so `curl 127.0.0.1:PORT` works on the node as users
   * expect, without route_localnet (which would let neighbours reach the node's loopback: CVE-2020-8558).
   */
  private async chooseMesh(nodeId: string): Promise<(UserspaceMesh | IptablesMesh)[]> {
    const log = this.cfg.log.child({ component: 'mesh' });
    const clock = this.cfg.clock;
    let kind = this.cfg.mesh ?? 'auto';
    if (kind === 'auto') {
      const probe = await probeIptables();
      kind = probe.usable ? 'iptables' : 'userspace';
      log.info(`mesh: ${kind}`, probe.usable ? { reason: `iptables works here (${probe.detail})` } : { reason: probe.reason });
    }
    if (kind === 'userspace') return [new UserspaceMesh(log, { nodeId, clock, tcpWorkers: this.cfg.meshWorkers })];
    return [
      // No minimum interval between syncs: a change is one partial restore of a few chains, changes arriving
      // during a sync are coalesced into the next, and the gate waits for them (a task's start and stop do).
      new IptablesMesh({ nodeId, addresses: nodeAddresses, logger: log, clock, notIngress: this.cfg.dnsAddress ? [this.cfg.dnsAddress] : [], minSyncIntervalMs: 0, observer: this.instruments }),
      new UserspaceMesh(log.child({ listeners: 'loopback' }), { nodeId, clock, loopbackOnly: true }),
    ];
  }

  /** The resolver tasks use, on a node address of its own (see overlay/dns-address.ts). */
  private async startDns(address: string): Promise<DnsResolver> {
    await ensureDnsAddress(address);
    return new DnsResolver({
      address,
      port: 53,
      clock: this.cfg.clock,
      logger: this.cfg.log.child({ component: 'dns' }),
      upstreams: this.cfg.dnsUpstreams,
      // Extra UDP reader processes: one per spare CPU, at most 3. With batch UDP (dns/udp-batch-socket.ts) they
      // do all the UDP reading, so the control plane's event loop never delays an answer; on one CPU the main
      // process reads. bench/dns-perf on 2 CPUs: one batch reader 1.2-1.5x dnsmasq; a second only
      // competes with the clients for the CPUs.
      udpReaders: Math.min(3, availableParallelism() - 1),
    });
  }

  /** The manager's address names the port the cluster API really listens on (--listen-addr may say :0). */
  private async recordManagerPort(nodeId: string, port: number): Promise<void> {
    await this.store.update((tx) => {
      const node = tx.get('node', nodeId);
      const addr = node?.ManagerStatus?.Addr;
      if (!node || !addr || addr.endsWith(`:${port}`)) return;
      tx.update('node', { ...node, ManagerStatus: { ...node.ManagerStatus!, Addr: `${hostOf(addr)}:${port}` } });
    });
  }

  private async stopSwarm(): Promise<void> {
    if (!this.swarm) return;
    const { group, grpc: server } = this.swarm;
    this.swarm = undefined;
    await group.stop();
    await new Promise<void>((r) => server.tryShutdown(() => r()));
    server.forceShutdown();
  }

  private async listen(): Promise<void> {
    const router = buildRouter(new Router(this.cfg.log.child({ component: 'api' }), this.instruments), this);
    const server = createServer((req, res) => void router.handle(req, res));
    const host = this.cfg.host;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      if (host.startsWith('unix://')) {
        const path = host.slice('unix://'.length);
        if (existsSync(path)) unlinkSync(path); // a stale socket from a previous run
        server.listen(path, () => resolve());
      } else {
        const u = new URL(host.replace(/^tcp:/, 'http:'));
        server.listen(Number(u.port || 2375), u.hostname, () => resolve());
      }
    });
    this.http = server;
  }
}

/** This node's IPv4 addresses (published ports bound to a host IP must name one of them). */
function nodeAddresses(): string[] {
  return Object.values(networkInterfaces())
    .flat()
    .filter((a) => a && a.family === 'IPv4')
    .map((a) => a!.address);
}

function hostOf(addr: string): string {
  const m = /^\[?([^\]]*?)\]?(?::\d+)?$/.exec(addr);
  return m ? m[1] : addr;
}

function portOf(addr: string): number {
  const m = /:(\d+)$/.exec(addr);
  return m ? Number(m[1]) : 2377;
}
