/**
 * The swarmd control-socket client: Docker Engine API v1.41 (swarm subset) over HTTP/1.1, on a unix socket
 * (`unix:///var/run/swarmd.sock`) or TCP (`tcp://host:port`, `http://...`), through undici. Daemon errors come
 * back as `{"message": ...}` and become DaemonError, which the CLI prints as docker does
 * ("Error response from daemon: ..."); a socket that cannot be reached gets its own message with the fix.
 */
import { Agent, request } from 'undici';
import { UsageError } from './flags';
import type { Network, Node, Service, ServiceSpec, NodeSpec, Swarm, Task } from '../api/types';

export const DEFAULT_HOST = 'unix:///var/run/swarmd.sock';
export const API_PREFIX = '/v1.41';

export class DaemonError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
    this.name = 'DaemonError';
  }
}

export class ConnectError extends Error {
  constructor(host: string, cause: string) {
    super(`Cannot connect to the swarmd daemon at ${host} (${cause}). Is swarmd running? Use -H or SWARMD_HOST to choose another socket.`);
    this.name = 'ConnectError';
  }
}

export type Filters = Record<string, string[]>;

export interface Info {
  Swarm: {
    NodeID: string;
    NodeAddr: string;
    LocalNodeState: string;
    ControlAvailable: boolean;
    RemoteManagers?: { NodeID: string; Addr: string }[] | null;
    Cluster?: { ID: string } | null;
  };
  [k: string]: unknown;
}

export type ServiceWithStatus = Service & { ServiceStatus?: { RunningTasks: number; DesiredTasks: number } };

export interface LogStream {
  contentType: string;
  body: AsyncIterable<Buffer>;
  close(): void;
}

export class Client {
  private readonly agent: Agent;
  private readonly origin: string;

