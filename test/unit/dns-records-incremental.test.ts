// The record table updated in place (Records.update) against a fresh Records.build of the same table, over long
// seeded random sequences of services added, removed and changed — shared aliases (names several services
// contribute to), both endpoint modes, named ports, several networks, tasks on several networks, colliding
// addresses — compared after every step through every read the answerer makes: lookup of every name form in
// every asker's view, SRV, PTR, owns(), viewFor() of every address, ownsAddress().
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { EndpointTable, ServiceEndpoint } from '../../mesh/endpoint-table';
import { Records, type RecordsChange } from '../../dns/records';
import { seeded } from '../../dns/test-kit';

const NETWORKS: EndpointTable['networks'] = {
  ing: { name: 'ingress', subnet: '10.0.0.0/24' },
  n1: { name: 'front', subnet: '10.0.1.0/24' },
  n2: { name: 'Back', subnet: '10.0.2.0/24' },
  n3: { name: 'third', subnet: '10.0.3.0/24' },
};
const NET_IDS = ['ing', 'n1', 'n2', 'n3'];
const NAMES = ['web', 'api', 'db', 'cache', 'Queue', 'search', 'auth', 'mail'];
/** Aliases deliberately include other services' names, so names have several owners. */
const ALIASES = ['www', 'shared', 'api', 'Web', 'common', 'db'];
const PORT_NAMES = ['http', 'grpc', 'HTTP', undefined];

class Gen {
  private readonly r: () => number;
  private nextTask = 0;
  constructor(seed: number) {
    this.r = seeded(seed);
  }
  int(n: number): number {
    return Math.floor(this.r() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)];
  }
  chance(p: number): boolean {
    return this.r() < p;
  }
  some<T>(xs: readonly T[], p: number): T[] {
    return xs.filter(() => this.chance(p));
  }
  /** Few addresses per network, so two services sometimes claim one (PTR and asker owners must cope). */
  ip(net: string): string {
    const subnet = NET_IDS.indexOf(net);
    if (net === 'n2' && this.chance(0.15)) return `fd00:2::${this.int(12) + 1}`;
    return `10.0.${subnet}.${this.int(40) + 2}`;
  }

  service(id: string, name: string): ServiceEndpoint {
    const mode = this.chance(0.35) ? 'dnsrr' : 'vip';
    const vips: Record<string, string> = {};
    for (const n of this.some(NET_IDS, 0.5)) vips[n] = this.ip(n);
    const aliases: Record<string, string[]> = {};
    for (const n of this.some(NET_IDS.slice(1), 0.4)) aliases[n] = this.some(ALIASES, 0.3);
    const ports = this.some(PORT_NAMES, 0.4).map((pn) => ({
      ...(pn ? { name: pn } : {}),
      protocol: this.pick(['tcp', 'udp'] as const),
      targetPort: this.pick([80, 53, 443]),
      publishedPort: this.int(2) * 8080,
      publishMode: 'ingress' as const,
    }));
    const backends = [];
    for (let t = this.int(4); t > 0; t--) {
      const taskId = `t${this.nextTask++}`;
      const addrs: Record<string, string> = {};
      for (const n of this.some(NET_IDS, 0.55)) addrs[n] = this.ip(n);
      backends.push({ taskId, name: `${name}.${t}.${taskId}`, nodeId: this.pick(['node1', 'node2']), addrs });
    }
    return { serviceId: id, serviceName: name, mode, vips, aliases, ports, backends };
  }

  /** One field of the service changes (most often its tasks, as when one task starts or stops). */
  changed(s: ServiceEndpoint): ServiceEndpoint {
    const fresh = this.service(s.serviceId, s.serviceName);
    const c: ServiceEndpoint = structuredClone(s);
    switch (this.int(6)) {
      case 0:
      case 1:
        if (c.backends.length && this.chance(0.5)) c.backends.splice(this.int(c.backends.length), 1);
        else c.backends.push(...fresh.backends.slice(0, 1));
        break;
      case 2:
        c.aliases = fresh.aliases;
        break;
      case 3:
        c.mode = c.mode === 'vip' ? 'dnsrr' : 'vip';
        break;
      case 4:
        c.ports = fresh.ports;
        c.vips = fresh.vips;
        break;
      default:
        // Not DNS fields: sameForDns sees no change, and the answers must not either.
        for (const b of c.backends) b.nodeId = 'node9';
        c.balance = 'least-connections';
        for (const p of c.ports) p.publishedPort = 9090;
    }
    return c;
  }
}

