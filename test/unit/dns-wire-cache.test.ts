// The forwarder's cache of answers as bytes (dns/wire-cache.ts), through Forwarder.relay() against a raw
// upstream on 127.0.0.6x, on a FakeClock: a hit is the upstream's answer with only the client's ID, the client's
// question case and lower TTLs; what the upstream answered depends on flags and EDNS, so those are part of the key;
// queries with client-specific options keep the decoded cache; answers too big for the client come back decoded.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as dgram from 'node:dgram';
import * as dnsPacket from 'dns-packet';
import { FakeClock } from '../../control/base/clock';
import { silentLogger } from '../../control/base/log';
import { Forwarder, type RelayOutcome } from '../../dns/forwarder';
import { isPlainQuery, questionEnd, ttlOffsets } from '../../dns/wire';
import { Answerer } from '../../dns/answer';
import { QueryHandler } from '../../dns/query-handler';
import { Records } from '../../dns/records';

const UPSTREAM = '127.0.0.61';
let sock: dgram.Socket;
let port = 0;
let asked: Buffer[] = [];
/** Records per answer and their TTL; rcode 3 answers NXDOMAIN with an SOA (minimum 30). */
let answer = { records: 1, ttl: 60, rcode: 0 };

/** The upstream writes the question back in lower case (as some do) and owner names uncompressed. */
function respond(q: Buffer): Buffer {
  const d = dnsPacket.decode(q);
  const question = { ...d.questions![0], name: d.questions![0].name.toLowerCase() };
  const hasOpt = (d.additionals ?? []).some((r) => r.type === 'OPT');
  const answers: dnsPacket.Answer[] = [];
  for (let i = 0; i < answer.records && answer.rcode === 0; i++) answers.push({ name: question.name, type: 'A', ttl: answer.ttl + i, data: `192.0.2.${i + 1}` });
  const authorities: dnsPacket.Answer[] =
    answer.rcode === 3 ? [{ name: 'example', type: 'SOA', ttl: 300, data: { mname: 'ns.example', rname: 'h.example', serial: 1, refresh: 1, retry: 1, expire: 1, minimum: 30 } }] : [];
  return dnsPacket.encode({
    id: d.id, type: 'response', flags: (d.flags ?? 0) | 0x80 | answer.rcode, questions: [question], answers, authorities,
    additionals: hasOpt ? [{ name: '.', type: 'OPT', udpPayloadSize: 1232, flags: 0, options: [] } as unknown as dnsPacket.Answer] : [],
  });
}

before(async () => {
  sock = dgram.createSocket('udp4');
  sock.on('message', (q, r) => {
    asked.push(Buffer.from(q));
    sock.send(respond(q), r.port, r.address);
  });
  await new Promise<void>((r) => sock.bind(0, UPSTREAM, () => r()));
  port = sock.address().port;
});
after(() => new Promise<void>((r) => sock.close(() => r())));

function setup(): { clock: FakeClock; f: Forwarder } {
  asked = [];
  answer = { records: 1, ttl: 60, rcode: 0 };
  const clock = new FakeClock();
  return { clock, f: new Forwarder({ upstreams: [{ host: UPSTREAM, port }], clock, logger: silentLogger }) };
}

function query(name: string, o: { id?: number; flags?: number; edns?: number; cookie?: boolean } = {}): Buffer {
  const opt = o.edns === undefined ? [] : [{ name: '.', type: 'OPT', udpPayloadSize: o.edns, flags: 0, options: o.cookie ? [{ code: 10, data: Buffer.alloc(8, 7) }] : [] }];
  return dnsPacket.encode({ id: o.id ?? 1, type: 'query', flags: o.flags ?? 0x100, questions: [{ name, type: 'A', class: 'IN' }], additionals: opt as unknown as dnsPacket.Answer[] });
}

const relay = (f: Forwarder, q: Buffer, limit = 512): Promise<RelayOutcome> => f.relay(q, dnsPacket.decode(q).questions![0], limit);

test('a hit is the upstream answer with the client question case and TTLs lowered by its age', async () => {
  const { clock, f } = setup();
  answer.records = 2;
  const first = await relay(f, query('www.example.com', { id: 7 }));
  assert.equal(first.kind, 'relayed');
  assert.equal(asked.length, 1);
  const original = (first as { bytes: Buffer }).bytes;
  clock.advance(10_400);
  const q = query('WWW.Example.COM', { id: 9 });
  const hit = await relay(f, q);
  assert.equal(asked.length, 1, 'served from the cache');
  assert.ok(hit.kind === 'relayed' && hit.cached);
  const bytes = hit.bytes;
  const qEnd = questionEnd(q);
  assert.equal(bytes.subarray(12, qEnd).toString('latin1'), q.subarray(12, qEnd).toString('latin1'), "the client's case");
  const d = dnsPacket.decode(bytes);
  assert.deepEqual(d.answers!.map((a) => [(a as { ttl: number }).ttl, (a as { data: string }).data]), [[50, '192.0.2.1'], [51, '192.0.2.2']]);
  // Everything else is the upstream's bytes: put back the ID, the question and the TTLs and compare.
  const back = Buffer.from(bytes);
  original.copy(back, 0, 0, qEnd);
  for (const o of ttlOffsets(original)!) original.copy(back, o, o, o + 4);
  assert.deepEqual(back, original);
});

