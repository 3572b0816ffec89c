/**
 * The userspace mesh's TCP listeners served by N worker processes (mesh-worker.ts) instead of swarmd's own event
 * loop. With the native relay each worker binds a socket of its own in the port's SO_REUSEPORT group and the
 * kernel gives each connection to one of them by its address hash. With Node's handles (no native build; Node 20
 * has no SO_REUSEPORT) the cluster module shares each listening socket — with SCHED_NONE the primary (swarmd)
 * binds it and every worker accepts on it, the kernel giving each connection to one worker; the rest of this
 * comment's balancing is for that case.
 *
 * The pool keeps the whole state (listeners, backends, routes, which are open) in the primary and mirrors it to
 * every worker as messages; a worker that dies is logged and replaced after a short pause, and the new one is
 * sent the state again. Counters come back as reports (pushed every half second, and with every barrier()) and
 * are summed per listener into the objects the mesh reads, so UserspaceMesh.counters() keeps its shape; what a
 * dead worker had counted is kept, minus its open connections, which died with it.
 *
 * On the shared socket the kernel gives a burst of connections to whichever worker wakes first, so a worker
 * (on Node's handles) holding more than its share hands new connections back here, and the pool gives each to the least loaded worker (accept-balance.ts;
 * the handle travels as a file descriptor over the IPC channel). The pool sends every worker the others' load
 * with each report.
 *
 * One wrinkle of the cluster module: a worker numbers its listens per address, and a failed listen leaves its
 * number used, so a worker that failed a listen would ask for a different shared socket than its peers from then
 * on. So a port is first test-bound here (which also keeps native workers from joining a SO_REUSEPORT group
 * another program started on the port), and a worker that still fails a listen is replaced.
 */
import cluster, { type Worker } from 'node:cluster';
import * as net from 'node:net';
import { join } from 'node:path';
import type { Logger } from '../../control/base/log';
import { errorMessage } from '../../control/base/errors';
import type { BackendAddr, Strategy } from './picker';
import { zeroCounters, type PortProxy, type ProxyCounters } from './port-proxy';
import type { TcpRelayKind } from './native-tcp-proxy';
import type { TcpHandle } from './tcp-handles';
import type { LocalRoute } from './tcp-proxy';
import type { FromWorker, RouteMessage, ToWorker, WorkerReport } from './worker-protocol';

const WORKER_SCRIPT = join(__dirname, 'mesh-worker.js');
/** A crashing worker is replaced after this pause, so a worker that dies at once cannot spin a core. */
const RESTART_DELAY_MS = 500;
const STOP_GRACE_MS = 3000;

type Done = Extract<FromWorker, { op: 'done' }>;

interface Slot {
  worker?: Worker;
  ready: boolean;
  /** Messages sent before the worker said it is ready (its message handler may not exist yet). */
  backlog: ToWorker[];
  report: WorkerReport;
  /** Connections given to this worker since its last report (which does not count them yet). */
  givenSinceReport: number;
  exited?: Promise<void>;
}

/** Per-worker figures, for tests and debugging. */
export interface WorkerStats {
  pid: number;
  connectionsTotal: number;
  /** Connections open in it, as last reported. */
  connectionsActive: number;
  /** Connections it accepted and handed on to another worker (accept-balance.ts). */
  handedOn: number;
}

export class TcpWorkerPool {
  private readonly slots: Slot[];
  private readonly proxies = new Map<number, WorkerTcpProxy>();
  private readonly pending = new Map<number, { slot: Slot; resolve: (d: Done) => void }>();
  private nextId = 1;
  private nextSeq = 1;
  private started = false;
  private stopping = false;

  constructor(
    readonly size: number,
    private readonly log: Logger,
    /** What each worker relays with (native-tcp-proxy.ts); native workers bind in a SO_REUSEPORT group. */
    readonly relay: TcpRelayKind = 'handles',
  ) {
    this.slots = Array.from({ length: size }, () => ({ ready: false, backlog: [], report: {}, givenSinceReport: 0 }));
  }

  /** A TCP listener served by every worker. */
  proxy(bind: { host: string; port: number }): WorkerTcpProxy {
    this.ensureStarted();
    const p = new WorkerTcpProxy(this, this.nextId++, bind);
    this.proxies.set(p.id, p);
    this.broadcast(p.replay()[0]);
    return p;
  }

