/**
 * One TCP listener of the userspace mesh on the native relay (mesh/native/tcp-relay.c, built by
 * scripts/build-native.sh): accepting, connecting and relaying happen in C, and this class is told three things
 * per connection — accepted (pick a backend), the backend failed (pick the next), closed (count the bytes). The
 * choices are TcpProxy's (tcp-proxy.ts, the fallback where nothing was compiled): round-robin or
 * least-connections over an immutable picker, a backend that refuses or does not accept within the connect
 * timeout skipped for the next one before a byte is relayed, routes by the address the client connected to on a
 * wildcard listener, the same counters.
 *
 * Measured (bench/README.md): the relay alone costs what HAProxy with one thread costs per request (within a few
 * µs of CPU, kept alive or a connection per request), where Node's handles cost 1.2-1.6x; nine tenths of it is
 * the kernel's.
 *
 * With `reusePort` the listener joins a SO_REUSEPORT group, so each mesh worker accepts on a socket of its own
 * (mesh-worker.ts; the pool checks first, with a plain bind, that no one else holds the port), and with
 * `spreadOver` the group hands new connections to the workers in turn (a small eBPF program in tcp-relay.c) rather
 * than by the hash of the client's address, which leaves a pool opened at once unevenly spread.
 */
import * as path from 'node:path';
import { loadNative } from '../../control/base/native-module';
import type { Logger } from '../../control/base/log';
import { Picker, type BackendAddr, type Strategy } from './picker';
import { zeroCounters, type PortProxy, type ProxyCounters } from './port-proxy';
import type { LocalRoute } from './tcp-proxy';
import { uvErrorName } from './tcp-handles';

interface NativeTcpRelay {
  listen(
    address: string,
    port: number,
    reusePort: boolean,
    connectTimeoutMs: number,
    onAccept: (id: number | null, localOrError: string | number | undefined) => void,
    onConnectFailed: (id: number, status: number) => void,
    onClosed: (id: number, bytesIn: number, bytesOut: number) => void,
  ): object;
  localPort(l: object): number;
  /** 0, or a negative errno: the listener's SO_REUSEPORT group hands connections over its first n sockets in turn. */
  spreadInTurn(l: object, n: number): number;
  wantLocalAddress(l: object, on: boolean): void;
  /** [open connections, their sockets, bytes waiting to be written]. */
  stats(l: object): [number, number, number];
  closeListener(l: object): void;
  /** 0: under way (a failure comes to onConnectFailed); a negative errno: failed at once. */
  connect(id: number, address: string, port: number): number;
  /** Closes now, without onClosed; returns [bytesIn, bytesOut]. */
  cut(id: number): [number, number];
}

const NATIVE_PATH = path.join(__dirname, '..', 'native', 'tcp-relay.node');
let loaded: NativeTcpRelay | Error | undefined;

/** The native relay, or why it cannot be used (with the fix). Loaded once. */
export function tcpRelayNative(file = NATIVE_PATH): NativeTcpRelay | Error {
  if (file !== NATIVE_PATH) return load(file);
  return (loaded ??= load(file));
}

const load = (file: string): NativeTcpRelay | Error => loadNative<NativeTcpRelay>(file, 'the native TCP relay', 'epoll');

/** Which relay serves the userspace mesh's TCP listeners: this file's, or TcpProxy on Node's TCP handles. */
export type TcpRelayKind = 'native' | 'handles';

/**
 * `wanted`, or by default the native relay where it is built and Node's handles (said in the log) where it is
 * not. Throws, with the fix, when the native relay is wanted and not built.
 */
export function chooseTcpRelay(wanted: TcpRelayKind | undefined, log: Logger, nativePath?: string): TcpRelayKind {
  if (wanted === 'handles') return wanted;
  const native = tcpRelayNative(nativePath);
  if (!(native instanceof Error)) return 'native';
  if (wanted === 'native') throw native;
  log.warn('userspace mesh: relaying TCP through Node (slower); ' + native.message);
  return 'handles';
}

/** How long a backend may take to accept before the next one is tried. */
const CONNECT_TIMEOUT_MS = 3000;

/** A connection from accept to close: where it came in, and which attempt at which backend it is on. */
interface Connection {
  counters: ProxyCounters;
  picker: Picker;
  start: number;
  attempt: number;
  /** The task being connected or relayed to. */
  taskId?: string;
}

export class NativeTcpProxy implements PortProxy {
  readonly counters = zeroCounters();
  private readonly native: NativeTcpRelay;
  private listener?: object;
  private picker: Picker;
  private routes = new Map<string, { picker: Picker; counters: ProxyCounters }>();
  /** Open connections by the relay's ID (small integers, reused after a close). */
  private readonly conns: (Connection | undefined)[] = [];
  /** Connections open or being opened, by task ID, for least-connections. */
  private readonly active = new Map<string, number>();

  constructor(
    readonly bind: { host: string; port: number },
    private readonly log: Logger,
    private readonly opts: {
      /** Join the SO_REUSEPORT group on the address and port (mesh workers: one socket each). */
      reusePort?: boolean;
      /** With reusePort: the group has this many sockets, which get new connections in turn. */
      spreadOver?: number;
      connectTimeoutMs?: number;
      nativePath?: string;
    } = {},
  ) {
    const native = tcpRelayNative(opts.nativePath);
    if (native instanceof Error) throw native;
    this.native = native;
    this.picker = new Picker([], 'round-robin', this.active);
  }

