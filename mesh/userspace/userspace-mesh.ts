/**
 * The userspace mesh backend: for every ingress-published TCP port, a TcpProxy on this node (on every address,
 * or on the port's host IP) that balances across the service's running tasks by their ingress addresses. Each
 * new endpoint table is diffed against the listeners it has: new ports open, gone ports close, the rest only
 * get a new picker. (UDP, VIPs and the iptables backend come with the mesh issue.)
 */
import type { Component } from '../../control/base/component';
import type { Logger } from '../../control/base/log';
import { errorMessage } from '../../control/base/errors';
import type { EndpointSink, EndpointTable } from '../endpoint-table';
import { TcpProxy, type ProxyCounters } from './tcp-proxy';

export class UserspaceMesh implements Component, EndpointSink {
  readonly name = 'mesh-userspace';
  private proxies = new Map<string, { proxy: TcpProxy; serviceName: string }>();
  private queue: Promise<void> = Promise.resolve();

  constructor(private readonly log: Logger) {}

  async start(): Promise<void> {}

  async stop(): Promise<void> {
    await this.queue;
    for (const { proxy } of this.proxies.values()) await proxy.close();
    this.proxies.clear();
  }

  apply(table: EndpointTable): Promise<void> {
    // Applies run one after another, so listeners are never opened twice for the same port.
    this.queue = this.queue.then(() => this.sync(table)).catch((e) => this.log.error('mesh sync failed', { err: e }));
    return this.queue;
  }

  /** Counters by "service/proto/port", for metrics. */
  counters(): Map<string, { serviceName: string; counters: ProxyCounters }> {
    return new Map([...this.proxies].map(([k, v]) => [k, { serviceName: v.serviceName, counters: v.proxy.counters }]));
  }

  private async sync(table: EndpointTable): Promise<void> {
    const wanted = new Map<string, { serviceName: string; host: string; port: number; backends: { taskId: string; host: string; port: number }[] }>();
    for (const s of table.services) {
      for (const p of s.ports) {
        if (p.publishMode !== 'ingress' || p.protocol !== 'tcp') continue;
        const backends = s.backends
          .map((b) => ({ taskId: b.taskId, host: table.ingressNetworkId ? b.addrs[table.ingressNetworkId] : undefined, port: p.targetPort }))
          .filter((b): b is { taskId: string; host: string; port: number } => !!b.host);
        const host = p.hostIP ?? '0.0.0.0';
        wanted.set(`${host}/tcp/${p.publishedPort}`, { serviceName: s.serviceName, host, port: p.publishedPort, backends });
      }
    }
    for (const [key, { proxy }] of this.proxies) {
      if (wanted.has(key)) continue;
      await proxy.close();
      this.proxies.delete(key);
      this.log.info('published port closed', { port: proxy.bind.port });
    }
    for (const [key, w] of wanted) {
      let entry = this.proxies.get(key);
      if (!entry) {
        const proxy = new TcpProxy({ host: w.host, port: w.port }, this.log);
        try {
          await proxy.listen();
        } catch (e) {
          this.log.error('cannot publish port', { port: w.port, service: w.serviceName, err: errorMessage(e) });
          continue;
        }
        this.proxies.set(key, (entry = { proxy, serviceName: w.serviceName }));
        this.log.info('published port open', { port: w.port, host: w.host, service: w.serviceName });
      }
      entry.proxy.setBackends(w.backends);
    }
  }
}
