// Forwarding as a relay, end to end through the resolver on 127.0.0.5x: the upstream gets the client's query
// bytes with only the ID changed, and the client gets the upstream's answer bytes with only its own ID back —
// including what a decode/encode would have changed (a compressed name, the upstream's EDNS OPT and options).
// Answers too big for the client are truncated by us with TC; over TCP the whole answer is relayed.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import * as dnsPacket from 'dns-packet';
import { systemClock } from '../../control/base/clock';
import { silentLogger } from '../../control/base/log';
import { DnsResolver } from '../../dns/dns-resolver';
import { Forwarder } from '../../dns/forwarder';
import { tcpAsk, udpAsk } from '../../dns/test-kit';

const HOST = '127.0.0.51';
const UPSTREAM = '127.0.0.52';

/**
 * An upstream that answers with bytes the test writes: for each query (as received, transport), a reply or
 * nothing. It keeps what it received, so a test can compare bytes on both sides.
 */
class RawUpstream {
  readonly received: Array<{ bytes: Buffer; transport: 'udp' | 'tcp'; from?: dgram.RemoteInfo }> = [];
  answer: (q: Buffer, transport: 'udp' | 'tcp') => Buffer | undefined = () => undefined;
  private readonly udp = dgram.createSocket('udp4');
  private readonly tcp = net.createServer((s) => {
    let buf = Buffer.alloc(0);
    s.on('error', () => {});
    s.on('data', (c) => {
      buf = Buffer.concat([buf, c]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const q = Buffer.from(buf.subarray(2, 2 + buf.readUInt16BE(0)));
        buf = buf.subarray(2 + q.length);
        this.received.push({ bytes: q, transport: 'tcp' });
        const a = this.answer(q, 'tcp');
        if (a) s.write(Buffer.concat([Buffer.from([a.length >> 8, a.length & 0xff]), a]));
      }
    });
  });
  port = 0;

  async start(): Promise<this> {
    this.udp.on('message', (q, r) => {
      this.received.push({ bytes: Buffer.from(q), transport: 'udp', from: r });
      const a = this.answer(q, 'udp');
      if (a) this.udp.send(a, r.port, r.address);
    });
    await new Promise<void>((r) => this.udp.bind(0, UPSTREAM, () => r()));
    this.port = this.udp.address().port;
    await new Promise<void>((r) => this.tcp.listen(this.port, UPSTREAM, () => r()));
    return this;
  }

  /** A late answer over UDP to a query received earlier. */
  reply(to: dgram.RemoteInfo, bytes: Buffer): void {
    this.udp.send(bytes, to.port, to.address);
  }

  async stop(): Promise<void> {
    await new Promise<void>((r) => this.udp.close(() => r()));
    await new Promise<void>((r) => this.tcp.close(() => r()));
  }
}

let up: RawUpstream;
let dns: DnsResolver;
before(async () => {
  up = await new RawUpstream().start();
  dns = new DnsResolver({ address: HOST, port: 0, clock: systemClock, logger: silentLogger, upstreams: [{ host: UPSTREAM, port: up.port }], searchDomains: [] });
  await dns.start();
  await dns.apply({ networks: {}, services: [] });
});
after(async () => {
  await dns.stop();
  await up.stop();
});

/** The bytes after the ID (the ID is the one thing the relay rewrites). */
const body = (b: Buffer): string => b.subarray(2).toString('hex');

/** A query with a 0x20-mixed name, RD clear and an EDNS OPT carrying a cookie option (code 10). */
function oddQuery(id: number, name: string): Buffer {
  return dnsPacket.encode({
    id, type: 'query', flags: 0,
    questions: [{ name, type: 'A', class: 'IN' }],
    additionals: [{ name: '.', type: 'OPT', udpPayloadSize: 1400, flags: 0, options: [{ code: 10, data: Buffer.from('0123456789abcdef', 'hex') }] } as unknown as dnsPacket.Answer],
  });
}

/**
 * An answer no encoder of ours writes: AA and RA, the answer's owner as a compression pointer to the question
 * (0xc00c), TTL 0 (never cached), and the upstream's own OPT with an option of its own (code 65001).
 */
function oddAnswer(q: Buffer): Buffer {
  const qEnd = q.indexOf(0, 12) + 5;
  const header = Buffer.from(q.subarray(0, 12));
  header[2] = 0x84 | (q[2] & 0x01); // QR, AA, RD as asked
  header[3] = 0x80; // RA, NOERROR
  header.writeUInt16BE(1, 6); // one answer
  header.writeUInt16BE(0, 8);
  header.writeUInt16BE(1, 10); // one additional: the OPT
  const rr = Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 0, 0, 4, 198, 51, 100, 7]);
  const opt = Buffer.from([0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 6, 0xfd, 0xe9, 0, 2, 0xbe, 0xef]);
  return Buffer.concat([header, q.subarray(12, qEnd), rr, opt]);
}

test('a forwarded query reaches the upstream as sent but for the ID, and its answer comes back byte for byte with the client ID', async () => {
  up.received.length = 0;
  up.answer = (q) => oddAnswer(q);
  const q = oddQuery(0x1234, 'ExAmPle.ORG');
  const a = await udpAsk(dns.port, HOST, q);
  assert.ok(a, 'no answer');
  assert.equal(up.received.length, 1);
  const sent = up.received[0].bytes;
  assert.equal(body(sent), body(q), 'query bytes after the ID are unchanged (case, RD clear, EDNS and its cookie)');
  assert.equal(a.readUInt16BE(0), 0x1234, 'the client ID is restored');
  assert.equal(body(a), body(oddAnswer(sent)), 'answer bytes after the ID are the upstream\'s (compression pointer, AA, its OPT option)');
  const d = dnsPacket.decode(a);
  assert.deepEqual(d.answers?.map((r) => (r as { data?: unknown }).data), ['198.51.100.7']);
});