/** Every name form and address of some tables (the previous and the next: names that went away must be gone). */
class Universe {
  readonly names = new Set<string>(['nothing', 'tasks.nothing']);
  readonly ips = new Set<string>(['127.0.0.1', '10.0.1.250', '192.0.2.1']);
  constructor(...tables: EndpointTable[]) {
    for (const t of tables) this.see(t);
  }
  private see(t: EndpointTable): void {
    const netNames = Object.values(t.networks).map((n) => n.name.toLowerCase());
    const add = (n: string): void => {
      const l = n.toLowerCase();
      this.names.add(l);
      for (const nn of netNames) this.names.add(`${l}.${nn}`);
    };
    for (const s of t.services) {
      const bases = [s.serviceName, ...Object.values(s.aliases).flat()];
      for (const b of bases) {
        add(b);
        add(`tasks.${b}`);
        for (const p of s.ports) {
          if (p.name) this.names.add(`_${p.name}._${p.protocol}.${b}`.toLowerCase());
          this.names.add(`_${p.protocol}.${b}`.toLowerCase());
        }
      }
      for (const b of s.backends) {
        add(b.name);
        for (const ip of Object.values(b.addrs)) this.ips.add(ip);
      }
      for (const ip of Object.values(s.vips)) this.ips.add(ip);
    }
  }
}

function canonical(ip: string): string {
  // Same spelling Records uses for PTR keys (records.ts: canonicalIp), kept independent of it here.
  if (!ip.includes(':')) return ip;
  const [h, t] = ip.split('::');
  const hs = h ? h.split(':') : [];
  const ts = t ? t.split(':') : [];
  return [...hs, ...new Array(8 - hs.length - ts.length).fill('0'), ...ts].map((g) => g.padStart(4, '0')).join(':');
}

/**
 * Everything the answerer can read from a Records, as plain data: which view each address gets, and per
 * distinct view (there are few: one per network set) every name form, SRV name and PTR address.
 */
function readAll(r: Records, u: Universe): unknown {
  const out: Record<string, unknown> = {};
  const views = new Map([[r.allView.key, r.allView]]);
  for (const ip of u.ips) {
    const v = r.viewFor(ip);
    out[`view of ${ip}`] = v.key;
    views.set(v.key, v);
  }
  for (const [key, v] of views) {
    const seen: Record<string, unknown> = {};
    for (const n of u.names) {
      const a = v.lookup(n);
      const s = v.srv(n);
      if (a) seen[`A ${n}`] = { v4: a.v4, v6: a.v6, taskIps: a.taskIps };
      if (s) seen[`SRV ${n}`] = s.map((x) => ({ ...x }));
    }
    for (const ip of u.ips) {
      const p = v.ptr(canonical(ip));
      if (p) seen[`PTR ${ip}`] = { name: p.name, taskIps: p.taskIps };
    }
    out[`view ${key}`] = seen;
  }
  out.owns = [...u.names].filter((n) => r.owns(n));
  out.ownsAddress = [...u.ips].filter((ip) => r.ownsAddress(ip));
  return out;
}

