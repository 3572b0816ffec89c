/**
 * Pure: which listeners the userspace mesh on this node should have for an endpoint table, and where each one
 * sends traffic. Three kinds:
 *   - ingress: a published port (routing mesh) on every address of the node, or on its host IP, balanced over
 *     all of the service's tasks by their ingress-network addresses at the target port;
 *   - host: a `mode=host` published port, only on a node running a task of the service, straight to the tasks
 *     of this node (by their ingress address: a service that publishes a port joins ingress, see the allocator);
 *   - vip: VIP:targetPort for every declared port of a vip-mode service on each network it has a VIP on,
 *     balanced over the tasks' addresses on that same network (the VIP is a /32 on the node's lo, so tasks
 *     reach it through their bridge). dnsrr services have no VIP and get no listener.
 * `loopbackOnly` keeps just the ingress ports, on 127.0.0.1: what runs beside the iptables mesh, which leaves
 * the node's loopback alone (route_localnet, CVE-2020-8558).
 * SCTP ports are skipped: Node has no SCTP sockets.
 *
 * Then socketsFor() decides which listeners share a socket: Linux will not bind VIP:P for TCP while 0.0.0.0:P
 * listens, so a TCP listener on a specific address rides on the wildcard one of its port when there is one
 * (told apart by local address). UDP sockets can coexist (SO_REUSEADDR, most specific bind wins).
 */
import type { EndpointBackend, EndpointPort, EndpointTable, ServiceEndpoint } from '../endpoint-table';
import type { BackendAddr, Strategy } from './picker';

export type ListenerKind = 'ingress' | 'host' | 'vip';

export interface ListenerSpec {
  /** "proto/host/port": two listeners with the same key are one socket. */
  key: string;
  kind: ListenerKind;
  serviceName: string;
  protocol: 'tcp' | 'udp';
  host: string;
  port: number;
  strategy: Strategy;
  backends: BackendAddr[];
}

export interface ListenerPlanOptions {
  /** This node: host-mode ports go only to its tasks. Without it every task counts as local (a single node). */
  nodeId?: string;
  /** Only ingress-published ports, bound to the loopback address. */
  loopbackOnly?: boolean;
}

const LOOPBACK = '127.0.0.1';
const isLoopback = (ip: string): boolean => ip.startsWith('127.');

export function planListeners(table: EndpointTable, opts: ListenerPlanOptions = {}): Map<string, ListenerSpec> {
  const out = new Map<string, ListenerSpec>();
  const add = (s: ServiceEndpoint, kind: ListenerKind, protocol: 'tcp' | 'udp', host: string, port: number, backends: BackendAddr[]): void => {
    const key = `${protocol}/${host}/${port}`;
    // First claim wins: the API refuses duplicate published ports, and two declared ports with the same
    // target port are one VIP listener with the same backends.
    if (out.has(key)) return;
    out.set(key, { key, kind, serviceName: s.serviceName, protocol, host, port, strategy: s.balance ?? 'round-robin', backends });
  };
  const ingressId = table.ingressNetworkId;
  for (const s of table.services) {
    for (const p of s.ports) {
      if (p.protocol === 'sctp') continue;
      const protocol = p.protocol;
      if (p.publishMode === 'ingress') {
        const host = opts.loopbackOnly ? loopbackHost(p) : (p.hostIP ?? '0.0.0.0');
        if (host === undefined) continue;
        add(s, 'ingress', protocol, host, p.publishedPort, addrsOn(s.backends, ingressId, p.targetPort));
      } else if (!opts.loopbackOnly) {
        const local = s.backends.filter((b) => opts.nodeId === undefined || b.nodeId === opts.nodeId);
        const backends = local.flatMap((b) => {
          const host = (ingressId ? b.addrs[ingressId] : undefined) ?? Object.values(b.addrs)[0];
          return host ? [{ taskId: b.taskId, host, port: p.targetPort }] : [];
        });
        // No local task, no listener: the port belongs to whichever node runs one.
        if (backends.length > 0) add(s, 'host', protocol, p.hostIP ?? '0.0.0.0', p.publishedPort, backends);
      }
    }
    if (s.mode !== 'vip' || opts.loopbackOnly) continue;
    for (const [networkId, vip] of Object.entries(s.vips)) {
      for (const p of s.ports) {
        if (p.protocol === 'sctp') continue;
        add(s, 'vip', p.protocol, vip, p.targetPort, addrsOn(s.backends, networkId, p.targetPort));
      }
    }
  }
  return out;
}

/** In loopback-only mode: 127.0.0.1 for a port on every address, the port's own address if that is a loopback one. */
function loopbackHost(p: EndpointPort): string | undefined {
  if (p.hostIP === undefined) return LOOPBACK;
  return isLoopback(p.hostIP) ? p.hostIP : undefined;
}

function addrsOn(backends: EndpointBackend[], networkId: string | undefined, port: number): BackendAddr[] {
  if (!networkId) return [];
  const out: BackendAddr[] = [];
  for (const b of backends) {
    const host = b.addrs[networkId];
    if (host) out.push({ taskId: b.taskId, host, port });
  }
  return out;
}

export interface SocketPlan {
  /** The listener that owns the socket (its host and port are what is bound). */
  spec: ListenerSpec;
  /** TCP listeners on specific addresses carried by this wildcard socket, by local address. */
  routes: Map<string, ListenerSpec>;
}

const ANY = '0.0.0.0';

export function socketsFor(plan: Map<string, ListenerSpec>): Map<string, SocketPlan> {
  const out = new Map<string, SocketPlan>();
  for (const spec of plan.values()) {
    if (spec.protocol === 'tcp' && spec.host !== ANY && plan.has(`tcp/${ANY}/${spec.port}`)) continue;
    out.set(spec.key, { spec, routes: new Map() });
  }
  for (const spec of plan.values()) {
    if (out.has(spec.key)) continue;
    out.get(`tcp/${ANY}/${spec.port}`)!.routes.set(spec.host, spec);
  }
  return out;
}