  /** Resolves once every live worker has applied everything sent so far; refreshes the counters on the way. */
  async barrier(): Promise<void> {
    await this.requestAll((seq) => ({ op: 'ping', seq }));
  }

  stats(): WorkerStats[] {
    return this.slots.flatMap((s) => {
      const pid = s.worker?.process.pid;
      if (pid === undefined) return [];
      let connectionsTotal = 0;
      let handedOn = 0;
      for (const r of Object.values(s.report)) {
        connectionsTotal += r.own.connectionsTotal;
        for (const c of Object.values(r.routes)) connectionsTotal += c.connectionsTotal;
        handedOn += r.handedOn;
      }
      return [{ pid, connectionsTotal, connectionsActive: openIn(s.report), handedOn }];
    });
  }

  /** Ends every worker (their connections with them); waits until they are gone. */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(
      this.slots.map(async (s) => {
        const w = s.worker;
        if (!w || !s.exited) return;
        const kill = setTimeout(() => w.process.kill('SIGKILL'), STOP_GRACE_MS);
        w.process.kill('SIGTERM');
        await s.exited;
        clearTimeout(kill);
      }),
    );
    for (const p of this.pending.values()) p.resolve({ op: 'done', seq: 0, error: 'mesh stopped' });
    this.pending.clear();
  }

  // ---- used by WorkerTcpProxy ----

  broadcast(m: ToWorker): void {
    for (const s of this.slots) this.send(s, m);
  }

  /** Sends one request to every live worker and waits for all answers, as [slot index, answer]. */
  requestAll(make: (seq: number) => ToWorker): Promise<[number, Done][]> {
    return Promise.all(
      this.slots.flatMap((s, i) =>
        s.worker
          ? [
              new Promise<[number, Done]>((resolve) => {
                const m = make(this.nextSeq++);
                this.pending.set((m as { seq: number }).seq, { slot: s, resolve: (d) => resolve([i, d]) });
                this.send(s, m);
              }),
            ]
          : [],
      ),
    );
  }

  /** Replaces a worker that can no longer be trusted to share sockets with its peers (see the file comment). */
  recycle(index: number, why: string): void {
    const w = this.slots[index].worker;
    if (!w) return;
    this.log.warn('replacing mesh worker', { workerPid: w.process.pid, why });
    w.process.kill('SIGKILL');
  }

  forget(id: number): void {
    this.proxies.delete(id);
    for (const s of this.slots) delete s.report[id];
  }

  // ---- workers ----

  private ensureStarted(): void {
    if (this.started) return;
    this.started = true;
    // SCHED_NONE: the primary binds and hands the socket to the workers, who all accept on it. The default
    // (round-robin) would accept every connection in swarmd and pass it on: the bottleneck this is meant to remove.
    // The policy is frozen at the first setupPrimary(); nothing else in swarmd uses the cluster module.
    cluster.schedulingPolicy = cluster.SCHED_NONE;
    cluster.setupPrimary({ exec: WORKER_SCRIPT, args: [], execArgv: [], silent: false });
    this.slots.forEach((_, i) => this.fork(i));
  }

  private fork(index: number): void {
    const slot = this.slots[index];
    const w = cluster.fork();
    slot.worker = w;
    slot.ready = false;
    slot.report = {};
    slot.givenSinceReport = 0;
    const pid = w.process.pid;
    w.on('message', (m: FromWorker, handle?: unknown) => this.onMessage(slot, m, handle));
    w.on('error', (e) => this.log.error('mesh worker channel error', { workerPid: pid, err: errorMessage(e) }));
    slot.exited = new Promise((resolve) =>
      w.once('exit', (code, signal) => {
        this.onExit(index, w, code, signal);
        resolve();
      }),
    );
    // The new worker gets the whole state, in the order it was built; its backlog is sent once it is ready.
    for (const p of this.proxies.values()) for (const m of p.replay()) this.send(slot, m);
    for (const p of this.proxies.values()) {
      if (!p.listening) continue;
      const seq = this.nextSeq++;
      this.pending.set(seq, {
        slot,
        resolve: (d) => {
          if (d.error && !this.stopping) this.log.error('restarted mesh worker cannot listen', { workerPid: pid, host: p.bind.host, port: p.bind.port, err: d.error });
        },
      });
      this.send(slot, { op: 'listen', id: p.id, seq });
    }
  }

  private send(slot: Slot, m: ToWorker): void {
    if (!slot.worker) return;
    if (!slot.ready) return void slot.backlog.push(m);
    if (slot.worker.isConnected()) slot.worker.send(m);
  }

  private onMessage(slot: Slot, m: FromWorker, handle?: unknown): void {
    switch (m.op) {
      case 'handoff':
        if (handle) this.give(slot, m.id, handle as TcpHandle);
        return;
      case 'ready': {
        slot.ready = true;
        const backlog = slot.backlog;
        slot.backlog = [];
        for (const b of backlog) this.send(slot, b);
        return;
      }
      case 'done': {
        if (m.report) this.takeReport(slot, m.report);
        const p = this.pending.get(m.seq);
        this.pending.delete(m.seq);
        p?.resolve(m);
        return;
      }
      case 'report':
        return this.takeReport(slot, m.report);
      case 'log':
        return this.log[m.level](m.msg, m.fields);
    }
  }

  /**
   * A connection a worker handed on: to the live worker with the fewest open connections (as reported, plus what
   * it was given since), or back to the sender when there is no other. swarmd's copy of the handle is closed once
   * sent; a connection that cannot be sent anywhere is closed (the client sees it end).
   */
  private give(from: Slot, id: number, handle: TcpHandle): void {
    let to: Slot | undefined;
    for (const s of this.slots) {
      if (s === from || !s.ready || !s.worker?.isConnected()) continue;
      if (!to || openIn(s.report) + s.givenSinceReport < openIn(to.report) + to.givenSinceReport) to = s;
    }
    to ??= from.ready && from.worker?.isConnected() ? from : undefined;
    if (!to?.worker) return handle.close();
    to.givenSinceReport++;
    to.worker.send({ op: 'adopt', id } satisfies ToWorker, handle as never, () => handle.close());
  }

  private takeReport(slot: Slot, report: WorkerReport): void {
    slot.report = report;
    slot.givenSinceReport = 0;
    for (const p of this.proxies.values()) p.sum(this.slots.map((s) => s.report[p.id]));
    this.sendLoads();
  }

  /** Tells every worker what the accept balance needs: how many serve, and what the others hold. */
  private sendLoads(): void {
    if (this.size < 2) return;
    const live = this.slots.filter((s) => s.ready && s.worker);
    const total = live.reduce((n, s) => n + openIn(s.report), 0);
    for (const s of live) this.send(s, { op: 'load', workers: live.length, others: total - openIn(s.report) });
  }

  private onExit(index: number, w: Worker, code: number | null, signal: string | null): void {
    const slot = this.slots[index];
    if (slot.worker !== w) return;
    // What the dead worker counted stays counted; its open connections are gone.
    for (const p of this.proxies.values()) p.retire(slot.report[p.id]);
    slot.report = {};
    slot.worker = undefined;
    slot.ready = false;
    slot.backlog = [];
    for (const [seq, p] of this.pending) {
      if (p.slot !== slot) continue;
      this.pending.delete(seq);
      p.resolve({ op: 'done', seq, error: `mesh worker ${w.process.pid} exited` });
    }
    for (const p of this.proxies.values()) p.sum(this.slots.map((s) => s.report[p.id]));
    if (this.stopping) return;
    this.log.error('mesh worker exited, restarting it', { workerPid: w.process.pid, code, signal, restartInMs: RESTART_DELAY_MS });
    setTimeout(() => {
      if (!this.stopping && !slot.worker) this.fork(index);
    }, RESTART_DELAY_MS).unref();
  }
}

