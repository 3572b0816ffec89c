// The record table updated in place (Records.update) against a fresh Records.build of the same table, over long
// seeded random sequences of services added, removed and changed — shared aliases (names several services
// contribute to), both endpoint modes, named ports, several networks, tasks on several networks, colliding
// addresses — compared after every step through every read the answerer makes: lookup of every name form in
// every asker's view, SRV, PTR, owns(), viewFor() of every address, ownsAddress().
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { EndpointTable, ServiceEndpoint } from '../../mesh/endpoint-table';
import { Records, type RecordsChange } from '../../dns/records';
import { RandomTables, NETWORKS, namesOf } from '../../dns/random-tables';

type Universe = ReturnType<typeof namesOf>;

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
function run(seed: number, steps: number): Record<string, number> {
  const tables = new RandomTables(seed);
  const live = Records.build(tables.table);
  // A second copy fed only the changes, as a reader process is.
  const replica = Records.build(tables.table);
  const kinds: Record<string, number> = {};
  for (let step = 0; step < steps; step++) {
    const prev = tables.table;
    const what = tables.next();
    const next = tables.table;
    const change: RecordsChange = live.update(next);
    kinds[change.kind] = (kinds[change.kind] ?? 0) + 1;
    replica.apply(structuredClone(change));
    const u = namesOf(prev, next);
    const want = readAll(Records.build(next), u);
    assert.deepEqual(readAll(live, u), want, `seed ${seed} step ${step} (${what}): update() differs from build()`);
    assert.deepEqual(readAll(replica, u), want, `seed ${seed} step ${step} (${what}): apply(change) differs from build()`);
  }
  return kinds;
}

test('records: update() answers exactly like build() after every step of random add/remove/change sequences', () => {
  for (const seed of [1, 2, 3, 4, 5]) {
    const kinds = run(seed, 250);
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
  assert.deepEqual(r.allView.lookup('shared')?.v4, ['10.0.1.2', '10.0.2.2'], 'merged in content order, whatever the table order');
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
