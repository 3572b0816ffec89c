// Hostile input: at least 100,000 random and mutated packets over UDP and TCP, time-capped (~20 s). The server must
// answer a valid query after every batch, keep its heap flat, and let no exception escape. Packets are made before
// the clock starts (queries encoded once per name and type, then copied and mutated), and the valid probe after
// each batch doubles as flow control: the server reads one socket in order, so its answer to the probe means the
// batch before it was read, and the socket's receive queue never overflows (a lost packet exercises nothing).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import * as dnsPacket from 'dns-packet';
import { systemClock } from '../../control/base/clock';
import { silentLogger } from '../../control/base/log';
import { DnsResolver } from '../../dns/dns-resolver';
import { FakeUpstream, fixtureTable, query, seeded } from '../../dns/test-kit';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;
const TARGET = 100_000;
const TIME_CAP_MS = 18_000;
// Batches well inside the socket's receive queue (rmem default ~208 KB, a datagram costs its size plus ~1 KB).
const BATCH = 100;

const rnd = seeded(20260101);
const int = (n: number): number => Math.floor(rnd() * n);
const NAMES = ['web', 'tasks.web', 'db', 'web.1.aaa', '_http._tcp.web', '5.1.0.10.in-addr.arpa', 'x.example', 'api'];
const TYPES: dnsPacket.RecordType[] = ['A', 'AAAA', 'SRV', 'PTR', 'MX', 'TXT', 'ANY' as dnsPacket.RecordType];

/** Every name × type, plain and with EDNS: encoded once, mutated in copies. */
const BASES = NAMES.flatMap((n) => TYPES.flatMap((t) => [query(n, t), query(n, t, { edns: 512 + int(4000) })]));

function packet(): Buffer {
  const kind = int(10);
  if (kind < 2) {
    const b = Buffer.allocUnsafe(int(700));
    for (let i = 0; i < b.length; i++) b[i] = int(256);
    return b;
  }
  const b = Buffer.from(BASES[int(BASES.length)]);
  b.writeUInt16BE(int(65536), 0);
  const flips = 1 + int(6);
  for (let i = 0; i < flips; i++) b[int(b.length)] = int(256);
  if (kind === 2) return b.subarray(0, int(b.length)); // cut short
  if (kind === 3) return Buffer.concat([b, Buffer.alloc(int(64), int(256))]); // trailing junk
  if (kind === 4) {
    b.writeUInt16BE(int(65536), 4 + 2 * int(4)); // lying section counts
    return b;
  }
  if (kind === 5) {
    b[12] = 0xc0; // a compression pointer where the name starts (a loop or a jump forward)
    b[13] = int(256);
  }
  return b;
}

const up = new FakeUpstream('127.0.0.42', 'nxdomain');
let dns: DnsResolver | undefined;
const udp = dgram.createSocket('udp4');
after(async () => {
  udp.close();
  await dns?.stop();
  await up.stop();
});

const setResolver = (d: DnsResolver): void => void (dns = d);

