/**
 * What one service contributes to the record table, computed from that service alone: per network its names
 * (the service and its aliases, `tasks.` names, task names), SRV lists and PTR entries, and per task address the
 * networks its asker sees. records.ts adds these parts to its indexes and withdraws them again when the service
 * changes or goes; how parts of several services combine on one key is here too (mergeNames, mergeSrv,
 * lastPtr, and the content keys that order and identify parts), next to the code that makes them. sameForDns()
 * says whether two versions of a service would contribute the same — it compares exactly the fields
 * serviceRecords() reads, so a field it starts to read must be compared there too (the incremental property test
 * catches a miss).
 */
import type { ServiceEndpoint } from '../mesh/endpoint-table';
import { type NameRecord, type SrvRecord, PtrRecord, canonicalIp } from './record-values';

/** One service's records in one network; keys lower case, as in the indexes. */
export interface NetworkPart {
  names: Map<string, NameRecord>;
  srv: Map<string, SrvRecord[]>;
  ptr: Map<string, PtrRecord>;
}

export interface ServiceRecords {
  /** By network ID (never the ingress network). */
  nets: Map<string, NetworkPart>;
  /** Task address (on any network, ingress included) → the service-discovery networks of that task. */
  askers: Map<string, string[]>;
}

export function serviceRecords(svc: ServiceEndpoint, ingress: string | undefined, netName: (id: string) => string | undefined): ServiceRecords {
  const out: ServiceRecords = { nets: new Map(), askers: new Map() };
  const netIds = new Set<string>([...Object.keys(svc.vips), ...Object.keys(svc.aliases)]);
  for (const b of svc.backends) for (const id of Object.keys(b.addrs)) netIds.add(id);
  netIds.delete(ingress ?? '');
  for (const b of svc.backends) {
    // Sorted, so the order of a task's addresses in the table never matters (sameForDns ignores it too).
    const own = Object.keys(b.addrs)
      .filter((id) => id !== ingress)
      .sort();
    for (const ip of Object.values(b.addrs)) out.askers.set(ip, union(out.askers.get(ip), own));
  }
  for (const id of netIds) {
    const n: NetworkPart = { names: new Map(), srv: new Map(), ptr: new Map() };
    out.nets.set(id, n);
    const nn = netName(id);
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
      n.ptr.set(canonicalIp(b.addrs[id]), new PtrRecord(b.name, nn, true));
    }
    if (vip && svc.mode === 'vip') n.ptr.set(canonicalIp(vip), new PtrRecord(svc.serviceName, nn, false));
    addSrv(n.srv, svc, names, tasks.map((b) => b.name));
  }
  return out;
}

/** _PORTNAME._PROTO.NAME for named ports, and _PROTO.NAME for every port of that protocol. */
function addSrv(srv: Map<string, SrvRecord[]>, svc: ServiceEndpoint, names: string[], taskNames: string[]): void {
  for (const base of names) {
    const b = base.toLowerCase();
    const targets = (port: number): SrvRecord[] =>
      svc.mode === 'dnsrr' ? taskNames.map((t) => ({ port, target: t, taskIps: true })) : [{ port, target: base, taskIps: false }];
    for (const p of svc.ports) {
      const recs = targets(p.targetPort);
      const push = (key: string): void => {
        srv.set(key, appendSrv(srv.get(key) ?? [], recs));
      };
      if (p.name) push(`_${p.name.toLowerCase()}._${p.protocol}.${b}`);
      push(`_${p.protocol}.${b}`);
    }
  }
}

/** Shared by every record without addresses of a family (never written to: addName replaces it first). */
const NONE: string[] = [];

/** Adds addresses to the (fresh, still private) record of `key`; the first occurrence of an address keeps its place. */
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

/** Several services' records of one name: their addresses in order, each once; task IPs if any part has them. */
export function mergeNames(parts: NameRecord[]): NameRecord {
  const m = new Map<string, NameRecord>();
  for (const p of parts) {
    addName(m, '', p.v4, p.taskIps);
    addName(m, '', p.v6, p.taskIps);
  }
  return m.get('')!;
}