  constructor(readonly host: string = DEFAULT_HOST) {
    if (host.startsWith('unix://')) {
      this.agent = new Agent({ connect: { socketPath: host.slice('unix://'.length) } });
      this.origin = 'http://localhost';
    } else if (host.startsWith('tcp://') || host.startsWith('http://')) {
      this.agent = new Agent();
      this.origin = 'http://' + host.replace(/^(tcp|http):\/\//, '');
    } else {
      throw new Error(`invalid host "${host}": use unix:///path/to.sock or tcp://host:port`);
    }
  }

  async close(): Promise<void> {
    await this.agent.close();
  }

  private async raw(method: 'GET' | 'POST' | 'DELETE', path: string, query: Record<string, string | undefined> = {}, body?: unknown) {
    const qs = Object.entries(query)
      .filter((e): e is [string, string] => e[1] !== undefined)
      .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`)
      .join('&');
    const url = `${this.origin}${API_PREFIX}${path}${qs ? '?' + qs : ''}`;
    try {
      return await request(url, {
        method,
        dispatcher: this.agent,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      throw new ConnectError(this.host, err.code ?? err.message);
    }
  }

  async call<T>(method: 'GET' | 'POST' | 'DELETE', path: string, query: Record<string, string | undefined> = {}, body?: unknown): Promise<T> {
    const res = await this.raw(method, path, query, body);
    const text = await res.body.text();
    if (res.statusCode >= 400) {
      let message = text.trim();
      try {
        message = (JSON.parse(text) as { message?: string }).message ?? message;
      } catch {
        /* a plain-text error body is the message */
      }
      throw new DaemonError(res.statusCode, message);
    }
    if (text === '') return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      return text as T;
    }
  }

  ping(): Promise<string> {
    return this.call('GET', '/_ping');
  }
  version(): Promise<Record<string, unknown>> {
    return this.call('GET', '/version');
  }
  info(): Promise<Info> {
    return this.call('GET', '/info');
  }

  swarmInit(body: unknown): Promise<string> {
    return this.call('POST', '/swarm/init', {}, body);
  }
  swarmJoin(body: unknown): Promise<void> {
    return this.call('POST', '/swarm/join', {}, body);
  }
  swarmInspect(): Promise<Swarm> {
    return this.call('GET', '/swarm');
  }
  swarmLeave(force: boolean): Promise<void> {
    return this.call('POST', '/swarm/leave', { force: String(force) });
  }
  swarmUpdate(version: number, spec: unknown, rotate: { worker?: boolean; manager?: boolean }): Promise<void> {
    return this.call('POST', '/swarm/update', {
      version: String(version),
      rotateWorkerToken: rotate.worker ? 'true' : undefined,
      rotateManagerToken: rotate.manager ? 'true' : undefined,
    }, spec);
  }

  nodes(filters?: Filters): Promise<Node[]> {
    return this.call('GET', '/nodes', { filters: enc(filters) });
  }
  node(id: string): Promise<Node> {
    return this.call('GET', `/nodes/${encodeURIComponent(id)}`);
  }
  nodeRemove(id: string, force: boolean): Promise<void> {
    return this.call('DELETE', `/nodes/${encodeURIComponent(id)}`, { force: force ? 'true' : undefined });
  }
  nodeUpdate(id: string, version: number, spec: NodeSpec): Promise<void> {
    return this.call('POST', `/nodes/${encodeURIComponent(id)}/update`, { version: String(version) }, spec);
  }

  services(filters?: Filters, status = false): Promise<ServiceWithStatus[]> {
    return this.call('GET', '/services', { filters: enc(filters), status: status ? 'true' : undefined });
  }
  service(id: string): Promise<Service> {
    return this.call('GET', `/services/${encodeURIComponent(id)}`, { insertDefaults: 'false' });
  }
  serviceCreate(spec: ServiceSpec): Promise<{ ID: string; Warnings?: string[] | null }> {
    return this.call('POST', '/services/create', {}, spec);
  }
  serviceUpdate(id: string, version: number, spec: ServiceSpec, rollback?: 'previous'): Promise<{ Warnings?: string[] | null }> {
    return this.call('POST', `/services/${encodeURIComponent(id)}/update`, { version: String(version), rollback }, spec);
  }
  serviceRemove(id: string): Promise<void> {
    return this.call('DELETE', `/services/${encodeURIComponent(id)}`);
  }
  async serviceLogs(id: string, query: Record<string, string | undefined>, kind: 'services' | 'tasks' = 'services'): Promise<LogStream> {
    const res = await this.raw('GET', `/${kind}/${encodeURIComponent(id)}/logs`, query);
    if (res.statusCode >= 400) {
      const text = await res.body.text();
      let message = text.trim();
      try {
        message = (JSON.parse(text) as { message?: string }).message ?? message;
      } catch {
        /* plain text */
      }
      throw new DaemonError(res.statusCode, message);
    }
    return {
      contentType: String(res.headers['content-type'] ?? ''),
      body: res.body as AsyncIterable<Buffer>,
      close: () => res.body.destroy(),
    };
  }

  tasks(filters?: Filters): Promise<Task[]> {
    return this.call('GET', '/tasks', { filters: enc(filters) });
  }
  task(id: string): Promise<Task> {
    return this.call('GET', `/tasks/${encodeURIComponent(id)}`);
  }

  networks(filters?: Filters): Promise<Network[]> {
    return this.call('GET', '/networks', { filters: enc(filters) });
  }
  network(id: string): Promise<Network> {
    return this.call('GET', `/networks/${encodeURIComponent(id)}`);
  }
  networkCreate(body: unknown): Promise<{ Id: string; Warning?: string }> {
    return this.call('POST', '/networks/create', {}, body);
  }
  networkRemove(id: string): Promise<void> {
    return this.call('DELETE', `/networks/${encodeURIComponent(id)}`);
  }
}

function enc(filters?: Filters): string | undefined {
  if (!filters || Object.keys(filters).length === 0) return undefined;
  return JSON.stringify(filters);
}

/** `-f key=value` flags → Docker's filters object. */
export function filtersFrom(items: string[]): Filters {
  const out: Filters = {};
  for (const item of items) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new UsageError(`bad format of filter (expected name=value): ${item}`);
    const key = item.slice(0, eq).trim().toLowerCase();
    (out[key] ??= []).push(item.slice(eq + 1));
  }
  return out;
}
