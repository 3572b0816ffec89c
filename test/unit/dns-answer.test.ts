// The record table, scoping and every name form, answered without sockets; and the fast path held byte-identical
// to the general (dns-packet) path.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as dnsPacket from 'dns-packet';
import { Records } from '../../dns/records';
import { Answerer, GeneralResult } from '../../dns/answer';
import { fixtureTable, bigTable, query, seeded } from '../../dns/test-kit';

const WEB_TASK = '10.0.1.5'; // on front (and ingress)
const DB_TASK = '10.0.2.5'; // on back
const NODE = '127.0.0.1'; // no task: sees every network but ingress

function answerer(opts: ConstructorParameters<typeof Answerer>[1] = {}): Answerer {
  return new Answerer(Records.build(fixtureTable()), { random: seeded(1), ...opts });
}

function ask(a: Answerer, name: string, type: dnsPacket.RecordType, from: string, edns?: number): { rcode: string; pkt: dnsPacket.DecodedPacket; r: GeneralResult } {
  const r = a.general(query(name, type, { edns }), from, 512);
  assert.equal(r.kind, 'answer', `${name} ${type} from ${from} should be answered locally, got ${r.kind}`);
  const pkt = dnsPacket.decode((r as { bytes: Buffer }).bytes);
  return { rcode: (pkt as unknown as { rcode: string }).rcode, pkt, r };
}

const data = (p: dnsPacket.DecodedPacket, type = 'A'): unknown[] => (p.answers ?? []).filter((x) => x.type === type).map((x) => (x as { data: unknown }).data);
const sorted = (xs: unknown[]): unknown[] => [...xs].sort();

test('records: the asker is known by source address and sees only its networks (never ingress)', () => {
  const rec = Records.build(fixtureTable());
  assert.ok(rec.viewFor(WEB_TASK).lookup('web'));
  assert.equal(rec.viewFor(WEB_TASK).lookup('db'), undefined);
  assert.equal(rec.viewFor('10.0.0.5').key, rec.viewFor(WEB_TASK).key, 'the ingress address maps to the same task');
  assert.equal(rec.viewFor(DB_TASK).lookup('web'), undefined);
  assert.deepEqual(rec.viewFor(DB_TASK).lookup('api')?.v4, ['10.0.2.3'], 'the VIP on the shared network');
  assert.deepEqual(rec.viewFor(WEB_TASK).lookup('api')?.v4, ['10.0.1.3']);
  assert.ok(rec.viewFor(NODE).lookup('web') && rec.viewFor(NODE).lookup('db'));
  assert.equal(rec.viewFor(NODE).ptr('10.0.0.5'), undefined, 'ingress addresses have no names');
  assert.ok(rec.owns('web') && rec.owns('tasks.db') && rec.owns('web.1.aaa') && rec.owns('www.front'));
  assert.ok(rec.ownsAddress('10.0.2.99') && !rec.ownsAddress('10.0.0.9') && !rec.ownsAddress('192.0.2.1'));
});

test('SERVICE is its VIP (vip mode) with the long TTL; dnsrr gives the task IPs with the short one', () => {
  const a = answerer({ vipTtl: 600, taskTtl: 2 });
  const web = ask(a, 'web', 'A', WEB_TASK).pkt;
  assert.deepEqual(data(web), ['10.0.1.2']);
  assert.equal((web.answers![0] as { ttl: number }).ttl, 600);
  assert.ok(web.flag_aa);
  const db = ask(a, 'db', 'A', DB_TASK).pkt;
  assert.deepEqual(sorted(data(db)), ['10.0.2.5', '10.0.2.6']);
  assert.equal((db.answers![0] as { ttl: number }).ttl, 2);
});

test('tasks.SERVICE, task names, aliases, NAME.NETWORK; case, trailing dot and search domain do not matter', () => {
  const a = answerer({ searchDomains: ['corp.example'] });
  assert.deepEqual(sorted(data(ask(a, 'tasks.web', 'A', WEB_TASK).pkt)), ['10.0.1.5', '10.0.1.6']);
  assert.deepEqual(data(ask(a, 'web.2.bbb', 'A', WEB_TASK).pkt), ['10.0.1.6']);
  assert.deepEqual(data(ask(a, 'www', 'A', WEB_TASK).pkt), ['10.0.1.2']);
  assert.deepEqual(sorted(data(ask(a, 'tasks.www', 'A', WEB_TASK).pkt)), ['10.0.1.5', '10.0.1.6']);
  assert.deepEqual(data(ask(a, 'api.back', 'A', NODE).pkt), ['10.0.2.3']);
  const mixed = ask(a, 'WeB.Corp.Example.', 'A', WEB_TASK).pkt;
  assert.deepEqual(data(mixed), ['10.0.1.2']);
  assert.equal(mixed.answers![0].name, 'WeB.Corp.Example', 'owner name echoes the client (0x20)');
});

