import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../../control/base/clock';
import { silentLogger } from '../../control/base/log';
import { plan, type NodeContext } from '../../mesh/iptables/plan';
import { renderRestore } from '../../mesh/iptables/render';
import { IptablesMesh } from '../../mesh/iptables/iptables-mesh';
import { IncrementalPlanner } from '../../mesh/iptables/incremental-planner';
import { RestoreError, IptablesApplier } from '../../mesh/iptables/applier';
import type { EndpointTable } from '../../mesh/endpoint-table';
import { FakeIptables } from '../fakes/fake-iptables';

const NODE: NodeContext = { nodeId: 'n1', addresses: ['192.0.2.10'], bridgeName: (id) => `br-${id}` };

function table(ips: string[], proto: 'tcp' | 'udp' = 'tcp', extra = 0): EndpointTable {
  const mk = (id: string, name: string, port: number, backs: string[]) => ({
    serviceId: id, serviceName: name, mode: 'vip' as const, vips: {}, aliases: {},
    ports: [{ protocol: proto, targetPort: 80, publishedPort: port, publishMode: 'ingress' as const }],
    backends: backs.map((ip, i) => ({ taskId: `${id}-t${i}`, name: `${name}.${i + 1}`, nodeId: 'n1', addrs: { ing: ip } })),
  });
  const services = [mk('s1', 'web', 8080, ips)];
  for (let i = 0; i < extra; i++) services.push(mk(`x${i}`, `other${i}`, 9000 + i, [`10.0.0.${100 + i}`]));
  return { ingressNetworkId: 'ing', networks: { ing: { name: 'ingress', subnet: '10.0.0.0/24' } }, services };
}

const EMPTY = { tables: { nat: new Map<string, string[]>(), filter: new Map<string, string[]>() } };
const newFake = () => new FakeIptables({ localAddrs: ['192.0.2.10', '10.0.0.1'], routes: [{ subnet: '10.0.0.0/24', dev: 'br-ing' }] });

test('golden: the full restore text for one service with one backend', () => {
  const text = renderRestore(plan(table(['10.0.0.5']), NODE), { kernel: { tables: { nat: new Map(), filter: new Map() } } });
  assert.equal(text, `*nat
:SHOAL-SERVICES - [0:0]
:SHOAL-INGRESS - [0:0]
:SHOAL-MARK-MASQ - [0:0]
:SHOAL-POSTROUTING - [0:0]
:SHOAL-SVC-XCBU42PF65QYN4YB - [0:0]
-A SHOAL-SERVICES ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j SHOAL-INGRESS
-A SHOAL-INGRESS -p tcp -m tcp --dport 8080 -j SHOAL-SVC-XCBU42PF65QYN4YB
-A SHOAL-MARK-MASQ -j MARK --set-xmark 0x200000/0x200000
-A SHOAL-POSTROUTING -m mark --mark 0x200000/0x200000 -j MASQUERADE
-A SHOAL-POSTROUTING -s 10.0.0.0/24 -o br-ing -m conntrack --ctstate DNAT -j MASQUERADE
-A SHOAL-SVC-XCBU42PF65QYN4YB -p tcp -j DNAT --to-destination 10.0.0.5:80
-I PREROUTING 1 -j SHOAL-SERVICES
-I OUTPUT 1 -j SHOAL-SERVICES
-I POSTROUTING 1 -j SHOAL-POSTROUTING
COMMIT
*filter
:SHOAL-SERVICES - [0:0]
:SHOAL-ACCOUNT - [0:0]
:SHOAL-FORWARD - [0:0]
:SHOAL-USER - [0:0]
-A SHOAL-FORWARD -i br-ing -j ACCEPT
-A SHOAL-FORWARD -o br-ing -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A SHOAL-FORWARD -o br-ing -m conntrack --ctstate DNAT -j ACCEPT
-A SHOAL-USER -j RETURN
-I FORWARD 1 -j SHOAL-USER
-I FORWARD 2 -m conntrack --ctstate NEW -j SHOAL-SERVICES
-I FORWARD 3 -m connmark --mark 0x400000/0x400000 -j SHOAL-ACCOUNT
-I FORWARD 4 -j SHOAL-FORWARD
-I INPUT 1 -m conntrack --ctstate NEW -j SHOAL-SERVICES
-I INPUT 2 -m connmark --mark 0x400000/0x400000 -j SHOAL-ACCOUNT
-I OUTPUT 1 -m conntrack --ctstate NEW -j SHOAL-SERVICES
-I OUTPUT 2 -m connmark --mark 0x400000/0x400000 -j SHOAL-ACCOUNT
COMMIT
`);
});

