/**
 * One UDP listener of the userspace mesh. UDP has no connections, so the proxy makes flows: the first datagram
 * from a client address:port picks a backend and opens a dgram socket connected to it; later datagrams of that
 * client follow the same flow, and the backend's replies go back to the client from the listening socket (the
 * address the client wrote to, as it expects). A flow ends after it has been idle for `idleMs` (30 s default,
 * like conntrack's UDP stream timeout), or at once when its backend leaves the set or answers with an ICMP error
 * (ECONNREFUSED on a connected socket): the client's next datagram picks again, so a dead task is routed around
 * without waiting for the timeout.
 *
 * The listening socket sets SO_REUSEADDR so that a VIP:P socket and a wildcard 0.0.0.0:P socket (a published
 * port) can both exist; Linux delivers each datagram to the most specific bind. A program that does not set it
 * still gets (and causes) EADDRINUSE as usual.
 *
 * Expiry needs no timer per flow: each flow keeps its last-active time and one sweep timer is set for the
 * earliest possible expiry.
 */
import * as dgram from 'node:dgram';
import { isIP } from 'node:net';
import type { Clock, Timer } from '../../control/base/clock';
import { literalLookup } from '../../control/base/literal-lookup';
import type { Logger } from '../../control/base/log';
import { Picker, backendKey, type BackendAddr, type Strategy } from './picker';
import { zeroCounters, type PortProxy } from './port-proxy';

export const DEFAULT_UDP_IDLE_MS = 30_000;
/** Datagrams held for a flow while its socket connects; more than this and the oldest are dropped, as UDP may. */
const MAX_PENDING = 64;

interface Flow {
  client: { address: string; port: number };
  backend: BackendAddr;
  key: string;
  socket: dgram.Socket;
  /** Datagrams that arrived before the backend socket was connected. */
  pending: Buffer[] | undefined;
  lastActive: number;
}

export interface UdpProxyOptions {
  clock: Clock;
  log: Logger;
  idleMs?: number;
}

export class UdpProxy implements PortProxy {
  readonly counters = zeroCounters();
  private socket?: dgram.Socket;
  private picker: Picker;
  /** Flows by client "address:port". */
  private flows = new Map<string, Flow>();
  /** Open flows by task ID, for least-connections. */
  private active = new Map<string, number>();
  private sweep?: Timer;
  private sweepAt = Infinity;
  private readonly idleMs: number;

  constructor(
    readonly bind: { host: string; port: number },
    private readonly opts: UdpProxyOptions,
  ) {
    this.idleMs = opts.idleMs ?? DEFAULT_UDP_IDLE_MS;
    this.picker = new Picker([], 'round-robin', this.active);
  }

  /** Flows open now (for tests and debugging). */
  get flowCount(): number {
    return this.flows.size;
  }

  setBackends(backends: readonly BackendAddr[], strategy: Strategy = 'round-robin'): void {
    this.picker = new Picker(backends, strategy, this.active);
    const still = new Set(backends.map(backendKey));
    for (const flow of this.flows.values()) if (!still.has(backendKey(flow.backend))) this.endFlow(flow);
  }

  async listen(): Promise<void> {
    if (this.socket) return;
    // Replies go to clients' source addresses, IP literals: no name lookup (and its nextTick) per datagram.
    const socket = dgram.createSocket({ type: isIP(this.bind.host) === 6 ? 'udp6' : 'udp4', reuseAddr: true, lookup: literalLookup });
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('error', reject);
        socket.bind({ address: this.bind.host, port: this.bind.port, exclusive: true }, () => {
          socket.off('error', reject);
          resolve();
        });
      });
    } catch (e) {
      socket.close();
      throw e;
    }
    socket.on('error', (e) => this.opts.log.error('udp listener failed', { host: this.bind.host, port: this.bind.port, err: e }));
    socket.on('message', (msg, rinfo) => this.receive(msg, rinfo));
    this.socket = socket;
  }

  async close(): Promise<void> {
    for (const flow of this.flows.values()) this.endFlow(flow);
    this.sweep?.cancel();
    this.sweep = undefined;
    this.sweepAt = Infinity;
    const socket = this.socket;
    this.socket = undefined;
    if (socket) await new Promise<void>((r) => socket.close(() => r()));
  }

  private receive(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    const key = `${rinfo.address}:${rinfo.port}`;
    let flow = this.flows.get(key);
    if (!flow) {
      flow = this.openFlow(key, rinfo);
      if (!flow) {
        this.counters.rejected++;
        return;
      }
    }
    flow.lastActive = this.opts.clock.now();
    this.counters.bytesIn += msg.length;
    if (flow.pending) {
      if (flow.pending.length >= MAX_PENDING) flow.pending.shift();
      flow.pending.push(msg);
    } else flow.socket.send(msg);
  }

  private openFlow(key: string, rinfo: dgram.RemoteInfo): Flow | undefined {
    const backend = this.picker.pick(0, this.picker.start());
    if (!backend) return undefined;
    const socket = dgram.createSocket({ type: isIP(backend.host) === 6 ? 'udp6' : 'udp4', lookup: literalLookup });
    const flow: Flow = { client: { address: rinfo.address, port: rinfo.port }, backend, key, socket, pending: [], lastActive: this.opts.clock.now() };
    this.flows.set(key, flow);
    this.active.set(backend.taskId, (this.active.get(backend.taskId) ?? 0) + 1);
    this.counters.connectionsTotal++;
    this.counters.connectionsActive++;
    // ICMP port unreachable arrives as ECONNREFUSED on a connected socket; whatever the error, the flow ends
    // and the client's next datagram picks a backend again.
    socket.on('error', () => {
      if (this.flows.get(key) !== flow) return;
      this.counters.backendErrors++;
      this.endFlow(flow);
    });
    socket.on('message', (reply) => {
      if (this.flows.get(key) !== flow || !this.socket) return;
      flow.lastActive = this.opts.clock.now();
      this.counters.bytesOut += reply.length;
      this.socket.send(reply, flow.client.port, flow.client.address);
    });
    socket.connect(backend.port, backend.host, () => {
      const queued = flow.pending ?? [];
      flow.pending = undefined;
      if (this.flows.get(key) !== flow) return;
      for (const m of queued) socket.send(m);
    });
    this.scheduleSweep(flow.lastActive + this.idleMs);
    return flow;
  }

  private endFlow(flow: Flow): void {
    if (this.flows.get(flow.key) !== flow) return;
    this.flows.delete(flow.key);
    this.counters.connectionsActive--;
    const n = this.active.get(flow.backend.taskId) ?? 1;
    if (n <= 1) this.active.delete(flow.backend.taskId);
    else this.active.set(flow.backend.taskId, n - 1);
    flow.socket.removeAllListeners('message');
    try {
      flow.socket.close();
    } catch {
      // closing a socket whose connect has not finished can throw ERR_SOCKET_DGRAM_NOT_RUNNING; it is gone either way
    }
  }

  private scheduleSweep(at: number): void {
    if (at >= this.sweepAt) return;
    this.sweep?.cancel();
    this.sweepAt = at;
    this.sweep = this.opts.clock.setTimeout(() => this.expire(), Math.max(0, at - this.opts.clock.now()));
  }

  private expire(): void {
    this.sweep = undefined;
    this.sweepAt = Infinity;
    const now = this.opts.clock.now();
    let next = Infinity;
    for (const flow of this.flows.values()) {
      const due = flow.lastActive + this.idleMs;
      if (due <= now) this.endFlow(flow);
      else if (due < next) next = due;
    }
    if (next < Infinity) this.scheduleSweep(next);
  }
}
