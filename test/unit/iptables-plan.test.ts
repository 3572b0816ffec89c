import { test } from 'node:test';
import assert from 'node:assert/strict';
import { plan, type NodeContext } from '../../mesh/iptables/plan';
import { renderRestore } from '../../mesh/iptables/render';
import { IptablesApplier } from '../../mesh/iptables/applier';
import type { EndpointTable, ServiceEndpoint } from '../../mesh/endpoint-table';
import { FakeIptables, type Outcome, type Packet } from '../fakes/fake-iptables';

// A node at 192.0.2.10 whose ingress bridge (10.0.0.1/24) is `br-ing` and overlay bridge (10.0.1.1/24) `br-ov`.
const NODE: NodeContext = { nodeId: 'n1', addresses: ['192.0.2.10', '192.0.2.11'], bridgeName: (id) => `br-${id}` };
const NETS = { ing: { name: 'ingress', subnet: '10.0.0.0/24' }, ov: { name: 'app', subnet: '10.0.1.0/24' } };

type B = [string, string, Record<string, string>];
function svc(over: Partial<Omit<ServiceEndpoint, 'backends'>> & { backends?: B[] } = {}): ServiceEndpoint {
  const { backends = [], ...rest } = over;
  return {
    serviceId: 'svc-web', serviceName: 'web', mode: 'vip', vips: { ing: '10.0.0.2', ov: '10.0.1.2' }, aliases: {},
    ports: [{ protocol: 'tcp', targetPort: 80, publishedPort: 8080, publishMode: 'ingress' }],
    ...rest,
    backends: backends.map(([taskId, nodeId, addrs]) => ({ taskId, name: `web.x.${taskId}`, nodeId, addrs })),
  };
}

async function load(services: ServiceEndpoint[], node = NODE): Promise<FakeIptables> {
  const fake = new FakeIptables({ localAddrs: ['192.0.2.10', '192.0.2.11', '10.0.0.1', '10.0.1.1'], routes: [{ subnet: '10.0.0.0/24', dev: 'br-ing' }, { subnet: '10.0.1.0/24', dev: 'br-ov' }] });
  const applier = new IptablesApplier({ exec: fake.exec });
  const model = plan({ ingressNetworkId: 'ing', networks: NETS, services }, node);
  await applier.restore(renderRestore(model, { kernel: await applier.readKernel() }));
  return fake;
}

/** Probability of each destination among delivered outcomes. */
function spread(outs: Outcome[]): Record<string, number> {
  const r: Record<string, number> = {};
  for (const o of outs) r[o.to] = (r[o.to] ?? 0) + o.probability;
  return r;
}
const outside = (dst: string, dport: number, proto: 'tcp' | 'udp' = 'tcp'): Packet => ({ proto, src: '203.0.113.5', dst, dport, from: 'eth0' });

const three = svc({ backends: [['t1', 'n1', { ing: '10.0.0.5', ov: '10.0.1.5' }], ['t2', 'n1', { ing: '10.0.0.6', ov: '10.0.1.6' }], ['t3', 'n1', { ing: '10.0.0.7', ov: '10.0.1.7' }]] });

test('a published port reaches each local backend with equal probability, the client address kept', async () => {
  const fake = await load([three]);
  const outs = fake.trace(outside('192.0.2.10', 8080));
  const s = spread(outs);
  assert.deepEqual(Object.keys(s).sort(), ['10.0.0.5:80', '10.0.0.6:80', '10.0.0.7:80']);
  for (const p of Object.values(s)) assert.ok(Math.abs(p - 1 / 3) < 1e-9, `p=${p}`);
  assert.ok(outs.every((o) => o.verdict === 'delivered' && o.dnat && !o.masqueraded), outs.map((o) => o.text).join('\n'));
  assert.match(outs[0].text, /^TCP to 192\.0\.2\.10:8080 from 203\.0\.113\.5 → DNAT to 10\.0\.0\.\d:80$/);
  // Every node address serves it; other ports are left alone (no DNAT, the kernel answers as usual).
  assert.equal(spread(fake.trace(outside('192.0.2.11', 8080)))['10.0.0.5:80'] > 0.3, true);
  assert.deepEqual(fake.trace(outside('192.0.2.10', 8081)).map((o) => o.dnat), [false]);
});

test('a host_ip-bound port answers only on that address', async () => {
  const fake = await load([{ ...three, ports: [{ protocol: 'tcp', targetPort: 80, publishedPort: 8080, publishMode: 'ingress', hostIP: '192.0.2.11' }] }]);
  assert.ok(fake.trace(outside('192.0.2.11', 8080)).every((o) => o.dnat));
  assert.ok(fake.trace(outside('192.0.2.10', 8080)).every((o) => !o.dnat));
});

test('a host_ip that is not this node is noted', () => {
  const m = plan({ ingressNetworkId: 'ing', networks: NETS, services: [{ ...three, ports: [{ protocol: 'tcp', targetPort: 80, publishedPort: 8080, publishMode: 'ingress', hostIP: '198.51.100.1' }] }] }, NODE);
  assert.ok(m.notes.some((n) => /host_ip 198\.51\.100\.1 is not an address of this node/.test(n)));
});