test('names outside the asker\'s networks are NXDOMAIN, never forwarded; unknown names are forwarded', () => {
  const a = answerer();
  assert.equal(ask(a, 'web', 'A', DB_TASK).rcode, 'NXDOMAIN');
  assert.equal(ask(a, 'tasks.db', 'AAAA', WEB_TASK).rcode, 'NXDOMAIN');
  assert.equal(a.general(query('example.org', 'A'), WEB_TASK, 512).kind, 'forward');
  assert.equal(a.general(query('web.elsewhere', 'A'), WEB_TASK, 512).kind, 'forward');
});

test('AAAA for a name without IPv6 is NOERROR and empty; with IPv6 it is answered', () => {
  const a = answerer();
  const r = ask(a, 'web', 'AAAA', WEB_TASK);
  assert.equal(r.rcode, 'NOERROR');
  assert.equal(r.pkt.answers!.length, 0);
  assert.deepEqual(data(ask(a, 'six', 'AAAA', DB_TASK).pkt, 'AAAA'), ['fd00:2::5']);
  assert.equal(ask(a, 'web', 'MX', WEB_TASK).rcode, 'NOERROR', 'other types for our names: empty, not forwarded');
});

test('SRV: _PORT._PROTO.SERVICE and _PROTO.SERVICE for declared ports, with A glue', () => {
  const a = answerer();
  const web = ask(a, '_http._tcp.web', 'SRV', WEB_TASK).pkt;
  assert.deepEqual(data(web, 'SRV'), [{ priority: 0, weight: 1, port: 80, target: 'web' }]);
  assert.deepEqual(data({ ...web, answers: web.additionals } as dnsPacket.DecodedPacket), ['10.0.1.2']);
  assert.deepEqual(data(ask(a, '_tcp.web', 'SRV', WEB_TASK).pkt, 'SRV'), [{ priority: 0, weight: 1, port: 80, target: 'web' }]);
  const db = ask(a, '_pg._tcp.db', 'SRV', DB_TASK).pkt;
  assert.deepEqual(sorted(data(db, 'SRV').map((d) => (d as { target: string }).target)), ['db.1.ccc', 'db.2.ddd']);
  assert.deepEqual(data(ask(a, '_udp.api', 'SRV', NODE).pkt, 'SRV'), [{ priority: 0, weight: 1, port: 53, target: 'api' }]);
  assert.equal(ask(a, '_nope._tcp.web', 'SRV', WEB_TASK).rcode, 'NXDOMAIN');
});

test('PTR for task IPs and VIPs; unknown addresses in our subnets are NXDOMAIN; others forwarded', () => {
  const a = answerer({ taskTtl: 2, vipTtl: 600 });
  const t = ask(a, '5.1.0.10.in-addr.arpa', 'PTR', WEB_TASK).pkt;
  assert.deepEqual(data(t, 'PTR'), ['web.1.aaa.front']);
  assert.equal((t.answers![0] as { ttl: number }).ttl, 2);
  assert.deepEqual(data(ask(a, '2.1.0.10.in-addr.arpa', 'PTR', WEB_TASK).pkt, 'PTR'), ['web.front']);
  assert.equal(ask(a, '99.2.0.10.in-addr.arpa', 'PTR', NODE).rcode, 'NXDOMAIN');
  assert.equal(ask(a, '5.2.0.10.in-addr.arpa', 'PTR', WEB_TASK).rcode, 'NXDOMAIN', 'db task not visible from web');
  const six = '5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.2.0.0.0.0.0.d.f.ip6.arpa';
  assert.deepEqual(data(ask(a, six, 'PTR', NODE).pkt, 'PTR'), ['six.1.fff.back']);
  assert.equal(a.general(query('1.2.0.192.in-addr.arpa', 'PTR'), NODE, 512).kind, 'forward');
});