  setBackends(backends: readonly BackendAddr[], strategy: Strategy = 'round-robin'): void {
    this.picker = new Picker(backends, strategy, this.active);
  }

  /** Routes by local address on a wildcard listener (tcp-proxy.ts explains why); the rest keep setBackends'. */
  setLocalRoutes(routes: ReadonlyMap<string, LocalRoute>): void {
    this.routes = new Map([...routes].map(([addr, r]) => [addr, { picker: new Picker(r.backends, r.strategy, this.active), counters: r.counters }]));
    if (this.listener) this.native.wantLocalAddress(this.listener, this.routes.size > 0);
  }

  async listen(): Promise<void> {
    if (this.listener) return;
    const { host, port } = this.bind;
    try {
      this.listener = this.native.listen(
        host,
        port,
        this.opts.reusePort ?? false,
        this.opts.connectTimeoutMs ?? CONNECT_TIMEOUT_MS,
        this.onAccept,
        this.onConnectFailed,
        this.onClosed,
      );
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      throw Object.assign(new Error(`listen ${err.code ?? ''} on ${host}:${port}: ${err.message}`), { code: err.code });
    }
    if (this.routes.size > 0) this.native.wantLocalAddress(this.listener, true);
    const n = this.opts.spreadOver ?? 1;
    if (this.opts.reusePort && n > 1) {
      const err = this.native.spreadInTurn(this.listener, n);
      if (err) this.log.warn('connections are spread over the mesh workers by address hash, not in turn (unevenly for a pool opened at once)', { port, err: uvErrorName(err) });
    }
  }

  /** The port bound (the one asked for, or the kernel's pick for port 0). */
  localPort(): number | undefined {
    return this.listener ? this.native.localPort(this.listener) : undefined;
  }

  /** Bytes read from one side and not yet taken by the kernel on the other: at most a buffer per direction. */
  queuedBytes(): number {
    return this.listener ? this.native.stats(this.listener)[2] : 0;
  }

  /** Client connections open now (waiting for a backend, or relayed). */
  openConnections(): number {
    return this.listener ? this.native.stats(this.listener)[0] : 0;
  }

  /** Sockets open for them (clients and backends), so tests can see that nothing outlives its connection. */
  openSockets(): number {
    return this.listener ? this.native.stats(this.listener)[1] : 0;
  }

  /** Closes the listener and every connection through it (their bytes are counted). */
  async close(): Promise<void> {
    const listener = this.listener;
    if (!listener) return;
    this.listener = undefined;
    this.conns.forEach((c, id) => {
      if (!c) return;
      const [bytesIn, bytesOut] = this.native.cut(id);
      this.finish(id, c, bytesIn, bytesOut);
    });
    this.native.closeListener(listener);
  }

  private readonly onAccept = (id: number | null, localOrError: string | number | undefined): void => {
    if (id === null) {
      this.log.error('accept failed', { host: this.bind.host, port: this.bind.port, err: uvErrorName(localOrError as number) });
      return;
    }
    const route = typeof localOrError === 'string' ? this.routes.get(localOrError) : undefined;
    const counters = route?.counters ?? this.counters;
    const picker = route?.picker ?? this.picker;
    counters.connectionsTotal++;
    counters.connectionsActive++;
    const c: Connection = { counters, picker, start: picker.start(), attempt: 0 };
    this.conns[id] = c;
    this.connectNext(id, c);
  };

  /** Tries the connection's next backend; with none left the client is closed (counted as rejected). */
  private connectNext(id: number, c: Connection): void {
    for (;;) {
      const b = c.picker.pick(c.attempt, c.start);
      if (!b) {
        c.counters.rejected++;
        this.native.cut(id);
        this.finish(id, c, 0, 0);
        return;
      }
      if (this.native.connect(id, b.host, b.port) === 0) {
        c.taskId = b.taskId;
        this.active.set(b.taskId, (this.active.get(b.taskId) ?? 0) + 1);
        return; // idle connections are kept: no cut after 15 minutes, unlike IPVS (moby#31208)
      }
      c.counters.backendErrors++;
      c.attempt++;
    }
  }

  private readonly onConnectFailed = (id: number): void => {
    const c = this.conns[id];
    if (!c) return;
    c.counters.backendErrors++;
    this.release(c);
    c.attempt++;
    this.connectNext(id, c);
  };

  private readonly onClosed = (id: number, bytesIn: number, bytesOut: number): void => {
    const c = this.conns[id];
    if (c) this.finish(id, c, bytesIn, bytesOut);
  };

  private finish(id: number, c: Connection, bytesIn: number, bytesOut: number): void {
    this.conns[id] = undefined;
    this.release(c);
    c.counters.bytesIn += bytesIn;
    c.counters.bytesOut += bytesOut;
    c.counters.connectionsActive--;
  }

  private release(c: Connection): void {
    if (c.taskId === undefined) return;
    this.active.set(c.taskId, Math.max(0, (this.active.get(c.taskId) ?? 1) - 1));
    c.taskId = undefined;
  }
}
