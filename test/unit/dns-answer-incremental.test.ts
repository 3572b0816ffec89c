// The answerer across table changes: its prepared answers (the fast path's memo) are dropped only for the names
// a change touched, so after every step of a random table sequence an answerer that was updated in place, with
// a memo warmed by the previous step's queries, must give byte-identical responses to a fresh answerer built
// from the same table — also for names that were not ours before (forwarded) and are now, and the other way.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as dnsPacket from 'dns-packet';
import type { EndpointTable } from '../../mesh/endpoint-table';
import { Records } from '../../dns/records';
import { Answerer } from '../../dns/answer';
import { fixtureTable, query, seeded } from '../../dns/test-kit';
import { RandomTables, namesOf } from '../../dns/random-tables';

const DB_TASK = '10.0.2.5'; // fixtureTable(): a db task, on network back only

/** What the query handler would do: the fast path, else the general one ("forward" when the name is not ours). */
function respond(a: Answerer, q: Buffer, source: string): string {
  const fast = a.fast(q, source, 512);
  if (fast) return fast.toString('hex');
  const r = a.general(q, source, 512);
  return r.kind === 'answer' ? r.bytes.toString('hex') : r.kind;
}

/** An answerer whose shuffles can be reset, so two answerers shuffle alike query by query. */
function answerer(table: EndpointTable): { a: Answerer; reseed: (n: number) => void } {
  let random = seeded(1);
  const a = new Answerer(Records.build(table), { random: () => random(), searchDomains: ['corp.example'] });
  return { a, reseed: (n) => (random = seeded(n)) };
}

test('answerer: after every random change an updated answerer (warm memo) answers exactly like a fresh one', () => {
  for (const seed of [11]) {
    const tables = new RandomTables(seed);
    const live = answerer(tables.table);
    for (let step = 0; step < 200; step++) {
      const prev = tables.table;
      const what = tables.next();
      live.a.update(tables.table);
      const fresh = answerer(tables.table);
      const { names, ips } = namesOf(prev, tables.table);
      const sources = ['127.0.0.1', ...[...ips].filter((_, i) => i % 7 === 3)];
      let n = 0;
      for (const name of names) {
        // Client case varies (0x20) and a search domain is sometimes appended: both are part of the memo key.
        const asked = n % 4 === 1 ? name.toUpperCase() : n % 4 === 2 ? `${name}.corp.example` : name;
        const type: dnsPacket.RecordType = name.startsWith('_') ? 'SRV' : n % 3 === 0 ? 'AAAA' : 'A';
        for (const src of sources) {
          const q = query(asked, type, { id: 7, edns: n % 5 === 0 ? 1232 : undefined });
          live.reseed(++n);
          fresh.reseed(n);
          assert.equal(respond(live.a, q, src), respond(fresh.a, q, src), `seed ${seed} step ${step} (${what}): ${asked} ${type} from ${src}`);
        }
      }
    }
  }
});

test('answerer: a memoized answer follows its name\'s change; a name that was forwarded or NXDOMAIN is answered once it exists', () => {
  const t = fixtureTable();
  const a = new Answerer(Records.build(t), { random: seeded(1) });
  const addrs = (q: Buffer): unknown[] => (dnsPacket.decode(a.fast(q, '127.0.0.1', 512)!).answers ?? []).map((x) => (x as { data: unknown }).data);
  assert.deepEqual(addrs(query('web')), ['10.0.1.2']);
  assert.deepEqual(addrs(query('web')), ['10.0.1.2'], 'memoized');
  assert.equal(a.fast(query('fresh'), '127.0.0.1', 512), undefined);
  assert.equal(a.general(query('fresh'), '127.0.0.1', 512).kind, 'forward', 'not ours yet: forwarded');
  assert.equal(a.general(query('tasks.fresh'), '127.0.0.1', 512).kind, 'forward');

  const next = structuredClone(t);
  next.services[0].vips.n1 = '10.0.1.99';
  next.services.push({
    serviceId: 's-fresh', serviceName: 'fresh', mode: 'vip', vips: { n1: '10.0.1.42' }, aliases: {}, ports: [],
    backends: [{ taskId: 'ggg', name: 'fresh.1.ggg', nodeId: 'node1', addrs: { n1: '10.0.1.43' } }],
  });
  const change = a.update(next);
  assert.equal(change.kind, 'delta');
  assert.deepEqual(addrs(query('web')), ['10.0.1.99'], 'the changed VIP, not the memoized one');
  assert.deepEqual(addrs(query('WEB.front')), ['10.0.1.99'], 'NAME.NETWORK too');
  assert.deepEqual(addrs(query('fresh')), ['10.0.1.42'], 'answered locally now');
  assert.deepEqual(addrs(query('tasks.fresh')), ['10.0.1.43']);

  // A db task (network back only) gets NXDOMAIN for web (ours, on front) — until web joins back too.
  const rcode = (name: string, from: string): string => (dnsPacket.decode((a.general(query(name), from, 512) as { bytes: Buffer }).bytes) as unknown as { rcode: string }).rcode;
  assert.equal(a.fast(query('web'), DB_TASK, 512), undefined);
  assert.equal(rcode('web', DB_TASK), 'NXDOMAIN');
  const joined = structuredClone(next);
  joined.services[0].vips.n2 = '10.0.2.99';
  a.update(joined);
  assert.deepEqual(dnsPacket.decode(a.fast(query('web'), DB_TASK, 512)!).answers?.map((x) => (x as { data: unknown }).data), ['10.0.2.99'], 'answered once visible');

  a.update(t);
  assert.equal(a.fast(query('fresh'), '127.0.0.1', 512), undefined, 'gone again');
  assert.equal(a.general(query('fresh'), '127.0.0.1', 512).kind, 'forward');
  assert.deepEqual(addrs(query('web')), ['10.0.1.2']);
});