/** Route IDs for the mesh's route counter objects: a new object (counters reset) is a new route to the workers. */
const routeIds = new WeakMap<ProxyCounters, number>();
let nextRouteId = 1;
const routeIdOf = (c: ProxyCounters): number => {
  let id = routeIds.get(c);
  if (id === undefined) routeIds.set(c, (id = nextRouteId++));
  return id;
};

/** One listener as the mesh sees it (PortProxy), served by every worker of the pool. */
export class WorkerTcpProxy implements PortProxy {
  readonly counters = zeroCounters();
  listening = false;
  private backends: Extract<ToWorker, { op: 'backends' }>;
  private routes: RouteMessage[] = [];
  /** The mesh's counter objects per route ID, written in place on every report. */
  private routeCounters = new Map<number, ProxyCounters>();
  private retired = { own: zeroCounters(), routes: new Map<number, ProxyCounters>() };

  constructor(
    private readonly pool: TcpWorkerPool,
    readonly id: number,
    readonly bind: { host: string; port: number },
  ) {
    this.backends = { op: 'backends', id, backends: [], strategy: 'round-robin' };
  }

  setBackends(backends: readonly BackendAddr[], strategy: Strategy = 'round-robin'): void {
    this.backends = { op: 'backends', id: this.id, backends, strategy };
    this.pool.broadcast(this.backends);
  }

