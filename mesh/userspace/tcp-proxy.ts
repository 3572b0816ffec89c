/**
 * One TCP listener of the userspace mesh on Node's own TCP handles: the relay where the native one
 * (native-tcp-proxy.ts, mesh/native/tcp-relay.c) is not built, which makes the same choices faster. Each accepted
 * connection goes to a backend task and bytes are relayed both ways. A backend that refuses (or cannot be reached) before anything is relayed is skipped for the next
 * one, so a task that just died costs the client nothing.
 *
 * Connections never become net.Sockets: the server hands over each accepted connection as a bare handle
 * (tcp-handles.ts: takeConnections), the backend connection is made as one, and the two are relayed by a
 * RelayedConnection (one buffer per direction, Nagle off, half-close passed through, no per-chunk allocation or
 * event; bytes are counted by the pumps and added to the counters when the connection ends). net.Server stays
 * for what it does well: binding, errors, and sharing one listening socket with the other mesh workers.
 *
 * A wildcard listener (0.0.0.0:P) also carries the routes of specific addresses on the same port — service VIPs
 * whose target port equals a published port — because Linux refuses to bind VIP:P beside a listening 0.0.0.0:P
 * (and Node 20 has no SO_REUSEPORT). Such a connection is told apart by the address the client connected to.
 *
 * Measured (bench/mesh-relay, relay CPU per request, wrk -c32 on loopback, 27 Nov 2026; bench/README.md): with a
 * connection per request, net.Socket's onread path 269-401 µs and 2.7-4.0k req/s, bare handles 102-112 µs and
 * 7.9-8.8k req/s in the same run; kept alive both ~22 µs (the write and read system calls are the cost). Earlier
 * steps on the socket path, for the record: onread instead of pipe() saved 4-5 µs kept alive; a hand-written
 * 'data' handler and one sweep timer for pending connects measured no better than pipe().
 */
import * as net from 'node:net';
import type { Logger } from '../../control/base/log';
import { Picker, type BackendAddr, type Strategy } from './picker';
import { zeroCounters, type PortProxy, type ProxyCounters } from './port-proxy';
import { RelayedConnection } from './relayed-connection';
import { connectTcp, takeConnections, tcpHandles, uvErrorName, type TcpHandle } from './tcp-handles';

/** Traffic for one local address on a shared listener: its own backends and counters. */
export interface LocalRoute {
  backends: readonly BackendAddr[];
  strategy: Strategy;
  counters: ProxyCounters;
}

/** How long a backend may take to accept before the next one is tried. */
const CONNECT_TIMEOUT_MS = 3000;

/** A connection this listener holds: waiting for a backend, or relayed. */
interface OpenConnection {
  /** Handles open for it: the client's, and the backend's once one is being connected or relayed to. */
  handles(): number;
  queuedBytes(): number;
  /** Cuts it: its handles are closed and it leaves the open set at once. */
  close(): void;
}

export class TcpProxy implements PortProxy {
  readonly counters = zeroCounters();
  private server?: net.Server;
  private picker: Picker;
  /** Pickers and counters by local address, for connections not meant for the listener's own service. */
  private routes = new Map<string, { picker: Picker; counters: ProxyCounters }>();
  private readonly open = new Set<OpenConnection>();
  /** Open connections by task ID, for least-connections. */
  private active = new Map<string, number>();

  constructor(
    readonly bind: { host: string; port: number },
    private readonly log: Logger,
    /**
     * Listen on a socket shared with the other mesh workers (mesh-worker.ts): in a cluster worker a listen
     * that is not exclusive asks the primary for its one socket instead of binding a socket of its own.
     */
    private readonly opts: {
      shared?: boolean;
      connectTimeoutMs?: number;
      /** Asked first about every accepted connection; true when it took the connection elsewhere (accept-balance.ts). */
      handOff?: (client: TcpHandle) => boolean;
    } = {},
  ) {
    tcpHandles(); // a Node without them fails here, saying so, not at the first connection
    this.picker = new Picker([], 'round-robin', this.active);
  }

  setBackends(backends: readonly BackendAddr[], strategy: Strategy = 'round-robin'): void {
    this.picker = new Picker(backends, strategy, this.active);
  }

  /** Replaces the routes by local address (see the file comment); the rest of the traffic keeps setBackends'. */
  setLocalRoutes(routes: ReadonlyMap<string, LocalRoute>): void {
    this.routes = new Map([...routes].map(([addr, r]) => [addr, { picker: new Picker(r.backends, r.strategy, this.active), counters: r.counters }]));
  }

