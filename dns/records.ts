/**
 * The record table: a pure function from an endpoint table to per-network name indexes (forward names, SRV names,
 * PTR entries) plus the scoping rule. A name is visible to an asking task only through the networks it shares with
 * the target, and the asker is known by its source address; an address that is no task's (the node itself, a
 * process on the host) sees every service-discovery network. The ingress network is never one: Docker has no DNS
 * on ingress, and neither do we. Everything here is immutable after build(), so the server can swap a whole
 * Records value on every table change and readers never see half an update.
 */
import type { EndpointTable, ServiceEndpoint } from '../mesh/endpoint-table';

/** Addresses answered for one name in one network. */
export interface NameRecord {
  v4: string[];
  v6: string[];
  /** True when the addresses are task IPs (short TTL, shuffled); false for VIPs (long TTL, stable). */
  taskIps: boolean;
}

export interface SrvRecord {
  port: number;
  /** A name this resolver answers too: the service (VIP mode) or a task name (dnsrr). */
  target: string;
  taskIps: boolean;
}

/** A reverse entry; the NAME.NETWORK text is made when asked (PTR queries are rare, tasks are many). */
export class PtrRecord {
  constructor(
    private readonly base: string,
    private readonly netName: string | undefined,
    readonly taskIps: boolean,
  ) {}

  get name(): string {
    return this.netName ? `${this.base}.${this.netName}` : this.base;
  }
}

/** One network's names; keys are lower case, without the trailing dot. */
interface NetworkIndex {
  id: string;
  /** The network's name, lower case: NAME.NETWORK answers as NAME within this network. */
  netName?: string;
  names: Map<string, NameRecord>;
  srv: Map<string, SrvRecord[]>;
  ptr: Map<string, PtrRecord>;
}

/** What one asker sees: its networks' indexes in order; the first network that knows a name answers (as Docker). */
export class View {
  constructor(
    readonly key: string,
    private readonly nets: NetworkIndex[],
  ) {}

  lookup(name: string): NameRecord | undefined {
    for (const n of this.nets) {
      const r = n.names.get(name);
      if (r) return r;
    }
    // Docker's sandbox also answers NAME.NETWORK as NAME within that network (not stored twice: 100k tasks).
    for (const n of this.nets) {
      if (!n.netName || name.length <= n.netName.length + 1 || !name.endsWith(n.netName) || name[name.length - n.netName.length - 1] !== '.') continue;
      const r = n.names.get(name.slice(0, -n.netName.length - 1));
      if (r) return r;
    }
    return undefined;
  }

  srv(name: string): SrvRecord[] | undefined {
    for (const n of this.nets) {
      const r = n.srv.get(name);
      if (r) return r;
    }
    return undefined;
  }

  ptr(ip: string): PtrRecord | undefined {
    for (const n of this.nets) {
      const r = n.ptr.get(ip);
      if (r) return r;
    }
    return undefined;
  }
}

export class Records {
  private readonly nets: NetworkIndex[] = [];
  /** Task address (on any network, ingress included) → the service-discovery networks of that task. */
  private readonly askers = new Map<string, string[]>();
  private readonly views = new Map<string, View>();
  private readonly netLists = new Map<string, string[]>();
  private readonly subnets: Array<{ base: number; mask: number }> = [];
  readonly allView: View;

  private constructor(table: EndpointTable) {
    const ingress = table.ingressNetworkId;
    const byId = new Map<string, NetworkIndex>();
    const net = (id: string): NetworkIndex => {
      let n = byId.get(id);
      if (!n) {
        n = { id, netName: table.networks[id]?.name?.toLowerCase() || undefined, names: new Map(), srv: new Map(), ptr: new Map() };
        byId.set(id, n);
        this.nets.push(n);
      }
      return n;
    };
    // Networks in the table's order first, so "first network wins" is deterministic.
    for (const [id, info] of Object.entries(table.networks)) {
      if (id === ingress) continue;
      net(id);
      const s = parseCidr(info.subnet);
      if (s) this.subnets.push(s);
    }
    for (const svc of table.services) this.addService(svc, table, ingress, net);
    this.allView = this.view(this.nets.map((n) => n.id));
  }

  static build(table: EndpointTable): Records {
    return new Records(table);
  }

  private addService(svc: ServiceEndpoint, table: EndpointTable, ingress: string | undefined, net: (id: string) => NetworkIndex): void {
    const netIds = new Set<string>([...Object.keys(svc.vips), ...Object.keys(svc.aliases)]);
    for (const b of svc.backends) for (const id of Object.keys(b.addrs)) netIds.add(id);
    netIds.delete(ingress ?? '');
    for (const b of svc.backends) {
      const own = Object.keys(b.addrs).filter((id) => id !== ingress);
      for (const ip of Object.values(b.addrs)) this.askers.set(ip, this.interned(merge(this.askers.get(ip), own)));
    }
    for (const id of netIds) {
      const n = net(id);
      const netName = n.netName;
      const add = (name: string, ips: string[], taskIps: boolean): void => addName(n.names, name.toLowerCase(), ips, taskIps);
      const tasks = svc.backends.filter((b) => b.addrs[id]);
      const taskIps = tasks.map((b) => b.addrs[id]);
      const vip = svc.vips[id];
      const names = [svc.serviceName, ...(svc.aliases[id] ?? [])];
      for (const name of names) {
        if (svc.mode === 'dnsrr') add(name, taskIps, true);
        else if (vip) add(name, [vip], false);
        add(`tasks.${name}`, taskIps, true);
      }
      for (const b of tasks) {
        add(b.name, [b.addrs[id]], true);
        n.ptr.set(canonicalIp(b.addrs[id]), new PtrRecord(b.name, netName, true));
      }
      if (vip && svc.mode === 'vip') {
        n.ptr.set(canonicalIp(vip), new PtrRecord(svc.serviceName, netName, false));
      }
      this.addSrv(n, svc, names, tasks.map((b) => b.name));
    }
  }

