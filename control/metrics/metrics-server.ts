/**
 * `--metrics-addr`: an HTTP listener for Prometheus (`GET /metrics`, the text format) and for health checks
 * (`GET /healthz`: 200 when the node's components are up, 503 with the reason when not).
 */
import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';
import type { Component } from '../base/component';
import type { Logger } from '../base/log';
import { exposition } from './exposition';

export class MetricsServer implements Component {
  readonly name = 'metrics';
  private server?: Server;

  constructor(
    private readonly opts: { host: string; port: number; registry: Registry; health: () => string | undefined; log: Logger },
  ) {}

  async start(): Promise<void> {
    const server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (req.method !== 'GET' && req.method !== 'HEAD') return void res.writeHead(405).end();
      if (path === '/metrics') {
        exposition(this.opts.registry).then(
          (text) => res.writeHead(200, { 'Content-Type': this.opts.registry.contentType }).end(text),
          (e) => res.writeHead(500, { 'Content-Type': 'text/plain' }).end(String(e)),
        );
      } else if (path === '/healthz') {
        const problem = this.opts.health();
        res.writeHead(problem ? 503 : 200, { 'Content-Type': 'text/plain' }).end(problem ? `${problem}\n` : 'ok\n');
      } else res.writeHead(404, { 'Content-Type': 'text/plain' }).end('try /metrics or /healthz\n');
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.opts.port, this.opts.host, () => resolve());
    });
    this.server = server;
    this.opts.log.info('metrics listening', { address: `${this.opts.host}:${this.port}` });
  }

  get port(): number {
    const a = this.server?.address();
    return a && typeof a === 'object' ? a.port : this.opts.port;
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (s) await new Promise<void>((r) => s.close(() => r()));
    s?.closeAllConnections?.();
  }
}