  setLocalRoutes(routes: ReadonlyMap<string, LocalRoute>): void {
    this.routes = [...routes].map(([addr, r]) => ({ addr, routeId: routeIdOf(r.counters), backends: r.backends, strategy: r.strategy }));
    this.routeCounters = new Map([...routes.values()].map((r) => [routeIdOf(r.counters), r.counters]));
    this.pool.broadcast({ op: 'routes', id: this.id, routes: this.routes });
  }

  async listen(): Promise<void> {
    if (this.listening) return;
    await testBind(this.bind); // EADDRINUSE, EADDRNOTAVAIL: reported before any worker tries
    const answers = await this.pool.requestAll((seq) => ({ op: 'listen', id: this.id, seq }));
    const failed = answers.filter(([, d]) => d.error);
    if (failed.length === 0) {
      this.listening = true;
      return;
    }
    for (const [i, d] of failed) this.pool.recycle(i, `listen on ${this.bind.host}:${this.bind.port} failed: ${d.error}`);
    throw new Error(failed[0][1].error);
  }

  async close(): Promise<void> {
    this.listening = false;
    await this.pool.requestAll((seq) => ({ op: 'close', id: this.id, seq }));
    this.pool.forget(this.id);
  }

  /** What a new worker must be sent to serve this listener (listening is requested by the pool). */
  replay(): ToWorker[] {
    return [{ op: 'open', id: this.id, host: this.bind.host, port: this.bind.port, relay: this.pool.relay, workers: this.pool.size }, this.backends, ...(this.routes.length ? [{ op: 'routes' as const, id: this.id, routes: this.routes }] : [])];
  }

  /** Recomputes the counters from the retired totals and each live worker's last report. */
  sum(reports: (WorkerReport[number] | undefined)[]): void {
    assign(this.counters, [this.retired.own, ...reports.map((r) => r?.own)]);
    for (const [routeId, c] of this.routeCounters) assign(c, [this.retired.routes.get(routeId), ...reports.map((r) => r?.routes[routeId])]);
  }

  retire(report: WorkerReport[number] | undefined): void {
    if (!report) return;
    add(this.retired.own, report.own);
    for (const [routeId, c] of Object.entries(report.routes)) {
      const id = Number(routeId);
      if (!this.retired.routes.has(id)) this.retired.routes.set(id, zeroCounters());
      add(this.retired.routes.get(id)!, c);
    }
  }
}

/** Client connections open in a worker, by its report: every listener's, its routes' included. */
function openIn(report: WorkerReport): number {
  let n = 0;
  for (const r of Object.values(report)) {
    n += r.own.connectionsActive;
    for (const c of Object.values(r.routes)) n += c.connectionsActive;
  }
  return n;
}

const KEYS = Object.keys(zeroCounters()) as (keyof ProxyCounters)[];

function add(into: ProxyCounters, c: ProxyCounters): void {
  for (const k of KEYS) if (k !== 'connectionsActive') into[k] += c[k];
}

function assign(into: ProxyCounters, parts: (ProxyCounters | undefined)[]): void {
  for (const k of KEYS) into[k] = 0;
  for (const p of parts) if (p) for (const k of KEYS) into[k] += p[k];
}

/** Binds and releases the address here, so a port that cannot be bound fails cleanly before any worker tries. */
async function testBind(bind: { host: string; port: number }): Promise<void> {
  const s = net.createServer((c) => c.destroy()); // a client in that instant is turned away, not kept
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.listen({ host: bind.host, port: bind.port, exclusive: true }, () => resolve());
  });
  await new Promise((r) => s.close(r));
}
