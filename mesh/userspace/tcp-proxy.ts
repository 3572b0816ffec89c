/**
 * One published TCP port in userspace: a listener that hands each connection to a backend task and copies
 * bytes both ways. A backend that refuses (or cannot be reached) before the first byte is exchanged is skipped
 * for the next one, so a task that just died costs the client nothing. Counters per port feed metrics.
 */
import * as net from 'node:net';
import type { Logger } from '../../control/base/log';
import { Picker, type Strategy } from './picker';

export interface ProxyCounters {
  connectionsTotal: number;
  connectionsActive: number;
  bytesIn: number;
  bytesOut: number;
  backendErrors: number;
  /** Connections closed because no backend could take them. */
  rejected: number;
}

const CONNECT_TIMEOUT_MS = 3000;

export class TcpProxy {
  readonly counters: ProxyCounters = { connectionsTotal: 0, connectionsActive: 0, bytesIn: 0, bytesOut: 0, backendErrors: 0, rejected: 0 };
  private server?: net.Server;
  private picker: Picker;
  private sockets = new Set<net.Socket>();
  private active = new Map<string, number>();

  constructor(
    readonly bind: { host: string; port: number },
    private readonly log: Logger,
    private readonly strategy: Strategy = 'round-robin',
  ) {
    this.picker = new Picker([], strategy, this.active);
  }

  setBackends(backends: { taskId: string; host: string; port: number }[]): void {
    this.picker = new Picker(backends, this.strategy, this.active);
  }

  async listen(): Promise<void> {
    const server = net.createServer({ noDelay: true }, (client) => this.accept(client));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: this.bind.host, port: this.bind.port, exclusive: true }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (e) => this.log.error('listener failed', { port: this.bind.port, err: e }));
    this.server = server;
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    if (server) await new Promise<void>((r) => server.close(() => r()));
  }

  private accept(client: net.Socket): void {
    this.counters.connectionsTotal++;
    this.counters.connectionsActive++;
    this.sockets.add(client);
    client.on('error', () => undefined);
    client.pause();
    const picker = this.picker;
    const start = picker.start();
    const tryBackend = (attempt: number): void => {
      const b = picker.pick(attempt, start);
      if (!b) {
        this.counters.rejected++;
        client.destroy();
        return;
      }
      const upstream = net.connect({ host: b.host, port: b.port, noDelay: true });
      upstream.setTimeout(CONNECT_TIMEOUT_MS);
      const failed = () => {
        this.counters.backendErrors++;
        upstream.destroy();
        tryBackend(attempt + 1);
      };
      upstream.once('error', failed);
      upstream.once('timeout', failed);
      upstream.once('connect', () => {
        upstream.off('error', failed);
        upstream.off('timeout', failed);
        upstream.setTimeout(0); // idle connections are kept: no cut after 15 minutes, unlike IPVS (moby#31208)
        this.splice(client, upstream, b.taskId);
      });
    };
    tryBackend(0);
  }

  private splice(client: net.Socket, upstream: net.Socket, taskId: string): void {
    this.sockets.add(upstream);
    this.active.set(taskId, (this.active.get(taskId) ?? 0) + 1);
    client.on('data', (d) => (this.counters.bytesIn += d.length));
    upstream.on('data', (d) => (this.counters.bytesOut += d.length));
    upstream.on('error', () => undefined);
    let closed = false;
    const done = () => {
      if (closed) return;
      closed = true;
      this.counters.connectionsActive--;
      this.active.set(taskId, Math.max(0, (this.active.get(taskId) ?? 1) - 1));
      this.sockets.delete(client);
      this.sockets.delete(upstream);
      client.destroy();
      upstream.destroy();
    };
    client.pipe(upstream);
    upstream.pipe(client);
    client.once('close', done);
    upstream.once('close', done);
    client.resume();
  }
}
