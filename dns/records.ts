/**
 * The record table: per-network name indexes (forward names, SRV names, PTR entries) plus the scoping rule. A
 * name is visible to an asking task only through the networks it shares with the target, and the asker is known
 * by its source address; an address that is no task's (the node itself, a process on the host) sees every
 * service-discovery network. The ingress network is never one: Docker has no DNS on ingress, and neither do we.
 *
 * The table follows endpoint tables incrementally: update(next) finds the services whose DNS-relevant fields
 * changed (service-records.ts: sameForDns), withdraws what their old versions contributed and adds what the new
 * ones do; every key keeps the parts it was merged from (merged-map.ts), so a name several services share keeps
 * the others' records. The result equals build(next) exactly (test/unit/dns-records-incremental.test.ts). A
 * change of the network list or anything odd (a service on an unlisted network, two services with one ID)
 * rebuilds whole.
 * Readers never see half an update: update() and apply() run in one synchronous step, and the UDP and TCP hot
 * paths are synchronous too, so every query is answered entirely before or entirely after a change. The same
 * change can be applied elsewhere (apply(): the extra UDP reader processes), so they need only the delta.
 */
import type { EndpointTable, ServiceEndpoint } from '../mesh/endpoint-table';
import { MergedMap } from './merged-map';
import { type NameRecord, type SrvRecord, type PtrRecord, parseCidr, v4ToInt } from './record-values';
import { type NetworkPart, serviceRecords, sameForDns, networksOf, mergeNames, mergeSrv, lastPtr, union, nameKey, srvKey, ptrKey } from './service-records';

export { type NameRecord, type SrvRecord, PtrRecord, v4ToInt, canonicalIp, reverseNameToIp } from './record-values';

/** What changed between two tables, as update() found it; apply() repeats it on another Records (a reader process). */
export type RecordsChange =
  /** Rebuild from this table (first table, networks changed, or an odd table). */
  | { kind: 'full'; table: EndpointTable }
  /** Services added or changed (whole, new version) and IDs of services gone; nothing else moved. */
  | { kind: 'delta'; upserts: ServiceEndpoint[]; removed: string[] };

/** One network's names; keys are lower case, without the trailing dot. */
interface NetworkIndex {
  id: string;
  /** The network's name, lower case: NAME.NETWORK answers as NAME within this network. */
  netName?: string;
  names: MergedMap<NameRecord>;
  srv: MergedMap<SrvRecord[]>;
  ptr: MergedMap<PtrRecord>;
}

/** What one asker sees: its networks' indexes in order; the first network that knows a name answers (as Docker). */
export class View {
  private readonly names: Array<{ netName?: string; names: Map<string, NameRecord> }>;
  private readonly srvs: Array<Map<string, SrvRecord[]>>;
  private readonly ptrs: Array<Map<string, PtrRecord>>;

  constructor(
    readonly key: string,
    nets: NetworkIndex[],
  ) {
    this.names = nets.map((n) => ({ netName: n.netName, names: n.names.values }));
    this.srvs = nets.map((n) => n.srv.values);
    this.ptrs = nets.map((n) => n.ptr.values);
  }

  lookup(name: string): NameRecord | undefined {
    for (const n of this.names) {
      const r = n.names.get(name);
      if (r) return r;
    }
    // Docker's sandbox also answers NAME.NETWORK as NAME within that network (not stored twice: 100k tasks).
    for (const n of this.names) {
      if (!n.netName || name.length <= n.netName.length + 1 || !name.endsWith(n.netName) || name[name.length - n.netName.length - 1] !== '.') continue;
      const r = n.names.get(name.slice(0, -n.netName.length - 1));
      if (r) return r;
    }
    return undefined;
  }

  srv(name: string): SrvRecord[] | undefined {
    for (const s of this.srvs) {
      const r = s.get(name);
      if (r) return r;
    }
    return undefined;
  }

  ptr(ip: string): PtrRecord | undefined {
    for (const p of this.ptrs) {
      const r = p.get(ip);
      if (r) return r;
    }
    return undefined;
  }
}

export class Records {
  private nets: NetworkIndex[] = [];
  private byId = new Map<string, NetworkIndex>();
  /** Task address (on any network, ingress included) → the service-discovery networks of that task. */
  private askers = this.askerMap();
  private views = new Map<string, View>();
  private netLists = new Map<string, string[]>();
  private subnets: Array<{ base: number; mask: number }> = [];
  /** The services in the table now, by service ID, as their records were made from. */
  private services = new Map<string, ServiceEndpoint>();
  private networks: EndpointTable['networks'] = {};
  private ingress?: string;
  /** The network list and ingress ID the indexes were built for: when they change, everything is rebuilt. */
  private networksKey = '';
  /** The table was odd (a service on a network the table does not list, two services with one ID): rebuild whole. */
  private irregular = false;
  allView!: View;
  /**
   * Lower-case names and SRV names whose records the last update() or apply() may have changed ('all' after a
   * rebuild), so the answerer drops only the prepared answers that depend on them.
   */
  touched: ReadonlySet<string> | 'all' = 'all';
  private touching?: Set<string>;

  private constructor(table: EndpointTable) {
    this.load(table);
  }

  static build(table: EndpointTable): Records {
    return new Records(table);
  }

  /** Brings the table to `next` and says what changed (send that to other copies: apply()). */
  update(next: EndpointTable): RecordsChange {
    const change = this.diff(next);
    this.apply(change);
    return change;
  }

