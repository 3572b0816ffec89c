/**
 * One TCP listener of the userspace mesh: each accepted connection goes to a backend task and bytes are relayed
 * both ways. A backend that refuses (or cannot be reached) before anything is relayed is skipped for the next
 * one, so a task that just died costs the client nothing.
 *
 * The relay is kept tight for the hot path: Nagle off on both sides; each direction is a RelayPump
 * (relay-pump.ts) reading with net.Socket's `onread` into one buffer per direction and writing straight to the
 * other socket, pausing on backpressure; no per-chunk listener — bytes are counted once at close from the
 * sockets' own totals — and half-close passed through (allowHalfOpen), so a client that shuts down its sending
 * side (`nc -N`, HTTP/1.0 clients) still gets the whole response.
 *
 * A wildcard listener (0.0.0.0:P) also carries the routes of specific addresses on the same port — service VIPs
 * whose target port equals a published port — because Linux refuses to bind VIP:P beside a listening 0.0.0.0:P
 * (and Node 20 has no SO_REUSEPORT). Such a connection is told apart by the address the client connected to.
 *
 * Measured (bench/mesh-relay: relay CPU per request, wrk -c32 on loopback, pipe() and onread builds taking turns,
 * 27 Nov 2026, load 2.4-4 on 2 cores; bench/README.md has the table): kept alive, pipe() 20.8-26.9 µs → onread
 * 16.4-22.7 µs, lower in all four sets (onread from the backend only: no better than pipe()); the profile's write
 * syscall share goes from 66% to 80%, streams/ticks/GC from 34% to 20%. With a connection per request the sets
 * disagree (−25% to +49%, 153-263 µs): the accepted connection moving to an onread socket costs a third Socket
 * (~9 µs), and the kernel's accept/connect/close dominate. In the namespace lab (bench/mesh, A B A B A B, load
 * 0.9-1.9 before, 3-6 during) kept alive: before 0.50-1.01x HAProxy nbthread 1 and 0.70-0.99x a naive pipe()
 * proxy; after 0.64-0.89x HAProxy (p99 0.94-1.14x) and 1.05-1.69x naive; the lab's noise is as large as the gain.
 * Earlier: a hand-written 'data' handler per direction measured no better than pipe() (25 vs 27 µs kept alive,
 * 235 vs 241 µs per connection), nor did one sweep timer for pending connects (257 vs 247 µs).
 */
import * as net from 'node:net';
import type { Logger } from '../../control/base/log';
import { Picker, type BackendAddr, type Strategy } from './picker';
import { zeroCounters, type PortProxy, type ProxyCounters } from './port-proxy';
import { RelayPump, withOnread } from './relay-pump';

/** Traffic for one local address on a shared listener: its own backends and counters. */
export interface LocalRoute {
  backends: readonly BackendAddr[];
  strategy: Strategy;
  counters: ProxyCounters;
}

const CONNECT_TIMEOUT_MS = 3000;

export class TcpProxy implements PortProxy {
  readonly counters = zeroCounters();
  private server?: net.Server;
  private picker: Picker;
  /** Pickers and counters by local address, for connections not meant for the listener's own service. */
  private routes = new Map<string, { picker: Picker; counters: ProxyCounters }>();
  private sockets = new Set<net.Socket>();
  /** Open connections by task ID, for least-connections. */
  private active = new Map<string, number>();