test('incremental render writes only the changed service chains and deletes the gone ones', () => {
  const before = plan(table(['10.0.0.5', '10.0.0.6'], 'tcp', 50), NODE);
  const after = plan(table(['10.0.0.5', '10.0.0.7'], 'tcp', 50), NODE);
  const text = renderRestore(after, { previous: before });
  const declared = text.split('\n').filter((l) => l.startsWith(':'));
  // Only the service's SVC chain: local backends have no SEP chain, and SHOAL-INGRESS still names the same chain.
  assert.deepEqual(declared, [`:${[...after.tables.nat.keys()].find((c) => c.startsWith('SHOAL-SVC-') && after.tables.nat.get(c)!.some((r) => r.includes('10.0.0.7')))} - [0:0]`], text);
  assert.ok(!text.includes('*filter') && !text.includes('SHOAL-INGRESS') && !text.includes('-X '));
  assert.equal(renderRestore(after, { previous: after }), '');
});

test('incremental render deletes the SEP chain of a remote backend that went away', () => {
  const remote = { ...NODE, remoteBackends: 'masquerade' as const };
  const t = table(['10.0.0.5', '10.0.0.6'], 'tcp', 5);
  const before = plan({ ...t, services: [{ ...t.services[0], backends: t.services[0].backends.map((b, i) => (i === 1 ? { ...b, nodeId: 'n2' } : b)) }, ...t.services.slice(1)] }, remote);
  const after = plan(table(['10.0.0.5'], 'tcp', 5), remote);
  const text = renderRestore(after, { previous: before });
  const sep = [...before.tables.nat.keys()].find((c) => c.startsWith('SHOAL-SEP-'))!;
  assert.ok(sep, 'a remote backend has a SEP chain');
  assert.ok(!after.tables.nat.has(sep));
  // Declared (flushed) and deleted after the SVC chain that jumped to it was rewritten.
  assert.deepEqual(text.split('\n').filter((l) => l.includes(sep)), [`:${sep} - [0:0]`, `-X ${sep}`], text);
});

test('a full render over a kernel that holds our rules writes only the chains that differ', async () => {
  const fake = newFake();
  const applier = new IptablesApplier({ exec: fake.exec });
  const before = plan(table(['10.0.0.5', '10.0.0.6', '10.0.0.7'], 'tcp', 5), NODE);
  await applier.restore(renderRestore(before, { kernel: await applier.readKernel() }));
  assert.equal(renderRestore(before, { kernel: await applier.readKernel() }), '');
  // Someone deletes a rule of one service chain by hand: that chain alone is written again.
  const svcChain = [...before.tables.nat.keys()].find((c) => before.tables.nat.get(c)!.length === 3)!;
  fake.deleteRule('nat', svcChain, 1);
  const text = renderRestore(before, { kernel: await applier.readKernel() });
  assert.deepEqual(text.split('\n').filter((l) => l.startsWith(':')), [`:${svcChain} - [0:0]`], text);
  await applier.restore(text);
  assert.equal(fake.rules('nat', svcChain).length, 3);
});