/** Runs `steps` random changes from a seed; returns how each change was applied (delta or full). */
function run(seed: number, steps: number, withReplica: boolean): Record<string, number> {
  const g = new Gen(seed);
  let ids = 0;
  let table: EndpointTable = { ingressNetworkId: 'ing', networks: NETWORKS, services: [] };
  for (let i = 0; i < 4; i++) table.services.push(g.service(`s${ids++}`, NAMES[i]));
  const live = Records.build(table);
  // A second copy fed only the changes, as a reader process is.
  const replica = Records.build(table);
  const kinds: Record<string, number> = {};
  for (let step = 0; step < steps; step++) {
    const services = table.services.slice();
    const op = g.int(100);
    let what: string;
    if (op < 20 && services.length < 10) {
      const used = new Set(services.map((s) => s.serviceName));
      const name = g.pick(NAMES.filter((n) => !used.has(n)).concat(`svc${ids}`));
      services.splice(g.int(services.length + 1), 0, g.service(`s${ids++}`, name));
      what = 'add';
    } else if (op < 38 && services.length > 0) {
      services.splice(g.int(services.length), 1);
      what = 'remove';
    } else if (op < 90 && services.length > 0) {
      const i = g.int(services.length);
      services[i] = g.changed(services[i]);
      what = 'change';
    } else if (op < 95) {
      services.reverse(); // table order must not matter
      what = 'reorder';
    } else if (op < 97) {
      table = { ...table, networks: { ...table.networks, n3: { name: g.pick(['third', 'fourth']), subnet: '10.0.3.0/24' } } };
      what = 'networks';
    } else {
      what = 'same table, new objects';
    }
    const next: EndpointTable = structuredClone({ ...table, services });
    const change: RecordsChange = live.update(next);
    kinds[change.kind] = (kinds[change.kind] ?? 0) + 1;
    if (withReplica) replica.apply(structuredClone(change));
    const u = new Universe(table, next);
    table = next;
    const want = readAll(Records.build(next), u);
    assert.deepEqual(readAll(live, u), want, `seed ${seed} step ${step} (${what}): update() differs from build()`);
    if (withReplica) assert.deepEqual(readAll(replica, u), want, `seed ${seed} step ${step} (${what}): apply(change) differs from build()`);
  }
  return kinds;
}

test('records: update() answers exactly like build() after every step of random add/remove/change sequences', () => {
  for (const seed of [1, 2, 3, 4, 5]) {
    const kinds = run(seed, 250, true);
    assert.ok((kinds.delta ?? 0) > 200, `most changes are deltas (seed ${seed}: ${JSON.stringify(kinds)})`);
  }
});

test('records: removing one of two services that share an alias keeps the other service\'s records', () => {
  const svc = (id: string, name: string, vip: string): ServiceEndpoint => ({
    serviceId: id, serviceName: name, mode: 'vip', vips: { n1: vip }, aliases: { n1: ['shared'] },
    ports: [{ name: 'http', protocol: 'tcp', targetPort: 80, publishedPort: 0, publishMode: 'ingress' }],
    backends: [{ taskId: `t-${id}`, name: `${name}.1.t-${id}`, nodeId: 'n', addrs: { n1: vip.replace(/\.2$/, '.9') } }],
  });
  const a = svc('sa', 'alpha', '10.0.1.2');
  const b = svc('sb', 'beta', '10.0.2.2');
  const both: EndpointTable = { networks: NETWORKS, services: [b, a] };
  const r = Records.build(both);
  assert.deepEqual(r.allView.lookup('shared')?.v4, ['10.0.1.2', '10.0.2.2'], 'merged in service-ID order, whatever the table order');
  assert.deepEqual(r.allView.srv('_http._tcp.shared'), [{ port: 80, target: 'shared', taskIps: false }], 'one SRV entry (same port and target)');
  const change = r.update({ networks: NETWORKS, services: [b] });
  assert.deepEqual(change, { kind: 'delta', upserts: [], removed: ['sa'] });
  assert.deepEqual(r.allView.lookup('shared')?.v4, ['10.0.2.2']);
  assert.deepEqual(r.allView.srv('_http._tcp.shared'), [{ port: 80, target: 'shared', taskIps: false }]);
  assert.equal(r.allView.lookup('alpha'), undefined);
  assert.equal(r.owns('tasks.alpha'), false);
  assert.ok(r.owns('tasks.shared') && r.owns('beta'));
});

test('records: a table whose networks change, or with a service on an unlisted network, is rebuilt whole', () => {
  const t: EndpointTable = { networks: NETWORKS, services: [] };
  const r = Records.build(t);
  assert.equal(r.update({ ...t, networks: { n1: NETWORKS.n1 } }).kind, 'full');
  const odd: ServiceEndpoint = { serviceId: 'x', serviceName: 'x', mode: 'vip', vips: { elsewhere: '10.9.0.2' }, aliases: {}, ports: [], backends: [] };
  assert.equal(r.update({ networks: { n1: NETWORKS.n1 }, services: [odd] }).kind, 'full');
  assert.deepEqual(r.allView.lookup('x')?.v4, ['10.9.0.2'], 'the unlisted network still answers, as build() does');
  assert.equal(r.update({ networks: { n1: NETWORKS.n1 }, services: [] }).kind, 'full', 'and stays on full rebuilds while odd');
  assert.equal(r.update({ networks: { n1: NETWORKS.n1 }, services: [] }).kind, 'delta');
});
