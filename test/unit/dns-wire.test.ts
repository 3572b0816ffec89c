// Reading answers as bytes (dns/wire.ts): the TTL rule must be forward-cache's cacheTtl() exactly, on the same
// packets, and nothing that does not parse may be cached or throw.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as dnsPacket from 'dns-packet';
import { cacheTtl } from '../../dns/forward-cache';
import { questionEnd, sameQuestion, wireCacheTtl } from '../../dns/wire';
import { query, seeded } from '../../dns/test-kit';

const q = [{ name: 'x.example', type: 'A' as const, class: 'IN' as const }];
const a = (ttl: number, data = '192.0.2.1'): dnsPacket.Answer => ({ name: 'x.example', type: 'A', ttl, data });
const soa = (ttl: number, minimum: number): dnsPacket.Answer => ({ name: 'example', type: 'SOA', ttl, data: { mname: 'ns.example', rname: 'h.example', minimum } });
const opt = { name: '.', type: 'OPT', udpPayloadSize: 1232, flags: 0, options: [] } as unknown as dnsPacket.Answer;

const packets: Record<string, dnsPacket.Packet> = {
  'one answer': { type: 'response', questions: q, answers: [a(60)] },
  'smallest of several': { type: 'response', questions: q, answers: [a(300), a(20, '192.0.2.2'), a(90, '192.0.2.3')] },
  'answers and an OPT': { type: 'response', questions: q, answers: [a(45)], additionals: [opt] },
  'TTL 0': { type: 'response', questions: q, answers: [a(0)] },
  'NXDOMAIN with SOA: SOA TTL capped by minimum': { type: 'response', flags: 3, questions: q, authorities: [soa(300, 30)] },
  'NODATA with SOA, minimum above TTL': { type: 'response', questions: q, authorities: [soa(10, 600)] },
  'NXDOMAIN without SOA': { type: 'response', flags: 3, questions: q },
  SERVFAIL: { type: 'response', flags: 2, questions: q, answers: [a(60)] },
  REFUSED: { type: 'response', flags: 5, questions: q },
  'a big TTL (unsigned)': { type: 'response', questions: q, answers: [a(0x80000000)] },
};

for (const [name, p] of Object.entries(packets)) {
  test(`wireCacheTtl equals cacheTtl: ${name}`, () => {
    const bytes = dnsPacket.encode(p);
    assert.equal(wireCacheTtl(bytes), cacheTtl(dnsPacket.decode(bytes)));
  });
}

test('a compressed owner name is skipped like any other', () => {
  // header (1 question, 1 answer), question x.example A IN, answer owner = pointer to offset 12, TTL 42.
  const bytes = Buffer.concat([
    Buffer.from([0, 1, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0]),
    Buffer.from([1, 0x78, 7, ...Buffer.from('example'), 0, 0, 1, 0, 1]),
    Buffer.from([0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 42, 0, 4, 192, 0, 2, 1]),
  ]);
  assert.equal(wireCacheTtl(bytes), 42);
  assert.equal(wireCacheTtl(bytes), cacheTtl(dnsPacket.decode(bytes)));
});

test('cut or random bytes give 0 (not cached) and never throw', () => {
  const whole = dnsPacket.encode(packets['smallest of several']);
  for (let n = 0; n < whole.length; n++) assert.equal(wireCacheTtl(whole.subarray(0, n)), 0, `cut at ${n}`);
  const rnd = seeded(7);
  for (let i = 0; i < 20_000; i++) {
    const b = Buffer.from(whole);
    for (let k = 0; k < 4; k++) b[Math.floor(rnd() * b.length)] = Math.floor(rnd() * 256);
    wireCacheTtl(b); // must not throw, whatever it says
    questionEnd(b);
  }
});

test('questionEnd is where the question ends; sameQuestion ignores letter case only', () => {
  const m = query('Web.Example', 'A', { edns: 1232 });
  const end = questionEnd(m);
  assert.equal(end, 12 + 'Web.Example'.length + 2 + 4);
  const asked = m.subarray(12, end);
  assert.ok(sameQuestion(query('wEB.example', 'A'), asked));
  assert.ok(!sameQuestion(query('web.example', 'AAAA'), asked), 'another type');
  assert.ok(!sameQuestion(query('wec.example', 'A'), asked), 'another name');
  assert.ok(!sameQuestion(query('web.example', 'A').subarray(0, 20), asked), 'cut short');
  assert.equal(questionEnd(Buffer.alloc(11)), -1);
});