test('no backends: the published port and the VIP are rejected with the reason', async () => {
  const fake = await load([svc()]);
  const [port] = fake.trace(outside('192.0.2.10', 8080));
  assert.equal(port.verdict, 'rejected');
  assert.equal(port.reason, 'web 8080/tcp has no running task');
  const [vip] = fake.trace({ proto: 'tcp', src: '10.0.1.9', dst: '10.0.1.2', dport: 80, from: 'br-ov' });
  assert.equal(vip.verdict, 'rejected');
  assert.match(vip.text, /rejected \(web has no running task\)/);
});

test('VIP traffic from a task is balanced over the backends on that network, any port, masqueraded on the bridge', async () => {
  const fake = await load([three]);
  const outs = fake.trace({ proto: 'udp', src: '10.0.1.9', dst: '10.0.1.2', dport: 5000, from: 'br-ov' });
  const s = spread(outs);
  assert.deepEqual(Object.keys(s).sort(), ['10.0.1.5:5000', '10.0.1.6:5000', '10.0.1.7:5000']);
  assert.ok(outs.every((o) => o.verdict === 'delivered' && o.masqueraded));
});

test('hairpin: a task reaching its own service is masqueraded so the reply returns through the node', async () => {
  const one = svc({ backends: [['t1', 'n1', { ing: '10.0.0.5', ov: '10.0.1.5' }]] });
  const fake = await load([one]);
  const [o] = fake.trace({ proto: 'tcp', src: '10.0.1.5', dst: '10.0.1.2', dport: 80, from: 'br-ov' });
  assert.equal(o.text, 'TCP to 10.0.1.2:80 from 10.0.1.5 → DNAT to 10.0.1.5:80, masqueraded');
  const [p] = fake.trace({ proto: 'tcp', src: '10.0.0.5', dst: '192.0.2.10', dport: 8080, from: 'br-ing' });
  assert.ok(p.dnat && p.masqueraded);
});

test('dnsrr gets no VIP rules', async () => {
  const dnsrr = svc({ mode: 'dnsrr', ports: [], backends: three.backends.map((b): B => [b.taskId, b.nodeId, b.addrs]) });
  const m = plan({ ingressNetworkId: 'ing', networks: NETS, services: [dnsrr] }, NODE);
  assert.equal([...m.tables.nat.keys()].filter((c) => /SVC|SEP/.test(c)).length, 0);
  assert.ok(m.notes.some((n) => /dnsrr has no VIP rules/.test(n)));
  const fake = await load([dnsrr]);
  assert.ok(fake.trace({ proto: 'tcp', src: '10.0.1.9', dst: '10.0.1.2', dport: 80, from: 'br-ov' }).every((o) => !o.dnat));
});

test('mode=host ports reach only this node\'s tasks, straight, and stay closed on a node without one', async () => {
  const hostPort = { protocol: 'tcp' as const, targetPort: 80, publishedPort: 9000, publishMode: 'host' as const };
  const mixed = svc({ mode: 'dnsrr', ports: [hostPort], backends: [['t1', 'n1', { ing: '10.0.0.5' }], ['t2', 'n2', { ing: '10.0.0.6' }]] });
  const fake = await load([mixed], { ...NODE, remoteBackends: 'masquerade' });
  const outs = fake.trace(outside('192.0.2.10', 9000));
  assert.deepEqual(outs.map((o) => [o.to, o.masqueraded]), [['10.0.0.5:80', false]]);
  const elsewhere = await load([mixed], { ...NODE, nodeId: 'n3' });
  assert.deepEqual(elsewhere.trace(outside('192.0.2.10', 9000)).map((o) => [o.dnat, o.verdict]), [[false, 'delivered']]);
});

test('remote backends: skipped (noted) by default; with masquerade they are planned and marked', async () => {
  const mixed = svc({ backends: [['t1', 'n1', { ing: '10.0.0.5' }], ['t2', 'n2', { ing: '10.0.0.6' }]] });
  const fake = await load([mixed]);
  assert.deepEqual(Object.keys(spread(fake.trace(outside('192.0.2.10', 8080)))), ['10.0.0.5:80']);
  const fake2 = await load([mixed], { ...NODE, remoteBackends: 'masquerade' });
  const outs = fake2.trace(outside('192.0.2.10', 8080));
  assert.deepEqual(outs.map((o) => [o.to, o.masqueraded]).sort(), [['10.0.0.5:80', false], ['10.0.0.6:80', true]]);
});

test('127.0.0.1:PUBLISHED is not DNATed (no route_localnet); a node address is', async () => {
  const fake = await load([three]);
  assert.ok(fake.trace({ proto: 'tcp', src: '127.0.0.1', dst: '127.0.0.1', dport: 8080, from: 'local' }).every((o) => !o.dnat));
  assert.ok(fake.trace({ proto: 'tcp', src: '192.0.2.10', dst: '192.0.2.10', dport: 8080, from: 'local' }).every((o) => o.dnat));
});

