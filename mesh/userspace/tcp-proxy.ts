/**
 * One TCP listener of the userspace mesh: each accepted connection goes to a backend task and bytes are relayed
 * both ways. A backend that refuses (or cannot be reached) before anything is relayed is skipped for the next
 * one, so a task that just died costs the client nothing.
 *
 * The relay is kept tight for the hot path: Nagle off on both sides, pipe() (which applies backpressure), no
 * per-chunk listener — bytes are counted once at close from the sockets' own totals — and half-close passed
 * through (allowHalfOpen), so a client that shuts down its sending side (`nc -N`, HTTP/1.0 clients) still gets
 * the whole response.
 *
 * A wildcard listener (0.0.0.0:P) also carries the routes of specific addresses on the same port — service VIPs
 * whose target port equals a published port — because Linux refuses to bind VIP:P beside a listening 0.0.0.0:P
 * (and Node 20 has no SO_REUSEPORT). Such a connection is told apart by the address the client connected to.
 *
 * pipe() stays: a hand-written 'data' handler per direction that pauses on backpressure measured no better (CPU
 * per request through this proxy on loopback, five alternating runs each: 25 vs 27 µs kept alive, 235 vs 241 µs
 * with a connection per request), so the standard, well-trodden path is kept.
 */
import * as net from 'node:net';
import type { Logger } from '../../control/base/log';
import { Picker, type BackendAddr, type Strategy } from './picker';
import { zeroCounters, type PortProxy, type ProxyCounters } from './port-proxy';

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

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    if (server) await new Promise<void>((r) => server.close(() => r()));
  }

  private accept(client: net.Socket): void {
    const route = this.routes.size > 0 && client.localAddress ? this.routes.get(client.localAddress) : undefined;
    const counters = route?.counters ?? this.counters;
    const picker = route?.picker ?? this.picker;
    counters.connectionsTotal++;
    counters.connectionsActive++;
    this.sockets.add(client);
    let upstream: net.Socket | undefined;
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
    };
    const abort = (): void => {
      client.destroy();
      upstream?.destroy();
    };
    client.on('error', abort);
    client.once('close', () => {
      clientClosed = true;
      if (taskId === undefined) {
        upstream?.destroy(); // still connecting: nobody is waiting for it any more
        finish();
      } else if (upstreamClosed) finish();
    });

    const start = picker.start();
    const tryBackend = (attempt: number): void => {
      if (clientClosed) return;
      const b = picker.pick(attempt, start);
      if (!b) {
        counters.rejected++;
        client.destroy();
        return;
      }
      const up = net.connect({ host: b.host, port: b.port, noDelay: true, allowHalfOpen: true });
      upstream = up;
      this.sockets.add(up);
      up.setTimeout(CONNECT_TIMEOUT_MS);
      const failed = (): void => {
        counters.backendErrors++;
        this.sockets.delete(up);
        up.destroy();
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
        // pipe() ends the other side's writable half when one side's readable ends, so a half-close passes
        // through; an error (RST) on either side tears both down.
        client.pipe(up);
        up.pipe(client);
        client.resume();
      });
    };
    tryBackend(0);
  }
}
