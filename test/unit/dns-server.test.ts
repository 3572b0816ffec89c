// The resolver over real UDP and TCP sockets on 127.0.0.x: scoping by source address, live updates, TC and the
// TCP retry, forwarding through a fake upstream, TCP framing limits, counters.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import * as dnsPacket from 'dns-packet';
import { systemClock } from '../../control/base/clock';
import { silentLogger } from '../../control/base/log';
import { DnsResolver } from '../../dns/dns-resolver';
import type { EndpointTable } from '../../mesh/endpoint-table';
import { FakeUpstream, bigTable, query, seeded, tcpAsk, udpAsk } from '../../dns/test-kit';

const HOST = '127.0.0.31';
// Task addresses on loopback, so a client bound to one of them is that task.
const table = (webTasks: string[]): EndpointTable => ({
  networks: { a: { name: 'a', subnet: '127.0.1.0/24' }, b: { name: 'b', subnet: '127.0.2.0/24' } },
  services: [
    { serviceId: '1', serviceName: 'web', mode: 'vip', vips: { a: '127.0.1.2' }, aliases: {}, ports: [],
      backends: webTasks.map((ip, i) => ({ taskId: `t${ip.split('.')[3]}`, name: `web.${i + 1}.t${ip.split('.')[3]}`, nodeId: 'n', addrs: { a: ip } })) },
    { serviceId: '2', serviceName: 'db', mode: 'dnsrr', vips: {}, aliases: {}, ports: [],
      backends: [{ taskId: 'd', name: 'db.1.d', nodeId: 'n', addrs: { b: '127.0.2.5' } }] },
  ],
});

let up: FakeUpstream;
let dns: DnsResolver;
before(async () => {
  up = await new FakeUpstream('127.0.0.32', 'answer', { ttl: 30, ip: '192.0.2.44' }).start();
  dns = new DnsResolver({ address: HOST, port: 0, clock: systemClock, logger: silentLogger, upstreams: [{ host: up.host, port: up.port }], searchDomains: [], random: seeded(1) });
  await dns.start();
  dns.apply(table(['127.0.1.5']));
});
after(async () => {
  await dns.stop();
  await up.stop();
});

const decode = (b: Buffer | undefined): dnsPacket.DecodedPacket & { rcode?: string } => {
  assert.ok(b, 'no reply');
  return dnsPacket.decode(b);
};
const ips = (p: dnsPacket.Packet): unknown[] => (p.answers ?? []).map((a) => (a as { data: unknown }).data).sort();

test('UDP and TCP answer the same; the source address decides what is visible', async () => {
  const fromWeb = { from: '127.0.1.5' };
  assert.deepEqual(ips(decode(await udpAsk(dns.port, HOST, query('web'), fromWeb))), ['127.0.1.2']);
  assert.deepEqual(ips(decode(await tcpAsk(dns.port, HOST, query('web'), fromWeb))), ['127.0.1.2']);
  assert.equal(decode(await udpAsk(dns.port, HOST, query('db'), fromWeb)).rcode, 'NXDOMAIN');
  assert.deepEqual(ips(decode(await udpAsk(dns.port, HOST, query('db'), { from: '127.0.0.1' }))), ['127.0.2.5']);
});

test('answers follow apply(table) at once', async () => {
  dns.apply(table(['127.0.1.5', '127.0.1.6']));
  assert.deepEqual(ips(decode(await udpAsk(dns.port, HOST, query('tasks.web')))), ['127.0.1.5', '127.0.1.6']);
  dns.apply(table(['127.0.1.6']));
  assert.deepEqual(ips(decode(await udpAsk(dns.port, HOST, query('tasks.web')))), ['127.0.1.6']);
  // A gone task's name is ours no more: it goes upstream (the fake answers everything with 192.0.2.44).
  assert.deepEqual(ips(decode(await udpAsk(dns.port, HOST, query('web.1.t5')))), ['192.0.2.44']);
});

test('over 512 bytes: TC over UDP, everything over TCP; with EDNS the bigger UDP size', async () => {
  dns.apply(bigTable(1, 80));
  const u = decode(await udpAsk(dns.port, HOST, query('tasks.svc0')));
  assert.ok(u.flag_tc && u.answers!.length < 80);
  assert.equal(decode(await tcpAsk(dns.port, HOST, query('tasks.svc0'))).answers!.length, 80);
  const e = decode(await udpAsk(dns.port, HOST, query('tasks.svc0', 'A', { edns: 4096 })));
  assert.ok(!e.flag_tc && e.answers!.length === 80);
  assert.ok(e.additionals!.some((a) => a.type === 'OPT'));
  dns.apply(table(['127.0.1.5']));
});

test('other names go to the upstream (answered once, then from the cache); AAAA of our names never does', async () => {
  const before = up.udpQueries;
  const a = decode(await udpAsk(dns.port, HOST, query('Www.Example.org', 'A', { id: 77 })));
  assert.equal(a.id, 77);
  assert.deepEqual(ips(a), ['192.0.2.44']);
  assert.equal(a.questions![0].name, 'Www.Example.org');
  const b = decode(await tcpAsk(dns.port, HOST, query('www.example.org')));
  assert.deepEqual(ips(b), ['192.0.2.44']);
  assert.equal(up.udpQueries, before + 1);
  const six = decode(await udpAsk(dns.port, HOST, query('web', 'AAAA')));
  assert.equal(six.rcode, 'NOERROR');
  assert.equal(six.answers!.length, 0);
  assert.equal(up.udpQueries, before + 1);
  const c = dns.counters();
  assert.ok(c.forwarded >= 2 && c.cacheHits >= 1 && c.fastPath >= 1);
  assert.ok((c.queries.A ?? 0) > 0 && (c.answers.NXDOMAIN ?? 0) > 0 && c.latency.count > 0);
});

test('TCP: pipelined queries on one connection all answered; a frame shorter than a header closes it', async () => {
  const s = net.connect({ port: dns.port, host: HOST });
  await new Promise((r) => s.once('connect', r));
  const frames = [];
  for (let i = 0; i < 50; i++) {
    const q = query(i % 2 ? 'web' : 'example.net', 'A', { id: i });
    const len = Buffer.alloc(2);
    len.writeUInt16BE(q.length);
    frames.push(len, q);
  }
  s.write(Buffer.concat(frames));
  const ids = new Set<number>();
  let buf = Buffer.alloc(0);
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`only ${ids.size} answers`)), 3000);
    s.on('data', (c) => {
      buf = Buffer.concat([buf, c]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        ids.add(buf.readUInt16BE(2));
        buf = buf.subarray(2 + buf.readUInt16BE(0));
      }
      if (ids.size === 50) {
        clearTimeout(t);
        resolve();
      }
    });
  });
  s.write(Buffer.from([0, 3, 1, 2, 3]));
  await new Promise((r) => s.once('close', r));
  assert.ok(decode(await udpAsk(dns.port, HOST, query('web'))), 'still serving');
});
