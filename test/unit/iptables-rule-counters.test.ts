/**
 * Per-service connections from the kernel's rule counters: the parser reads `iptables -S CHAIN -v` and
 * `iptables-save -c`, entry points map to their dispatch rules by SVC chain, and the mesh lists the dispatch
 * chains once per scrape window.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../../control/base/clock';
import { silentLogger } from '../../control/base/log';
import { plan } from '../../mesh/iptables/plan';
import { countEntryPoints, parseAccountCounters, parseDispatchCounters } from '../../mesh/iptables/rule-counters';
import { IptablesMesh, COUNTERS_CACHE_MS } from '../../mesh/iptables/iptables-mesh';
import type { EndpointTable } from '../../mesh/endpoint-table';
import { FakeIptables } from '../fakes/fake-iptables';

const TABLE: EndpointTable = {
  ingressNetworkId: 'ing',
  networks: { ing: { name: 'ingress', subnet: '10.0.0.0/24' }, app: { name: 'app', subnet: '10.0.1.0/24' } },
  services: [
    {
      serviceId: 's1', serviceName: 'web', mode: 'vip', vips: { app: '10.0.1.2' }, aliases: {},
      ports: [{ protocol: 'tcp', targetPort: 80, publishedPort: 8080, publishMode: 'ingress' }, { protocol: 'udp', targetPort: 53, publishedPort: 5353, publishMode: 'ingress' }],
      backends: [{ taskId: 't1', name: 'web.1', nodeId: 'n1', addrs: { ing: '10.0.0.5', app: '10.0.1.5' } }],
    },
    {
      serviceId: 's2', serviceName: 'api', mode: 'vip', vips: {}, aliases: {},
      ports: [{ protocol: 'tcp', targetPort: 80, publishedPort: 9090, publishMode: 'ingress' }],
      backends: [],
    },
  ],
};

test('the planner names every entry point with a dispatch rule, and only those', () => {
  const model = plan(TABLE, { nodeId: 'n1', addresses: ['192.0.2.10'], bridgeName: (id) => `br-${id}` });
  const rows = model.entryPoints.map(({ svcChain, ...l }) => ({ ...l, chainPlanned: model.tables.nat.has(svcChain) }));
  assert.deepEqual(rows, [
    { serviceId: 's1', serviceName: 'web', entry: 'vip', port: 'any', protocol: 'any', chainPlanned: true },
    { serviceId: 's1', serviceName: 'web', entry: 'ingress', port: '8080', protocol: 'tcp', chainPlanned: true },
    { serviceId: 's1', serviceName: 'web', entry: 'ingress', port: '5353', protocol: 'udp', chainPlanned: true },
  ]);
});

test('iptables -S -v and iptables-save -c: only dispatch rules count, by the SVC chain they jump to', () => {
  const text = [
    '*nat',
    ':SHOAL-INGRESS - [0:0]',
    '[7:420] -A SHOAL-INGRESS -p tcp -m tcp --dport 8080 -j SHOAL-SVC-AAAAAAAAAAAAAAAA',
    '[2:120] -A SHOAL-SERVICES -d 10.0.1.2/32 -j SHOAL-SVC-BBBBBBBBBBBBBBBB',
    '[3:180] -A SHOAL-SERVICES -d 10.0.2.2/32 -j SHOAL-SVC-BBBBBBBBBBBBBBBB',
    '[9:540] -A SHOAL-SVC-AAAAAAAAAAAAAAAA -j SHOAL-SEP-CCCCCCCCCCCCCCCC',
    '[5:300] -A PREROUTING -j SHOAL-SERVICES',
    'COMMIT',
  ].join('\n');
  assert.deepEqual(parseDispatchCounters(text), new Map([['SHOAL-SVC-AAAAAAAAAAAAAAAA', 7], ['SHOAL-SVC-BBBBBBBBBBBBBBBB', 5]]));
  const listed = [
    '-N SHOAL-INGRESS',
    '-A SHOAL-INGRESS -p tcp -m tcp --dport 8080 -c 7 420 -j SHOAL-SVC-AAAAAAAAAAAAAAAA',
    '-N SHOAL-SERVICES',
    '-A SHOAL-SERVICES -d 10.0.1.2/32 -c 2 120 -j SHOAL-SVC-BBBBBBBBBBBBBBBB',
    '-A SHOAL-SERVICES -d 10.0.2.2/32 -c 3 180 -j SHOAL-SVC-BBBBBBBBBBBBBBBB',
    '-A SHOAL-SERVICES ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -c 12 720 -j SHOAL-INGRESS',
  ].join('\n');
  assert.deepEqual(parseDispatchCounters(listed), parseDispatchCounters(text), 'iptables -S -v reads the same');
  const rows = countEntryPoints(
    [
      { svcChain: 'SHOAL-SVC-AAAAAAAAAAAAAAAA', serviceId: 's1', serviceName: 'web', entry: 'ingress', port: '8080', protocol: 'tcp' },
      { svcChain: 'SHOAL-SVC-BBBBBBBBBBBBBBBB', serviceId: 's1', serviceName: 'web', entry: 'vip', port: 'any', protocol: 'any' },
      { svcChain: 'SHOAL-SVC-DDDDDDDDDDDDDDDD', serviceId: 's1', serviceName: 'web', entry: 'vip', port: 'any', protocol: 'any' },
      { svcChain: 'SHOAL-SVC-EEEEEEEEEEEEEEEE', serviceId: 's3', serviceName: 'new', entry: 'ingress', port: '80', protocol: 'tcp' },
    ],
    parseDispatchCounters(text),
  );
  assert.deepEqual(rows, [
    { serviceId: 's1', serviceName: 'web', entry: 'ingress', port: '8080', protocol: 'tcp', connections: 7 },
    { serviceId: 's1', serviceName: 'web', entry: 'vip', port: 'any', protocol: 'any', connections: 5 },
    { serviceId: 's3', serviceName: 'new', entry: 'ingress', port: '80', protocol: 'tcp', connections: 0 },
  ]);
});

test('SHOAL-ACCOUNT (iptables -S -v, as the kernel printed it): bytes by SVC chain and direction, beside the connections', () => {
  const listed = [
    '-N SHOAL-ACCOUNT',
    '-A SHOAL-ACCOUNT -m conntrack --ctorigdst 10.0.1.2 --ctdir ORIGINAL -m comment --comment "SHOAL-SVC-BBBBBBBBBBBBBBBB in" -c 3 180 -j RETURN',
    '-A SHOAL-ACCOUNT -m conntrack --ctorigdst 10.0.1.2 --ctdir REPLY -m comment --comment "SHOAL-SVC-BBBBBBBBBBBBBBBB out" -c 2 900 -j RETURN',
    '-A SHOAL-ACCOUNT -m conntrack --ctproto 6 --ctorigdstport 8080 --ctdir ORIGINAL -m comment --comment "SHOAL-SVC-AAAAAAAAAAAAAAAA in" -c 40 2400 -j RETURN',
    '-A SHOAL-ACCOUNT -m conntrack --ctproto 6 --ctorigdstport 8080 --ctdir REPLY -m comment --comment "SHOAL-SVC-AAAAAAAAAAAAAAAA out" -c 30 64000 -j RETURN',
    '-A SHOAL-FORWARD -m comment --comment "SHOAL-SVC-AAAAAAAAAAAAAAAA in" -c 1 1 -j RETURN',
  ].join('\n');
  const bytes = parseAccountCounters(listed);
  assert.deepEqual(bytes, new Map([['SHOAL-SVC-BBBBBBBBBBBBBBBB', { in: 180, out: 900 }], ['SHOAL-SVC-AAAAAAAAAAAAAAAA', { in: 2400, out: 64000 }]]));
  const rows = countEntryPoints(
    [
      { svcChain: 'SHOAL-SVC-AAAAAAAAAAAAAAAA', serviceId: 's1', serviceName: 'web', entry: 'ingress', port: '8080', protocol: 'tcp' },
      { svcChain: 'SHOAL-SVC-CCCCCCCCCCCCCCCC', serviceId: 's2', serviceName: 'api', entry: 'ingress', port: '9090', protocol: 'tcp' },
    ],
    new Map([['SHOAL-SVC-AAAAAAAAAAAAAAAA', 12]]),
    bytes,
  );
  assert.deepEqual(rows, [
    { serviceId: 's1', serviceName: 'web', entry: 'ingress', port: '8080', protocol: 'tcp', connections: 12, bytesIn: 2400, bytesOut: 64000 },
    { serviceId: 's2', serviceName: 'api', entry: 'ingress', port: '9090', protocol: 'tcp', connections: 0 },
  ]);
});

test('the mesh reads the kernel\'s counters once per scrape window, and again after it', async () => {
  const fake = new FakeIptables({ localAddrs: ['192.0.2.10', '10.0.0.1'], routes: [{ subnet: '10.0.0.0/24', dev: 'br-ing' }] });
  const clock = new FakeClock();
  const synced: string[] = [];
  const mesh = new IptablesMesh({
    nodeId: 'n1', addresses: () => ['192.0.2.10'], logger: silentLogger, clock, exec: fake.exec, bridgeName: (id) => `br-${id}`, minSyncIntervalMs: 0,
    observer: { synced: (kind) => synced.push(kind) },
  });
  await mesh.start();
  mesh.apply(TABLE);
  await mesh.settled();
  assert.ok(synced.length >= 1, 'syncs are observed');
  fake.count('nat', 'SHOAL-INGRESS', '--dport 8080', 4, 240);
  const saves = fake.saves;
  const first = await mesh.entryPointCounts();
  assert.equal(first.find((r) => r.port === '8080')?.connections, 4);
  fake.count('nat', 'SHOAL-INGRESS', '--dport 8080', 1, 60);
  assert.deepEqual(await mesh.entryPointCounts(), first, 'a second scrape right after reads the cache');
  assert.equal(fake.saves, saves + 2, 'one listing of each dispatch chain for two scrapes');
  clock.advance(COUNTERS_CACHE_MS);
  assert.equal((await mesh.entryPointCounts()).find((r) => r.port === '8080')?.connections, 5);
  assert.equal(fake.saves, saves + 4);
  assert.deepEqual(mesh.backendsPerService(), [{ serviceId: 's1', serviceName: 'web', backends: 1 }, { serviceId: 's2', serviceName: 'api', backends: 0 }]);
  await mesh.stop();
});