test('flags and EDNS are part of the key: a query asking differently goes upstream', async () => {
  const { f } = setup();
  await relay(f, query('a.example'));
  await relay(f, query('a.example', { flags: 0x110 })); // RD and CD
  await relay(f, query('a.example', { edns: 1232 }));
  await relay(f, query('a.example', { edns: 4096 }));
  assert.equal(asked.length, 4);
  const again = await relay(f, query('A.EXAMPLE', { edns: 4096, id: 3 }));
  assert.ok(again.kind === 'relayed' && again.cached);
  assert.equal(asked.length, 4);
});

test('a query with a cookie keeps the decoded cache; an answer over the client size comes back decoded for truncation', async () => {
  const { f } = setup();
  await relay(f, query('c.example', { edns: 1232, cookie: true }));
  const hit = await relay(f, query('c.example', { edns: 1232, cookie: true, id: 5 }));
  assert.ok(hit.kind === 'answer' && hit.cached, 'decoded hit');
  assert.equal(asked.length, 1);
  answer.records = 40; // ~ 1 KiB
  await relay(f, query('big.example', { edns: 4096 }), 4096);
  const small = await relay(f, query('big.example', { edns: 4096, id: 6 }), 512);
  assert.ok(small.kind === 'answer' && small.cached && small.packet.answers!.length === 40);
  assert.equal(asked.length, 2);
});

test('entries expire with their TTL; negative answers are kept for the SOA minimum', async () => {
  const { clock, f } = setup();
  answer.ttl = 5;
  await relay(f, query('e.example'));
  clock.advance(4_900);
  await relay(f, query('e.example'));
  assert.equal(asked.length, 1);
  clock.advance(200);
  await relay(f, query('e.example'));
  assert.equal(asked.length, 2, 'expired');
  answer.rcode = 3;
  await relay(f, query('nx.example'));
  clock.advance(29_000);
  const nx = await relay(f, query('nx.example'));
  assert.ok(nx.kind === 'relayed' && nx.cached && (nx.bytes[3] & 0xf) === 3);
  assert.equal((dnsPacket.decode(nx.bytes).authorities![0] as { ttl: number }).ttl, 300 - 29);
  clock.advance(1_000);
  await relay(f, query('nx.example'));
  assert.equal(asked.length, 4);
});

test('isPlainQuery: no records but one OPT without options; ttlOffsets skips the OPT and refuses junk', () => {
  const plain = query('p.example');
  assert.ok(isPlainQuery(plain, questionEnd(plain)));
  const edns = query('p.example', { edns: 1232 });
  assert.ok(isPlainQuery(edns, questionEnd(edns)));
  const cookie = query('p.example', { edns: 1232, cookie: true });
  assert.ok(!isPlainQuery(cookie, questionEnd(cookie)));
  const withAnswer = Buffer.from(plain);
  withAnswer[7] = 1;
  assert.ok(!isPlainQuery(withAnswer, questionEnd(withAnswer)));
  const resp = dnsPacket.encode({
    type: 'response', id: 1, questions: [{ name: 'p.example', type: 'A', class: 'IN' }], answers: [{ name: 'p.example', type: 'A', ttl: 77, data: '192.0.2.1' }],
    additionals: [{ name: '.', type: 'OPT', udpPayloadSize: 1232, flags: 0, options: [] } as unknown as dnsPacket.Answer],
  });
  const offs = ttlOffsets(resp)!;
  assert.equal(offs.length, 1);
  assert.equal(resp.readUInt32BE(offs[0]), 77);
  assert.equal(ttlOffsets(resp.subarray(0, resp.length - 3)), undefined);
  assert.equal(ttlOffsets(Buffer.alloc(5)), undefined);
});

test('cachedBytes gives a hit at once (the query handler replies before handle() returns); nothing for a miss, a cookie query or an answer over the limit', async () => {
  const { f } = setup();
  answer.records = 40; // ~ 1 KiB
  assert.equal(f.cachedBytes(query('s.example', { edns: 4096 }), 4096), undefined, 'miss');
  await relay(f, query('s.example', { edns: 4096 }), 4096);
  const q = query('S.EXAMPLE', { edns: 4096, id: 77 });
  const hit = f.cachedBytes(q, 4096);
  assert.ok(hit);
  assert.equal(hit.subarray(12, questionEnd(q)).toString('latin1'), q.subarray(12, questionEnd(q)).toString('latin1'));
  assert.equal(f.cachedBytes(q, 512), undefined, 'over the limit: relay() truncates it');
  await relay(f, query('k.example', { edns: 1232, cookie: true }));
  assert.equal(f.cachedBytes(query('k.example', { edns: 1232, cookie: true }), 4096), undefined, 'cookie queries are not served as bytes');

  const handler = new QueryHandler(new Answerer(Records.build({ networks: {}, services: [] })), f);
  let sent: Buffer | undefined;
  handler.handle(q, '127.0.0.1', 4096, (b) => (sent = b));
  assert.ok(sent, 'replied synchronously');
  assert.equal(sent.readUInt16BE(0), 77, "the client's ID");
  assert.equal(handler.counters.cacheHits, 1);
  assert.equal(asked.length, 2, 'the upstream was asked for s.example and k.example only');
});