test('the incremental planner notices a change in every field the planner reads', () => {
  const node = { ...NODE, addresses: ['192.0.2.10', '192.0.2.11'], remoteBackends: 'masquerade' as const };
  const base = table(['10.0.0.5', '10.0.0.6'], 'udp', 2);
  const s0 = { ...base.services[0], vips: { ing: '10.0.0.2' } };
  const b0 = s0.backends[0];
  const p0 = s0.ports[0];
  const variants: [string, typeof s0][] = [
    ['serviceName', { ...s0, serviceName: 'web2' }],
    ['mode', { ...s0, mode: 'dnsrr' }],
    ['vips', { ...s0, vips: { ing: '10.0.0.3' } }],
    ['port protocol', { ...s0, ports: [{ ...p0, protocol: 'tcp' }] }],
    ['targetPort', { ...s0, ports: [{ ...p0, targetPort: 81 }] }],
    ['publishedPort', { ...s0, ports: [{ ...p0, publishedPort: 8081 }] }],
    ['publishMode', { ...s0, ports: [{ ...p0, publishMode: 'host' }] }],
    ['hostIP', { ...s0, ports: [{ ...p0, hostIP: '192.0.2.11' }] }],
    ['taskId', { ...s0, backends: [{ ...b0, taskId: 'zz' }, ...s0.backends.slice(1)] }],
    ['backend name', { ...s0, backends: [{ ...b0, name: 'web.9', nodeId: 'n2' }, ...s0.backends.slice(1)] }],
    ['nodeId', { ...s0, backends: [{ ...b0, nodeId: 'n2' }, ...s0.backends.slice(1)] }],
    ['addrs', { ...s0, backends: [{ ...b0, addrs: { ing: '10.0.0.9' } }, ...s0.backends.slice(1)] }],
    ['accounting', { ...s0, accounting: true }],
  ];
  const notesOf = (m: ReturnType<typeof plan>) => m.notes.join('\n');
  for (const [field, changed] of variants) {
    const planner = new IncrementalPlanner();
    planner.plan({ ...base, services: [s0, ...base.services.slice(1)] }, node);
    const t = { ...base, services: [changed, ...base.services.slice(1)] };
    const cached = planner.plan(t, node);
    const fresh = plan(t, node);
    assert.equal(planner.replanned(), 1, field);
    assert.equal(renderRestore(cached, { kernel: EMPTY }), renderRestore(fresh, { kernel: EMPTY }), field);
    assert.deepEqual([...cached.udpFlows], [...fresh.udpFlows], field);
    assert.equal(notesOf(cached), notesOf(fresh), field);
  }
});

test('the incremental planner re-plans only the changed service and gives the same model as plan()', () => {
  const planner = new IncrementalPlanner();
  const a = table(['10.0.0.5', '10.0.0.6'], 'tcp', 20);
  const first = planner.plan(a, NODE);
  assert.equal(planner.replanned(), 21);
  const b = table(['10.0.0.5', '10.0.0.7'], 'tcp', 20);
  const second = planner.plan(b, NODE);
  assert.equal(planner.replanned(), 1);
  assert.equal(renderRestore(second, { kernel: EMPTY }), renderRestore(plan(b, NODE), { kernel: EMPTY }));
  assert.deepEqual([...second.udpFlows], [...plan(b, NODE).udpFlows]);
  // Unchanged services keep their arrays, so the diff skips them by identity; the changed one is new.
  const shared = [...second.tables.nat].filter(([c, r]) => first.tables.nat.get(c) === r).length;
  assert.equal(shared, 20);
  // A new node context (another address) invalidates every cached plan.
  planner.plan(b, { ...NODE, addresses: ['192.0.2.99'] });
  assert.equal(planner.replanned(), 21);
  // A service that goes away is forgotten, and a table with it again plans it afresh.
  planner.plan(b, NODE);
  assert.equal(planner.replanned(), 21); // back to the first context: the cache held the other one
  planner.plan(table(['10.0.0.5', '10.0.0.7'], 'tcp', 19), NODE);
  assert.equal(planner.replanned(), 0);
  planner.plan(b, NODE);
  assert.equal(planner.replanned(), 1);
});