/** Several services' SRV lists of one name: concatenated, each port and target once. */
export function mergeSrv(parts: SrvRecord[][]): SrvRecord[] {
  let out: SrvRecord[] = [];
  for (const p of parts) out = appendSrv(out, p);
  return out;
}

/** Two services claiming one address's PTR (a misconfiguration): the last part (by content key) wins. */
export function lastPtr(parts: PtrRecord[]): PtrRecord {
  return parts[parts.length - 1];
}

/** Content keys (merged-map.ts): equal for equal parts, so they order parts and find the one to withdraw. */
export function nameKey(r: NameRecord): string {
  return `${r.taskIps ? 't' : 'v'} ${r.v4.join(',')} ${r.v6.join(',')}`;
}

export function srvKey(list: SrvRecord[]): string {
  return list.map((r) => `${r.taskIps ? 't' : 'v'} ${r.port} ${r.target}`).join('|');
}

export function ptrKey(r: PtrRecord): string {
  return `${r.taskIps ? 't' : 'v'} ${r.name}`;
}

/** Network lists of one address from several services: each network once, in order of first mention. */
export function union(a: string[] | undefined, b: string[]): string[] {
  return a ? [...new Set([...a, ...b])] : b;
}

function appendSrv(list: SrvRecord[], recs: SrvRecord[]): SrvRecord[] {
  const out = list.slice();
  for (const r of recs) if (!out.some((x) => x.port === r.port && x.target === r.target)) out.push(r);
  return out;
}

/** Every network ID the service mentions (VIPs, aliases, task addresses), ingress included. */
export function networksOf(svc: ServiceEndpoint): string[] {
  const ids = new Set<string>([...Object.keys(svc.vips), ...Object.keys(svc.aliases)]);
  for (const b of svc.backends) for (const id of Object.keys(b.addrs)) ids.add(id);
  return [...ids];
}

/**
 * True when serviceRecords() gives the same for both versions: names, mode, VIPs, aliases, port names,
 * protocols and target ports, task names and addresses — not task or node IDs, published ports, balance or
 * accounting, which DNS does not read. Cheap (no strings built): it runs for every service on every table change.
 */
export function sameForDns(a: ServiceEndpoint, b: ServiceEndpoint): boolean {
  if (a === b) return true;
  if (a.serviceName !== b.serviceName || a.mode !== b.mode || !sameStrings(a.vips, b.vips)) return false;
  if (a.ports.length !== b.ports.length || a.backends.length !== b.backends.length) return false;
  for (let i = 0; i < a.ports.length; i++) {
    const p = a.ports[i];
    const q = b.ports[i];
    if (p.name !== q.name || p.protocol !== q.protocol || p.targetPort !== q.targetPort) return false;
  }
  for (let i = 0; i < a.backends.length; i++) {
    if (a.backends[i].name !== b.backends[i].name || !sameStrings(a.backends[i].addrs, b.backends[i].addrs)) return false;
  }
  let n = 0;
  for (const k in a.aliases) {
    const x = a.aliases[k];
    const y = b.aliases[k];
    if (!y || x.length !== y.length) return false;
    for (let j = 0; j < x.length; j++) if (x[j] !== y[j]) return false;
    n++;
  }
  return n === keyCount(b.aliases);
}

/**
 * Same keys with the same values, in any order (nothing serviceRecords() makes depends on key order). Walks keys
 * without allocating: this runs for every task address of every service on every table change.
 */
function sameStrings(a: Record<string, string>, b: Record<string, string>): boolean {
  let n = 0;
  for (const k in a) {
    if (a[k] !== b[k]) return false;
    n++;
  }
  return n === keyCount(b);
}

function keyCount(o: object): number {
  let n = 0;
  for (const _ in o) n++;
  return n;
}
