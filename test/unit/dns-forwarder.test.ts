// Forwarding against fake upstreams on 127.0.0.x that answer, stay silent, truncate or SERVFAIL; time (timeouts,
// health, cache TTL) on a FakeClock.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import type * as dnsPacket from 'dns-packet';
import { FakeClock } from '../../control/base/clock';
import { silentLogger } from '../../control/base/log';
import { Forwarder, ForwardOutcome } from '../../dns/forwarder';
import { FakeUpstream } from '../../dns/test-kit';

const ups: FakeUpstream[] = [];
const fwds: Forwarder[] = [];
after(async () => {
  for (const f of fwds) f.close();
  for (const u of ups) await u.stop();
});

async function upstream(host: string, b: FakeUpstream['behaviour'], answer?: FakeUpstream['answer']): Promise<FakeUpstream> {
  const u = await new FakeUpstream(host, b, answer).start();
  ups.push(u);
  return u;
}

function forwarder(clock: FakeClock, list: FakeUpstream[], extra: Partial<ConstructorParameters<typeof Forwarder>[0]> = {}): Forwarder {
  const f = new Forwarder({ upstreams: list.map((u) => ({ host: u.host, port: u.port })), clock, logger: silentLogger, timeoutMs: 1000, ...extra });
  fwds.push(f);
  return f;
}

async function until(cond: () => boolean): Promise<void> {
  const end = Date.now() + 2000;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in 2 s');
    await new Promise((r) => setTimeout(r, 2));
  }
}

const q = (name: string): dnsPacket.Question => ({ name, type: 'A', class: 'IN' });
const ips = (o: ForwardOutcome): unknown[] => (o.kind === 'answer' ? (o.packet.answers ?? []).map((a) => (a as { data: unknown }).data) : []);

test('a silent upstream times out and the next one answers; after two failures it is tried last', async () => {
  const clock = new FakeClock();
  const dead = await upstream('127.0.0.21', 'silent');
  const good = await upstream('127.0.0.22', 'answer', { ttl: 0, ip: '192.0.2.7' });
  const f = forwarder(clock, [dead, good]);
  for (let i = 0; i < 2; i++) {
    const p = f.resolve(q(`a${i}.example`));
    await until(() => dead.udpQueries === i + 1);
    clock.advance(1000);
    assert.deepEqual(ips(await p), ['192.0.2.7']);
  }
  assert.equal(f.upstreams()[0].healthy, false);
  assert.deepEqual(ips(await f.resolve(q('b.example'))), ['192.0.2.7']);
  assert.equal(dead.udpQueries, 2, 'a down upstream is skipped while another answers');
  clock.advance(30_000);
  assert.equal(f.upstreams()[0].healthy, true, 'health comes back after downMs and it is tried again');
  assert.equal(f.stats.timeouts, 2);
});

test('SERVFAIL moves to the next upstream; SERVFAIL from all gives a servfail outcome', async () => {
  const clock = new FakeClock();
  const bad = await upstream('127.0.0.23', 'servfail');
  const good = await upstream('127.0.0.24', 'answer', { ttl: 0, ip: '192.0.2.8' });
  assert.deepEqual(ips(await forwarder(clock, [bad, good]).resolve(q('c.example'))), ['192.0.2.8']);
  const all = await forwarder(clock, [bad]).resolve(q('d.example'));
  assert.deepEqual(all, { kind: 'servfail', reason: 'failed' });
  assert.deepEqual(await forwarder(clock, []).resolve(q('e.example')), { kind: 'servfail', reason: 'none' });
});

test('a truncated UDP answer is fetched again over TCP', async () => {
  const clock = new FakeClock();
  const tc = await upstream('127.0.0.25', 'truncate', { ttl: 0, ip: '', records: 120 });
  const f = forwarder(clock, [tc]);
  const out = await f.resolve(q('big.example'));
  assert.equal(ips(out).length, 120);
  assert.equal(tc.udpQueries, 1);
  assert.equal(tc.tcpQueries, 1);
  assert.equal(f.stats.tcpRetries, 1);
});

test('answers are cached for their TTL (lowered on hits), negative answers for the SOA minimum', async () => {
  const clock = new FakeClock();
  const up = await upstream('127.0.0.26', 'answer', { ttl: 60, ip: '192.0.2.9' });
  const f = forwarder(clock, [up]);
  await f.resolve(q('f.example'));
  clock.advance(10_000);
  const hit = await f.resolve(q('F.example'));
  assert.ok(hit.kind === 'answer' && hit.cached);
  assert.equal(((hit as { packet: dnsPacket.Packet }).packet.answers![0] as { ttl: number }).ttl, 50);
  assert.equal(up.udpQueries, 1);
  clock.advance(50_000);
  await f.resolve(q('f.example'));
  assert.equal(up.udpQueries, 2, 'expired: asked again');
  const nx = await upstream('127.0.0.27', 'nxdomain');
  const g = forwarder(clock, [nx]);
  await g.resolve(q('nope.example'));
  clock.advance(29_000);
  await g.resolve(q('nope.example'));
  assert.equal(nx.udpQueries, 1);
  clock.advance(1_000);
  await g.resolve(q('nope.example'));
  assert.equal(nx.udpQueries, 2);
});

test('identical questions share one upstream query; the in-flight cap answers SERVFAIL at once', async () => {
  const clock = new FakeClock();
  const dead = await upstream('127.0.0.28', 'silent');
  const f = forwarder(clock, [dead], { maxInFlight: 1 });
  const a = f.resolve(q('g.example'));
  const b = f.resolve(q('g.example'));
  assert.deepEqual(await f.resolve(q('h.example')), { kind: 'servfail', reason: 'overflow' });
  await until(() => dead.udpQueries === 1);
  clock.advance(1000);
  assert.deepEqual(await a, { kind: 'servfail', reason: 'failed' });
  assert.deepEqual(await b, { kind: 'servfail', reason: 'failed' });
  assert.equal(dead.udpQueries, 1);
});