  constructor(
    readonly bind: { host: string; port: number },
    private readonly log: Logger,
    /**
     * Listen on a socket shared with the other mesh workers (mesh-worker.ts): in a cluster worker a listen
     * that is not exclusive asks the primary for its one socket instead of binding a socket of its own.
     */
    private readonly opts: { shared?: boolean } = {},
  ) {
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
    const server = net.createServer({ noDelay: true, allowHalfOpen: true, pauseOnConnect: true }, (client) => this.accept(client));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: this.bind.host, port: this.bind.port, exclusive: !this.opts.shared }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (e) => this.log.error('listener failed', { host: this.bind.host, port: this.bind.port, err: e }));
    this.server = server;
  }

  /**
   * Bytes this process holds for relaying now: read from one side and not yet taken by the kernel on the other.
   * The relay's backpressure keeps it at most one read buffer per direction of each connection.
   */
  queuedBytes(): number {
    let n = 0;
    for (const s of this.sockets) n += s.writableLength;
    return n;
  }

  /** Sockets open now (clients and backends), so tests can see that nothing outlives its connection. */
  openSockets(): number {
    return this.sockets.size;
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    if (server) await new Promise<void>((r) => server.close(() => r()));
  }

  private accept(accepted: net.Socket): void {
    const route = this.routes.size > 0 && accepted.localAddress ? this.routes.get(accepted.localAddress) : undefined;
    const counters = route?.counters ?? this.counters;
    const picker = route?.picker ?? this.picker;
    counters.connectionsTotal++;
    counters.connectionsActive++;
    let client = accepted; // replaced by a socket reading with onread once a backend took the connection
    this.sockets.add(client);
    let upstream: net.Socket | undefined;
    let toClient: RelayPump | undefined; // reads the backend, writes the client
    let toUpstream: RelayPump | undefined; // reads the client, writes the backend
    let taskId: string | undefined; // set once a backend took the connection
    let clientClosed = false;
    let upstreamClosed = false;
    let finished = false;
    // One end for every path (relayed, rejected, client gone while connecting), so the counters stay exact. It
    // runs only once both sockets are fully closed: destroying a socket early would drop response bytes still
    // queued for a client that half-closed.
    const finish = (): void => {
      if (finished) return;
      finished = true;
      counters.connectionsActive--;
      if (taskId !== undefined) {
        this.active.set(taskId, Math.max(0, (this.active.get(taskId) ?? 1) - 1));
        counters.bytesIn += client.bytesRead;
        counters.bytesOut += client.bytesWritten;
      }
      this.sockets.delete(client);
      if (upstream) this.sockets.delete(upstream);
      toClient?.release();
      toUpstream?.release();
    };
    const abort = (): void => {
      client.destroy();
      upstream?.destroy();
    };
    const onClientClose = (): void => {
      clientClosed = true;
      if (taskId === undefined) {
        upstream?.destroy(); // still connecting: nobody is waiting for it any more
        finish();
      } else if (upstreamClosed) finish();
    };
    client.on('error', abort);
    client.once('close', onClientClose);

    const start = picker.start();
    const tryBackend = (attempt: number): void => {
      if (clientClosed) return;
      const b = picker.pick(attempt, start);
      if (!b) {
        counters.rejected++;
        client.destroy();
        return;
      }
      const pump = new RelayPump();
      const up = net.connect({ host: b.host, port: b.port, noDelay: true, allowHalfOpen: true, onread: pump.onread });
      upstream = up;
      this.sockets.add(up);
      up.setTimeout(CONNECT_TIMEOUT_MS);
      const failed = (): void => {
        counters.backendErrors++;
        this.sockets.delete(up);
        up.destroy(); // its handle reads no more: the pump's buffer can serve the next connection
        pump.release();
        upstream = undefined;
        tryBackend(attempt + 1);
      };
      up.once('error', failed);
      up.once('timeout', failed);
      up.once('connect', () => {
        up.off('error', failed);
        up.off('timeout', failed);
        up.setTimeout(0); // idle connections are kept: no cut after 15 minutes, unlike IPVS (moby#31208)
        if (clientClosed) return void up.destroy();
        taskId = b.taskId;
        this.active.set(taskId, (this.active.get(taskId) ?? 0) + 1);
        up.on('error', abort);
        up.once('close', () => {
          upstreamClosed = true;
          if (clientClosed) finish();
        });
        // The accepted socket has read nothing yet (pauseOnConnect): its connection moves to a socket that
        // reads with onread too (relay-pump.ts: withOnread). A half-close passes through both ways: the side
        // that sent its FIN gets ours on the other connection after everything it sent, while the other
        // direction keeps flowing (allowHalfOpen on every socket).
        const pumpUp = new RelayPump();
        const reading = withOnread(client, pumpUp.onread);
        if (reading) {
          toUpstream = pumpUp;
          client.off('error', abort);
          client.off('close', onClientClose);
          this.sockets.delete(client);
          client = reading;
          this.sockets.add(client);
          client.on('error', abort);
          client.once('close', onClientClose);
          toUpstream.connect(client, up);
          client.once('end', () => up.end());
        } else {
          client.pipe(up); // a Node where the handle cannot move: the stream path, which ends up on the FIN
          client.resume();
        }
        const c = client;
        toClient = pump;
        toClient.connect(up, c);
        up.once('end', () => c.end());
      });
    };
    tryBackend(0);
  }
}