test('identical queries in flight share one upstream query; each client gets its own ID; other bytes are asked apart', async () => {
  up.received.length = 0;
  up.answer = () => undefined; // answered below, once all three are in flight
  const replies: Buffer[] = [];
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  sock.on('message', (m) => replies.push(m));
  sock.send(oddQuery(1, 'same.example'), dns.port, HOST);
  sock.send(oddQuery(2, 'same.example'), dns.port, HOST);
  sock.send(oddQuery(3, 'SAME.example'), dns.port, HOST);
  await until(() => up.received.length >= 2);
  await new Promise((r) => setTimeout(r, 50)); // room for a third upstream query, which must not come
  assert.equal(up.received.length, 2, 'ids 1 and 2 share a query; the other case is another question on the wire');
  for (const r of up.received) up.reply(r.from!, oddAnswer(r.bytes));
  await until(() => replies.length === 3);
  sock.close();
  assert.deepEqual(replies.map((r) => r.readUInt16BE(0)).sort(), [1, 2, 3]);
  for (const r of replies) assert.equal(body(r), body(oddAnswer(oddQuery(r.readUInt16BE(0), r.readUInt16BE(0) === 3 ? 'SAME.example' : 'same.example'))));
});

test('an answer truncated over UDP is fetched over TCP; too big for a UDP client it is truncated here with TC, over TCP it is relayed whole', async () => {
  up.received.length = 0;
  const full = (q: Buffer): Buffer => {
    const d = dnsPacket.decode(q);
    const answers = Array.from({ length: 60 }, (_, i) => ({ name: d.questions![0].name, type: 'A' as const, ttl: 0, data: `198.51.100.${i + 1}` }));
    return dnsPacket.encode({ id: d.id, type: 'response', flags: dnsPacket.RECURSION_AVAILABLE, questions: d.questions, answers });
  };
  up.answer = (q, transport) => {
    if (transport === 'tcp') return full(q);
    const d = dnsPacket.decode(q);
    return dnsPacket.encode({ id: d.id, type: 'response', flags: dnsPacket.RECURSION_AVAILABLE | dnsPacket.TRUNCATED_RESPONSE, questions: d.questions });
  };
  const q = dnsPacket.encode({ id: 77, type: 'query', flags: dnsPacket.RECURSION_DESIRED, questions: [{ name: 'big.example', type: 'A', class: 'IN' }] });
  const overUdp = await udpAsk(dns.port, HOST, q);
  assert.ok(overUdp && overUdp.length <= 512, 'a UDP client without EDNS gets at most 512 bytes');
  const d = dnsPacket.decode(overUdp);
  assert.equal(d.id, 77);
  assert.ok(d.flag_tc, 'TC set, so the client retries over TCP');
  assert.ok((d.answers?.length ?? 0) > 0 && (d.answers?.length ?? 0) < 60);
  assert.deepEqual(up.received.map((r) => r.transport), ['udp', 'tcp']);

  const overTcp = await tcpAsk(dns.port, HOST, q);
  assert.ok(overTcp);
  const sent = up.received.at(-1)!.bytes;
  assert.equal(up.received.at(-1)!.transport, 'tcp');
  assert.equal(overTcp.readUInt16BE(0), 77);
  assert.equal(body(overTcp), body(full(sent)), 'over TCP the whole answer, byte for byte');
});

test('an answer that does not repeat our question is ignored (the query times out to the next upstream, here SERVFAIL)', async () => {
  const f = new Forwarder({ upstreams: [{ host: UPSTREAM, port: up.port }], clock: systemClock, logger: silentLogger, timeoutMs: 200 });
  up.answer = (q) => {
    const d = dnsPacket.decode(q);
    return dnsPacket.encode({ id: d.id, type: 'response', flags: 0x80, questions: [{ name: 'other.example', type: 'A', class: 'IN' }] });
  };
  try {
    assert.deepEqual(await f.resolve({ name: 'asked.example', type: 'A', class: 'IN' }), { kind: 'servfail', reason: 'failed' });
    assert.equal(f.stats.timeouts, 1);
  } finally {
    f.close();
  }
});

test('an upstream that is not an IP address, or a port out of range, is refused with the fix', () => {
  const make = (host: string, port: number) => () => new Forwarder({ upstreams: [{ host, port }], clock: systemClock, logger: silentLogger });
  assert.throws(make('dns.example', 53), /dns upstream "dns.example" is not an IP address: give upstreams as IP and port/);
  assert.throws(make('192.0.2.53', 0), /port 0: use 1-65535/);
});

test('a query without RD refused upstream gets that REFUSED, and the upstream is not marked down for everyone else', async () => {
  const refused = (q: Buffer) => {
    const a = Buffer.from(q);
    a[2] = 0x80 | (q[2] & 0x01); // QR, RD as asked
    a[3] = 0x05; // REFUSED
    return a;
  };
  up.answer = (q) => refused(q);
  for (let i = 0; i < 4; i++) {
    const a = await udpAsk(dns.port, HOST, oddQuery(0x4000 + i, `norec${i}.example.org`));
    assert.ok(a, 'no answer');
    assert.equal(a[3] & 0xf, 5, 'the upstream\'s REFUSED, relayed');
  }
  assert.deepEqual(dns.counters().upstreams.map((u) => u.healthy), [true], 'four refusals of non-recursive queries are no failures');
  up.answer = (q) => oddAnswer(q);
});

async function until(cond: () => boolean): Promise<void> {
  const end = Date.now() + 2000;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in 2 s');
    await new Promise((r) => setTimeout(r, 2));
  }
}