test('EDNS0 is echoed; bad versions get BADVERS; answers over the size limit are truncated with TC', () => {
  const a = new Answerer(Records.build(bigTable(1, 60)), { random: seeded(2) });
  const plain = ask(a, 'tasks.svc0', 'A', NODE);
  assert.ok(plain.pkt.flag_tc && plain.pkt.answers!.length < 60 && plain.pkt.answers!.length > 10);
  assert.ok((plain.r as { bytes: Buffer }).bytes.length <= 512);
  const big = ask(a, 'tasks.svc0', 'A', NODE, 4096);
  assert.ok(!big.pkt.flag_tc);
  assert.equal(big.pkt.answers!.length, 60);
  const opt = big.pkt.additionals!.find((x) => x.type === 'OPT') as dnsPacket.OptAnswer;
  assert.equal(opt.udpPayloadSize, 1232);
  const tcp = a.general(query('tasks.svc0', 'A'), NODE, 65535);
  assert.equal(dnsPacket.decode((tcp as { bytes: Buffer }).bytes).answers!.length, 60);
  const q = dnsPacket.encode({ id: 1, type: 'query', questions: [{ name: 'svc0', type: 'A' }], additionals: [{ name: '.', type: 'OPT', udpPayloadSize: 1232, ednsVersion: 1, flags: 0, options: [] } as unknown as dnsPacket.Answer] });
  const bad = dnsPacket.decode((a.general(q, NODE, 512) as { bytes: Buffer }).bytes);
  assert.equal((bad.additionals!.find((x) => x.type === 'OPT') as dnsPacket.OptAnswer).extendedRcode, 1);
});

test('broken queries: FORMERR when the header is readable, dropped when not; responses are never answered', () => {
  const a = answerer();
  assert.equal(a.general(Buffer.alloc(5), NODE, 512).kind, 'drop');
  const resp = query('web');
  resp[2] |= 0x80;
  assert.equal(a.general(resp, NODE, 512).kind, 'drop');
  const cut = query('web').subarray(0, 16);
  const r = a.general(cut, NODE, 512) as { bytes: Buffer; rcode: number };
  assert.equal(r.rcode, 1);
  assert.equal(r.bytes.readUInt16BE(0), 4242);
  const two = dnsPacket.encode({ id: 7, type: 'query', questions: [{ name: 'web', type: 'A' }, { name: 'db', type: 'A' }] });
  assert.equal((a.general(two, NODE, 512) as { rcode: number }).rcode, 1);
  // Section counts the packet cannot hold are refused before decoding (dns-packet would allocate arrays for them).
  const liar = query('web');
  liar.writeUInt16BE(65535, 6);
  liar.writeUInt16BE(65535, 10);
  assert.equal((a.general(liar, NODE, 512) as { rcode: number }).rcode, 1);
  const notify = query('web');
  notify[2] |= 4 << 3;
  assert.equal((a.general(notify, NODE, 512) as { rcode: number }).rcode, 4);
});

test('the fast path and the general path give byte-identical answers for every A/AAAA name form', () => {
  const names = ['web', 'WEB', 'tasks.web', 'TaSkS.wEb', 'www', 'web.1.aaa', 'web.front', 'db', 'tasks.db', 'db.2.ddd', 'api', 'six', 'api.back', 'web.corp.example'];
  const froms = [WEB_TASK, DB_TASK, NODE];
  let fastCount = 0;
  for (const name of names)
    for (const type of ['A', 'AAAA'] as const)
      for (const from of froms)
        for (const [rd, edns] of [[true, undefined], [false, undefined], [true, 1232], [false, 600], [true, 100]] as const) {
          const q = query(name, type, { id: 0xbeef, rd, edns });
          const f = new Answerer(Records.build(fixtureTable()), { random: seeded(9), searchDomains: ['corp.example'] });
          const g = new Answerer(Records.build(fixtureTable()), { random: seeded(9), searchDomains: ['corp.example'] });
          const fast = f.fast(q, from, 512);
          const gen = g.general(q, from, 512);
          if (!fast) continue; // not ours for this asker: the general path answers NXDOMAIN or forwards
          fastCount++;
          assert.equal(gen.kind, 'answer');
          assert.deepEqual(fast, (gen as { bytes: Buffer }).bytes, `${name} ${type} from ${from} rd=${rd} edns=${edns}`);
          if (fast.readUInt16BE(6) <= 1) assert.deepEqual(f.fast(q, from, 512), fast, 'a prebuilt answer served twice is the same');
        }
  assert.ok(fastCount >= 200, `fast path took ${fastCount} queries`);
  // Big shuffled answers too, and IDs patched on prebuilt ones.
  const big = (): Answerer => new Answerer(Records.build(bigTable(3, 12)), { random: seeded(5) });
  const [f, g] = [big(), big()];
  for (let i = 0; i < 20; i++) {
    const q = query(`tasks.svc${i % 3}`, 'A', { id: i });
    assert.deepEqual(f.fast(q, NODE, 512), (g.general(q, NODE, 512) as { bytes: Buffer }).bytes);
  }
  const q1 = f.fast(query('svc1', 'A', { id: 1 }), NODE, 512)!;
  const q2 = f.fast(query('svc1', 'A', { id: 2 }), NODE, 512)!;
  assert.equal(q1.readUInt16BE(0), 1);
  assert.equal(q2.readUInt16BE(0), 2);
  // Answers between 512 bytes and the client's EDNS size go out whole on the fast path too; beyond it, TC on the general one.
  const wide = (): Answerer => new Answerer(Records.build(bigTable(1, 40)), { random: seeded(6) });
  const [wf, wg] = [wide(), wide()];
  for (const edns of [undefined, 512, 1232, 4096]) {
    const q = query('tasks.svc0', 'A', { id: 3, edns });
    const fast = wf.fast(q, NODE, 512);
    const gen = wg.general(q, NODE, 512) as { bytes: Buffer; truncated: boolean };
    if (fast) assert.deepEqual(fast, gen.bytes, `edns=${edns}`);
    assert.equal(!fast, gen.truncated, `edns=${edns}: fast path only when the answer fits`);
    if (!fast) wf.general(q, NODE, 512);
  }
  const cookie = dnsPacket.encode({ id: 1, type: 'query', questions: [{ name: 'svc1', type: 'A' }],
    additionals: [{ name: '.', type: 'OPT', udpPayloadSize: 1232, flags: 0, options: [{ code: 10, data: Buffer.alloc(8, 1) }] } as unknown as dnsPacket.Answer] });
  assert.equal(f.fast(cookie, NODE, 512), undefined, 'an OPT with options (a cookie) takes the general path');
  const v1 = query('svc1', 'A', { edns: 1232 });
  v1[v1.length - 5] = 1; // EDNS version 1
  assert.equal(f.fast(v1, NODE, 512), undefined, 'EDNS version 1 takes the general path (BADVERS)');
});