  async listen(): Promise<void> {
    if (this.server) return;
    const server = net.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: this.bind.host, port: this.bind.port, exclusive: !this.opts.shared }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (e) => this.log.error('listener failed', { host: this.bind.host, port: this.bind.port, err: e }));
    const handOff = this.opts.handOff;
    takeConnections(
      server,
      (client) => {
        if (!handOff?.(client)) this.accept(client);
      },
      (status) => this.log.error('accept failed', { host: this.bind.host, port: this.bind.port, err: uvErrorName(status) }),
    );
    this.server = server;
  }

  /**
   * Bytes this process holds for relaying now: read from one side and not yet taken by the kernel on the other.
   * The relay's backpressure keeps it at most one read buffer per direction of each connection.
   */
  queuedBytes(): number {
    let n = 0;
    for (const c of this.open) n += c.queuedBytes();
    return n;
  }

  /** Client connections open now (waiting for a backend, or relayed). */
  openConnections(): number {
    return this.open.size;
  }

  /** Connection handles open now (clients and backends), so tests can see that nothing outlives its connection. */
  openSockets(): number {
    let n = 0;
    for (const c of this.open) n += c.handles();
    return n;
  }

  /** Closes the listener and every connection through it. */
  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const c of [...this.open]) c.close();
    if (server) await new Promise<void>((r) => server.close(() => r()));
  }

  /** Serves a connection accepted elsewhere (another worker handed it on), as if this listener had accepted it. */
  adopt(client: TcpHandle): void {
    this.accept(client);
  }

  private accept(client: TcpHandle): void {
    let route: { picker: Picker; counters: ProxyCounters } | undefined;
    if (this.routes.size > 0) {
      const local: { address?: string } = {};
      client.getsockname(local);
      route = local.address === undefined ? undefined : this.routes.get(local.address);
    }
    const counters = route?.counters ?? this.counters;
    const picker = route?.picker ?? this.picker;
    counters.connectionsTotal++;
    counters.connectionsActive++;
    let attempt: TcpHandle | undefined; // the backend connection being made
    let timer: NodeJS.Timeout | undefined;
    const conn: OpenConnection = {
      handles: () => (attempt ? 2 : 1),
      queuedBytes: () => 0,
      close: () => {
        // Still waiting for a backend: close what is open now; a connect that completes later is ignored.
        clearTimeout(timer);
        attempt?.close();
        attempt = undefined;
        conn.close = () => undefined;
        client.close();
        counters.connectionsActive--;
        this.open.delete(conn);
      },
    };
    this.open.add(conn);

    const relay = (up: TcpHandle, taskId: string): void => {
      this.active.set(taskId, (this.active.get(taskId) ?? 0) + 1);
      const relayed = new RelayedConnection(client, up, (bytesIn, bytesOut) => {
        this.active.set(taskId, Math.max(0, (this.active.get(taskId) ?? 1) - 1));
        counters.bytesIn += bytesIn;
        counters.bytesOut += bytesOut;
        counters.connectionsActive--;
        this.open.delete(conn);
      });
      conn.queuedBytes = () => relayed.queuedBytes();
      conn.close = () => relayed.close();
      relayed.start(); // idle connections are kept: no cut after 15 minutes, unlike IPVS (moby#31208)
    };

    const start = picker.start();
    const tryBackend = (n: number): void => {
      const b = picker.pick(n, start);
      if (!b) {
        counters.rejected++;
        conn.close();
        return;
      }
      // An attempt is current while `attempt` is its handle: a failure or a close moves `attempt` on, and each
      // outcome clears the timer, so a late connect callback or timeout of an earlier attempt does nothing.
      const failed = (up: TcpHandle): void => {
        clearTimeout(timer);
        counters.backendErrors++;
        up.close();
        attempt = undefined;
        tryBackend(n + 1);
      };
      const up = connectTcp(b.host, b.port, (status) => {
        if (attempt !== up) return; // timed out, or the connection was closed meanwhile
        if (status < 0) return failed(up);
        clearTimeout(timer);
        relay(up, b.taskId);
      });
      attempt = up;
      timer = setTimeout(() => {
        if (attempt === up) failed(up);
      }, this.opts.connectTimeoutMs ?? CONNECT_TIMEOUT_MS);
    };
    tryBackend(0);
  }
}