  /** Repeats a change update() made on an equal Records (one that saw the same tables or changes). */
  apply(change: RecordsChange): void {
    if (change.kind === 'full') {
      this.touched = 'all';
      return this.load(change.table);
    }
    this.touched = this.touching = new Set();
    for (const id of change.removed) {
      const old = this.services.get(id);
      if (!old) continue;
      this.withdraw(old);
      this.services.delete(id);
    }
    for (const svc of change.upserts) {
      const old = this.services.get(svc.serviceId);
      if (old) this.withdraw(old);
      this.add(svc);
      this.services.set(svc.serviceId, svc);
    }
    this.touching = undefined;
  }

  private diff(next: EndpointTable): RecordsChange {
    const full: RecordsChange = { kind: 'full', table: next };
    if (this.irregular || networksKey(next) !== this.networksKey) return full;
    const upserts: ServiceEndpoint[] = [];
    const seen = new Set<string>();
    for (const svc of next.services) {
      if (seen.has(svc.serviceId)) return full;
      seen.add(svc.serviceId);
      const old = this.services.get(svc.serviceId);
      if (old && sameForDns(old, svc)) {
        // Hold the new table's object, not the old one, so an unchanged service is not kept in memory twice.
        if (old !== svc) this.services.set(svc.serviceId, svc);
        continue;
      }
      if (!this.knowsNetworksOf(svc)) return full;
      upserts.push(svc);
    }
    const removed: string[] = [];
    if (seen.size !== this.services.size || upserts.length > 0) {
      for (const id of this.services.keys()) if (!seen.has(id)) removed.push(id);
    }
    return { kind: 'delta', upserts, removed };
  }

  /** Rebuilds every index from the table (first table, networks changed, odd tables). */
  private load(table: EndpointTable): void {
    this.nets = [];
    this.byId = new Map();
    this.askers = this.askerMap();
    this.views = new Map();
    this.netLists = new Map();
    this.subnets = [];
    this.services = new Map();
    this.networks = table.networks;
    this.ingress = table.ingressNetworkId;
    this.networksKey = networksKey(table);
    this.irregular = false;
    // Networks in the table's order first, so "first network wins" is deterministic.
    for (const [id, info] of Object.entries(table.networks)) {
      if (id === this.ingress) continue;
      this.net(id);
      const s = parseCidr(info.subnet);
      if (s) this.subnets.push(s);
    }
    for (const svc of table.services) {
      if (!this.knowsNetworksOf(svc)) this.irregular = true;
      // Two services with one ID (never from the publisher) still both answer; the table is then rebuilt whole.
      if (this.services.has(svc.serviceId)) this.irregular = true;
      this.services.set(svc.serviceId, svc);
      this.add(svc);
    }
    this.allView = this.view(this.nets.map((n) => n.id));
  }

  private add(svc: ServiceEndpoint): void {
    this.merge(svc, 'add');
  }

  /**
   * Takes back exactly what add() put in for this version of the service (recomputed: the same service gives
   * the same parts, and the networks have not changed, or this would be a rebuild); other services' parts stay.
   */
  private withdraw(svc: ServiceEndpoint): void {
    this.merge(svc, 'remove');
  }

  /** Adds the service's parts to every key they belong to, or removes them; either way the keys are touched. */
  private merge(svc: ServiceEndpoint, how: 'add' | 'remove'): void {
    const parts = serviceRecords(svc, this.ingress, (id) => this.netName(id));
    for (const [id, p] of parts.nets) {
      const n = this.net(id);
      for (const [k, v] of p.names) n.names[how](k, v);
      for (const [k, v] of p.srv) n.srv[how](k, v);
      for (const [k, v] of p.ptr) n.ptr[how](k, v);
      this.touch(p);
    }
    for (const [ip, nets] of parts.askers) this.askers[how](ip, how === 'add' ? this.interned(nets) : nets);
  }

  private askerMap(): MergedMap<string[]> {
    return new MergedMap<string[]>(new Map(), (parts) => this.interned(parts.reduce((a, b) => union(a, b))), (nets) => nets.join(','));
  }

  /** Remembers the names a delta touches (a rebuild touches everything and remembers nothing). */
  private touch(p: NetworkPart): void {
    if (!this.touching) return;
    for (const k of p.names.keys()) this.touching.add(k);
    for (const k of p.srv.keys()) this.touching.add(k);
  }

  private net(id: string): NetworkIndex {
    let n = this.byId.get(id);
    if (!n) {
      n = { id, netName: this.netName(id), names: new MergedMap(new Map(), mergeNames, nameKey), srv: new MergedMap(new Map(), mergeSrv, srvKey), ptr: new MergedMap(new Map(), lastPtr, ptrKey) };
      this.byId.set(id, n);
      this.nets.push(n);
    }
    return n;
  }

  private netName(id: string): string | undefined {
    return this.networks[id]?.name?.toLowerCase() || undefined;
  }

  /** True when every network the service mentions is listed in the table (or is the ingress network). */
  private knowsNetworksOf(svc: ServiceEndpoint): boolean {
    return networksOf(svc).every((id) => id === this.ingress || this.networks[id] !== undefined);
  }

  /** The view of the asker at this source address (cached: few distinct network sets exist). */
  viewFor(source: string): View {
    const nets = this.askers.values.get(source);
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

function networksKey(t: EndpointTable): string {
  return JSON.stringify([t.ingressNetworkId ?? null, t.networks]);
}