test('the mesh syncs full first, then partially, repairs drift on the periodic run, and cleans up on stop', async () => {
  const fake = newFake();
  const clock = new FakeClock();
  const mesh = new IptablesMesh({ nodeId: 'n1', addresses: () => ['192.0.2.10'], logger: silentLogger, clock, exec: fake.exec, netns: 'node1', bridgeName: (id) => `br-${id}`, minSyncIntervalMs: 0, resyncIntervalMs: 30_000 });
  await mesh.start();
  assert.deepEqual([...fake.namespaces], ['node1']);
  assert.equal(fake.sysctls.get('net.ipv4.ip_forward'), '1');
  mesh.apply(table(['10.0.0.5', '10.0.0.6']));
  mesh.apply(table(['10.0.0.5', '10.0.0.6', '10.0.0.7'])); // coalesced with the one above
  await mesh.settled();
  assert.deepEqual(mesh.counters().fullSyncs, 1);
  assert.deepEqual(mesh.counters().partialSyncs, 1);
  const chance = (dst: string) => fake.trace({ proto: 'tcp', src: '203.0.113.5', dst: '192.0.2.10', dport: 8080, from: 'eth0' }).filter((o) => o.to === dst).reduce((n, o) => n + o.probability, 0);
  assert.ok(Math.abs(chance('10.0.0.7:80') - 1 / 3) < 1e-9);

  // An admin deletes a rule: the periodic run notices and rewrites everything.
  const svcChain = [...fake.tables.get('nat')!.keys()].find((c) => c.startsWith('SHOAL-SVC-'))!;
  fake.deleteRule('nat', svcChain, 0);
  fake.deleteRule('filter', 'FORWARD', 0);
  clock.advance(30_000);
  await mesh.settled();
  assert.equal(mesh.counters().driftRepairs, 1);
  assert.equal(mesh.counters().fullSyncs, 2);
  assert.equal(fake.rules('nat', svcChain).length, 3);
  assert.deepEqual(fake.rules('filter', 'FORWARD'), ['-j SHOAL-USER', '-m conntrack --ctstate NEW -j SHOAL-SERVICES', '-m connmark --mark 0x400000/0x400000 -j SHOAL-ACCOUNT', '-j SHOAL-FORWARD']);
  // A periodic run with nothing changed writes nothing.
  const restores = fake.restores.length;
  clock.advance(30_000);
  await mesh.settled();
  assert.equal(fake.restores.length, restores);

  await mesh.stop();
  assert.deepEqual(fake.ourChains(), []);
  assert.deepEqual(fake.rules('filter', 'FORWARD'), []);
});

test('a removed UDP backend has its conntrack entries deleted', async () => {
  const fake = newFake();
  const mesh = new IptablesMesh({ nodeId: 'n1', addresses: () => [], logger: silentLogger, clock: new FakeClock(), exec: fake.exec, minSyncIntervalMs: 0 });
  await mesh.start();
  mesh.apply(table(['10.0.0.5', '10.0.0.6'], 'udp'));
  await mesh.settled();
  mesh.apply(table(['10.0.0.5'], 'udp'));
  await mesh.settled();
  assert.deepEqual(fake.conntrackDeletes, [['-p', 'udp', '--orig-port-dst', '8080', '--reply-src', '10.0.0.6', '--reply-port-src', '80']]);
  await mesh.stop();
});

test('a failed restore carries the offending line, and the retry writes everything', async () => {
  const fake = newFake();
  const applier = new IptablesApplier({ exec: fake.exec });
  await assert.rejects(applier.restore('*nat\n:SHOAL-A - [0:0]\n-A SHOAL-A -j SHOAL-NOPE\nCOMMIT\n'), (e: unknown) => {
    assert.ok(e instanceof RestoreError);
    assert.deepEqual(e.lines, [{ line: 3, text: '-A SHOAL-A -j SHOAL-NOPE' }]);
    return true;
  });
  assert.deepEqual(fake.ourChains(), []); // the table's transaction was refused whole

  const clock = new FakeClock();
  const mesh = new IptablesMesh({ nodeId: 'n1', addresses: () => [], logger: silentLogger, clock, exec: fake.exec, minSyncIntervalMs: 0, retryMs: 5000 });
  await mesh.start();
  fake.failNextRestore = 'iptables-restore: line 1 failed: Resource busy';
  mesh.apply(table(['10.0.0.5']));
  await mesh.quiescent();
  assert.equal(mesh.counters().failures, 1);
  clock.advance(5000);
  await mesh.settled();
  assert.equal(mesh.counters().fullSyncs, 2);
  assert.ok(fake.ourChains().some((c) => c.startsWith('nat SHOAL-SVC-')));
  await mesh.stop();
});

test('SHOAL-USER with the user\'s rules survives cleanup; ours go', async () => {
  const fake = newFake();
  const mesh = new IptablesMesh({ nodeId: 'n1', addresses: () => [], logger: silentLogger, clock: new FakeClock(), exec: fake.exec, minSyncIntervalMs: 0 });
  await mesh.start();
  await new IptablesApplier({ exec: fake.exec }).restore('*filter\n-I SHOAL-USER 1 -s 198.51.100.0/24 -j DROP\nCOMMIT\n');
  await mesh.stop();
  assert.deepEqual(fake.ourChains(), ['filter SHOAL-USER']);
  assert.deepEqual(fake.rules('filter', 'FORWARD'), ['-j SHOAL-USER']);
});