test('with FORWARD policy DROP (dockerd) our traffic still passes and SHOAL-USER comes first', async () => {
  const fake = await load([three]);
  fake.policies.set('filter/FORWARD', 'DROP');
  assert.ok(fake.trace(outside('192.0.2.10', 8080)).every((o) => o.verdict === 'delivered'));
  assert.deepEqual(fake.rules('filter', 'FORWARD')[0], '-j SHOAL-USER');
  const applier = new IptablesApplier({ exec: fake.exec });
  await applier.restore('*filter\n-I SHOAL-USER 1 -s 203.0.113.0/24 -j DROP\nCOMMIT\n');
  assert.ok(fake.trace(outside('192.0.2.10', 8080)).every((o) => o.verdict === 'dropped'));
});

test('chain names are stable, within 28 characters, and UDP entry points list their conntrack filters', () => {
  const t: EndpointTable = { ingressNetworkId: 'ing', networks: NETS, services: [{ ...three, ports: [{ protocol: 'udp', targetPort: 53, publishedPort: 5353, publishMode: 'ingress' }] }] };
  const a = plan(t, NODE);
  const b = plan(t, NODE);
  assert.deepEqual([...a.tables.nat.keys()], [...b.tables.nat.keys()]);
  for (const c of a.tables.nat.keys()) assert.ok(c.length <= 28, c);
  assert.deepEqual(a.udpFlows.get('ingress/svc-web/udp//5353/10.0.0.5'), ['-p', 'udp', '--orig-port-dst', '5353', '--reply-src', '10.0.0.5', '--reply-port-src', '53']);
});

test('a published port 53 does not capture queries to the resolver address', async () => {
  const dns = svc({ ports: [{ protocol: 'udp', targetPort: 53, publishedPort: 53, publishMode: 'ingress' }], backends: [['t1', 'n1', { ing: '10.0.0.5' }]] });
  const fake = new FakeIptables({ localAddrs: ['192.0.2.10', '169.254.53.53', '10.0.0.1'], routes: [{ subnet: '10.0.0.0/24', dev: 'br-ing' }] });
  const applier = new IptablesApplier({ exec: fake.exec });
  await applier.restore(renderRestore(plan({ ingressNetworkId: 'ing', networks: { ing: NETS.ing }, services: [dns] }, { ...NODE, notIngress: ['169.254.53.53'] }), { kernel: await applier.readKernel() }));
  assert.deepEqual(fake.trace({ proto: 'udp', src: '10.0.0.9', dst: '169.254.53.53', dport: 53, from: 'br-ing' }).map((o) => o.dnat), [false]);
  assert.deepEqual(fake.trace(outside('192.0.2.10', 53, 'udp')).map((o) => o.to), ['10.0.0.5:53']);
});

test('accounting=bytes: the SVC chains mark the connection, and only marked packets walk SHOAL-ACCOUNT, VIPs first', async () => {
  const counted = { ...three, accounting: true };
  const other = svc({ serviceId: 'svc-api', serviceName: 'api', vips: { ov: '10.0.1.3' }, ports: [{ protocol: 'udp', targetPort: 53, publishedPort: 5353, publishMode: 'ingress', hostIP: '192.0.2.11' }], backends: [['a1', 'n1', { ing: '10.0.0.9', ov: '10.0.1.9' }]] });
  const model = plan({ ingressNetworkId: 'ing', networks: NETS, services: [counted, { ...other, accounting: true }, svc({ serviceId: 'svc-plain', serviceName: 'plain', vips: {}, ports: [{ protocol: 'tcp', targetPort: 80, publishedPort: 9090, publishMode: 'ingress' }], backends: [['p1', 'n1', { ing: '10.0.0.8' }]] })] }, NODE);
  const account = model.tables.filter.get('SHOAL-ACCOUNT')!;
  // Two rules per accounted entry point (received, sent), every VIP before any port; the plain service has none.
  assert.equal(account.length, 2 * (3 + 2));
  const firstPort = account.findIndex((r) => r.includes('--ctorigdstport'));
  assert.ok(account.slice(0, firstPort).every((r) => /^-m conntrack --ctorigdst 10\.0\.\d\.\d --ctdir (ORIGINAL|REPLY) -m comment --comment "SHOAL-SVC-[A-Z2-7]+ (in|out)" -j RETURN$/.test(r)), account.join('\n'));
  assert.ok(account.includes(account.find((r) => r.includes('--ctproto 17 --ctorigdst 192.0.2.11 --ctorigdstport 5353 --ctdir REPLY'))!), 'udp, host_ip-bound, as iptables-save prints it');
  assert.ok(!account.some((r) => r.includes('9090')));
  for (const e of model.entryPoints) {
    const first = model.tables.nat.get(e.svcChain)![0];
    if (e.serviceName === 'plain') assert.doesNotMatch(first, /CONNMARK/);
    else assert.equal(first, '-j CONNMARK --set-xmark 0x400000/0x400000', `${e.serviceName} ${e.entry}`);
  }
  // Marking changes nothing about where the connection goes.
  const fake = await load([counted]);
  const s = spread(fake.trace(outside('192.0.2.10', 8080)));
  for (const p of Object.values(s)) assert.ok(Math.abs(p - 1 / 3) < 1e-9);
});