test(`fuzz: ${TARGET} random and mutated packets over UDP and TCP; valid queries answered throughout`, async () => {
  await up.start();
  const dns = new DnsResolver({ address: '127.0.0.41', port: 0, clock: systemClock, logger: silentLogger, upstreams: [{ host: up.host, port: up.port }], searchDomains: [], cacheSize: 1000, forwardTimeoutMs: 200 });
  await dns.start();
  setResolver(dns);
  dns.apply(fixtureTable());
  let escaped = 0;
  const onErr = (): void => void escaped++;
  process.on('uncaughtException', onErr);
  // Fuzz packets go out from `udp` (their answers are ignored); probes from `probe`, answered in order.
  udp.on('message', () => {});
  await new Promise<void>((r) => udp.bind(0, '127.0.0.1', () => r()));
  const probe = dgram.createSocket('udp4');
  let onProbe: ((id: number) => void) | undefined;
  probe.on('message', (m) => {
    const p = dnsPacket.decode(m);
    assert.deepEqual((p.answers ?? []).map((a) => (a as { data: unknown }).data), ['10.0.1.2']);
    onProbe?.(p.id ?? -1);
  });
  await new Promise<void>((r) => probe.bind(0, '127.0.0.1', () => r()));
  let probeId = 0;
  /** A valid query, answered; retried (a new ID each time) if its answer does not come within a second. */
  const ask = async (): Promise<boolean> => {
    for (let tries = 0; tries < 5; tries++) {
      const id = (probeId = (probeId + 1) & 0xffff);
      const got = await new Promise<boolean>((resolve) => {
        const t = setTimeout(() => resolve(false), 1000);
        onProbe = (rid) => rid === id && (clearTimeout(t), resolve(true));
        probe.send(query('web', 'A', { id }), dns.port, '127.0.0.41');
      });
      if (got) return true;
    }
    return false;
  };
  const pool: Buffer[] = [];
  for (let i = 0; i < TARGET; i++) pool.push(packet());
  const start = Date.now();
  let sent = 0;
  let tcpSent = 0;
  let heapAtWarm = 0;
  let valid = 0;
  let next = 0;
  const take = (): Buffer => pool[next++ % pool.length];
  while (sent < TARGET && Date.now() - start < TIME_CAP_MS) {
    for (let i = 0; i < BATCH; i++) udp.send(take(), dns.port, '127.0.0.41');
    sent += BATCH;
    // Every 5th batch also over TCP: one connection, frames of garbage (the server may close it; that is fine).
    if ((sent / BATCH) % 5 === 0) {
      const frames: Buffer[] = [];
      for (let i = 0; i < BATCH; i++) {
        const p = take();
        const len = Buffer.alloc(2);
        len.writeUInt16BE(int(20) ? p.length : int(65536));
        frames.push(len, p);
      }
      // Not awaited: the connection lives on its own (closed by the server, by us after 1 s, or by an error).
      void new Promise<void>((resolve) => {
        const s = net.connect({ port: dns.port, host: '127.0.0.41' }, () => s.end(Buffer.concat(frames)));
        s.on('data', () => {});
        s.on('error', () => resolve());
        s.on('close', () => resolve());
        s.setTimeout(1000, () => s.destroy());
      });
      sent += BATCH;
      tcpSent += BATCH;
    }
    assert.ok(await ask(), `no answer to a valid query after ${sent} packets`);
    valid++;
    if (!heapAtWarm && sent >= 20_000) {
      gc();
      heapAtWarm = process.memoryUsage().heapUsed;
    }
  }
  const elapsed = Date.now() - start;
  probe.close();
  await new Promise((r) => setTimeout(r, 300)); // let the forwarder's timeouts drain
  gc();
  const heapEnd = process.memoryUsage().heapUsed;
  process.off('uncaughtException', onErr);
  const c = dns.counters();
  const rate = Math.round((sent * 1000) / elapsed);
  console.log(`fuzz: ${sent} packets (${tcpSent} over TCP) in ${elapsed} ms = ${rate}/s; ${valid} valid checks; heap ${(heapAtWarm / 1e6).toFixed(1)} → ${(heapEnd / 1e6).toFixed(1)} MB; dropped ${c.dropped}, FORMERR ${c.formErrors}, errors ${c.errors}`);
  assert.equal(escaped, 0, 'no exception escaped');
  assert.equal(c.errors, 0, 'no exception was even caught at the server loop');
  if (sent < TARGET) console.log(`fuzz: time cap reached at ${sent} packets (${rate}/s); ${TARGET} did not fit in ${TIME_CAP_MS} ms`);
  assert.ok(heapAtWarm === 0 || heapEnd - heapAtWarm < 8e6, `heap grew ${((heapEnd - heapAtWarm) / 1e6).toFixed(1)} MB`);
});