  /** _PORTNAME._PROTO.NAME for named ports, and _PROTO.NAME for every port of that protocol. */
  private addSrv(n: NetworkIndex, svc: ServiceEndpoint, names: string[], taskNames: string[]): void {
    for (const base of names) {
      const b = base.toLowerCase();
      const targets = (port: number): SrvRecord[] =>
        svc.mode === 'dnsrr' ? taskNames.map((t) => ({ port, target: t, taskIps: true })) : [{ port, target: base, taskIps: false }];
      for (const p of svc.ports) {
        const recs = targets(p.targetPort);
        const push = (key: string): void => {
          const list = n.srv.get(key) ?? [];
          for (const r of recs) if (!list.some((x) => x.port === r.port && x.target === r.target)) list.push(r);
          n.srv.set(key, list);
        };
        if (p.name) push(`_${p.name.toLowerCase()}._${p.protocol}.${b}`);
        push(`_${p.protocol}.${b}`);
      }
    }
  }

  /** The view of the asker at this source address (cached: few distinct network sets exist). */
  viewFor(source: string): View {
    const nets = this.askers.get(source);
    return nets ? this.view(nets) : this.allView;
  }

  private view(netIds: string[]): View {
    const key = netIds.join(',');
    let v = this.views.get(key);
    if (!v) {
      const set = new Set(netIds);
      v = new View(key, this.nets.filter((n) => set.has(n.id)));
      this.views.set(key, v);
    }
    return v;
  }

  /** True when the name is ours in some network, so it must never leave the node (even if this asker cannot see it). */
  owns(name: string): boolean {
    return this.allView.lookup(name) !== undefined || this.allView.srv(name) !== undefined;
  }

  /** One array per distinct network list (most tasks share a handful), not one per task address. */
  private interned(netIds: string[]): string[] {
    const key = netIds.join(',');
    let v = this.netLists.get(key);
    if (!v) this.netLists.set(key, (v = netIds));
    return v;
  }

  /** True when the address is in one of our service-discovery subnets (its PTR zone is ours). */
  ownsAddress(ip: string): boolean {
    const x = v4ToInt(ip);
    if (x === undefined) return false;
    return this.subnets.some((s) => ((x & s.mask) >>> 0) === s.base);
  }
}

/** Shared by every record without addresses of a family (never written to: addName replaces it first). */
const NONE: string[] = [];

function addName(names: Map<string, NameRecord>, key: string, ips: string[], taskIps: boolean): void {
  const r = names.get(key) ?? { v4: NONE, v6: NONE, taskIps };
  for (const ip of ips) {
    const v6 = ip.includes(':');
    const list = v6 ? r.v6 : r.v4;
    if (list.includes(ip)) continue;
    if (list === NONE) {
      if (v6) r.v6 = [ip];
      else r.v4 = [ip];
    } else list.push(ip);
  }
  r.taskIps = r.taskIps || taskIps;
  names.set(key, r);
}

function merge(a: string[] | undefined, b: string[]): string[] {
  return a ? [...new Set([...a, ...b])] : b;
}

export function v4ToInt(ip: string): number | undefined {
  const p = ip.split('.');
  if (p.length !== 4) return undefined;
  let x = 0;
  for (const s of p) {
    const n = Number(s);
    if (!/^\d{1,3}$/.test(s) || n > 255) return undefined;
    x = x * 256 + n;
  }
  return x >>> 0;
}

function parseCidr(cidr: string): { base: number; mask: number } | undefined {
  const [ip, len] = cidr.split('/');
  const x = v4ToInt(ip);
  const bits = Number(len ?? 32);
  if (x === undefined || !(bits >= 0 && bits <= 32)) return undefined;
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  return { base: (x & mask) >>> 0, mask };
}

/** IPv6 in its full, lower-case 8×4-hex form so PTR keys match however the table spelled them; IPv4 as is. */
export function canonicalIp(ip: string): string {
  if (!ip.includes(':')) return ip;
  const [head, tail] = ip.toLowerCase().split('::');
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail ? tail.split(':') : [];
  const fill = tail === undefined ? [] : new Array(8 - h.length - t.length).fill('0');
  return [...h, ...fill, ...t].map((g) => g.padStart(4, '0')).join(':');
}

/** The address a reverse name stands for ("4.3.2.1.in-addr.arpa" → "1.2.3.4"), or undefined. */
export function reverseNameToIp(name: string): string | undefined {
  if (name.endsWith('.in-addr.arpa')) {
    const p = name.slice(0, -'.in-addr.arpa'.length).split('.');
    if (p.length !== 4) return undefined;
    const ip = p.reverse().join('.');
    return v4ToInt(ip) === undefined ? undefined : ip;
  }
  if (name.endsWith('.ip6.arpa')) {
    const p = name.slice(0, -'.ip6.arpa'.length).split('.');
    if (p.length !== 32 || !p.every((c) => /^[0-9a-f]$/.test(c))) return undefined;
    const hex = p.reverse().join('');
    return hex.match(/.{4}/g)!.join(':');
  }
  return undefined;
}