test('tasks.SERVICE is shuffled across answers', () => {
  const a = new Answerer(Records.build(bigTable(1, 8)), { random: seeded(3) });
  const orders = new Set<string>();
  for (let i = 0; i < 20; i++) orders.add(data(dnsPacket.decode(a.fast(query('tasks.svc0'), NODE, 512)!)).join(','));
  assert.ok(orders.size > 5);
});

test('negative answers for our names carry an SOA (RFC 2308) owned by the top label, minimum = the task TTL', () => {
  const a = answerer({ taskTtl: 3, vipTtl: 600 });
  const soaOf = (p: dnsPacket.DecodedPacket): { name: string; ttl: number; minimum: number } | undefined => {
    const s = (p.authorities ?? []).find((x) => x.type === 'SOA') as { name: string; ttl: number; data: { minimum: number } } | undefined;
    return s && { name: s.name, ttl: s.ttl, minimum: s.data.minimum };
  };
  const nodata = ask(a, 'Tasks.Web', 'AAAA', WEB_TASK);
  assert.equal(nodata.rcode, 'NOERROR');
  assert.deepEqual(soaOf(nodata.pkt), { name: 'Web', ttl: 3, minimum: 3 }, 'NODATA: AAAA for a name with no IPv6');
  const hidden = ask(a, 'db', 'A', WEB_TASK);
  assert.equal(hidden.rcode, 'NXDOMAIN');
  assert.deepEqual(soaOf(hidden.pkt), { name: 'db', ttl: 3, minimum: 3 }, 'NXDOMAIN: ours, not visible to this asker');
  assert.deepEqual(soaOf(ask(a, '_nope._tcp.web', 'SRV', WEB_TASK).pkt), { name: 'web', ttl: 3, minimum: 3 });
  assert.deepEqual(soaOf(ask(a, 'web', 'SRV', WEB_TASK).pkt), { name: 'web', ttl: 3, minimum: 3 }, 'NODATA: no SRV at the bare name');
  assert.deepEqual(soaOf(ask(a, '99.1.0.10.in-addr.arpa', 'PTR', NODE).pkt)?.name, 'arpa', 'an unknown address in our subnet');
  assert.equal(soaOf(ask(a, 'web', 'A', WEB_TASK).pkt), undefined, 'positive answers have no authority section');
  assert.equal(ask(a, 'web', 'A', WEB_TASK).pkt.authorities?.length, 0);
  // The fast path writes the same SOA for NODATA.
  const q = query('TASKS.web', 'AAAA', { id: 7 });
  const fast = a.fast(q, WEB_TASK, 512);
  assert.ok(fast, 'AAAA NODATA takes the fast path');
  assert.deepEqual(soaOf(dnsPacket.decode(fast)), { name: 'web', ttl: 3, minimum: 3 });
});
