import { test } from 'node:test';
import assert from 'node:assert/strict';
import { staleBridges } from '../../overlay/bridge-plumber';
import {
  attachPlan,
  batchesOf,
  bridgeName,
  detachPlan,
  ensureNetworkPlan,
  bridgeMac,
  hostVethName,
  parseNetnsPath,
  removeNetworkPlan,
  taskVethsIn,
} from '../../overlay/bridge-plan';
import type { LocalNetwork } from '../../overlay/network-plumber';

const NET: LocalNetwork = { id: 'k3n8x1q0z9w4e7r2t5y6u1i0o', name: 'web', subnet: '10.0.1.0/24', gateway: '10.0.1.1' };
const NET2: LocalNetwork = { id: 'p0o9i8u7y6t5r4e3w2q1a2s3d', name: 'db', subnet: '10.0.9.0/24', gateway: '10.0.9.1' };
const TASK = 'a1b2c3d4e5f6g7h8i9j0k1l2m';

test('names are deterministic and fit in 15 characters', () => {
  assert.equal(bridgeName(NET.id), 'shlk3n8x1q0z9w4');
  assert.equal(hostVethName(TASK, 0), 'va1b2c3d4e5f0');
  assert.equal(hostVethName(TASK, 123), 'va1b2c3d4e5f123');
  for (const n of [bridgeName(NET.id), hostVethName(TASK, 999)]) assert.ok(n.length <= 15, n);
  assert.throws(() => hostVethName(TASK, 1000), /out of range/);
  // Characters that could split argv or be refused by the kernel never reach a name.
  assert.equal(bridgeName('ab/c d:e'), 'shlabcde');
});

test('ensureNetwork creates the bridge with a fixed MAC, addresses it with the gateway, brings it up', () => {
  const mac = bridgeMac(NET.id);
  assert.match(mac, /^02(:[0-9a-f]{2}){5}$/, 'locally administered unicast');
  assert.equal(bridgeMac(NET.id), mac, 'the same network always gets the same MAC');
  assert.notEqual(bridgeMac(NET.id + 'x'), mac);
  assert.deepEqual(ensureNetworkPlan(NET), [
    { argv: ['ip', 'link', 'add', 'shlk3n8x1q0z9w4', 'address', mac, 'type', 'bridge'], exists: true },
    { argv: ['ip', 'addr', 'add', '10.0.1.1/24', 'dev', 'shlk3n8x1q0z9w4'], exists: true },
    { argv: ['ip', 'link', 'set', 'shlk3n8x1q0z9w4', 'up'] },
  ]);
  // An existing bridge is not created again.
  assert.deepEqual(
    ensureNetworkPlan(NET, true).map((c) => c.argv[2]),
    ['add', 'set'],
  );
  assert.throws(() => ensureNetworkPlan({ ...NET, subnet: '10.0.1.0' }), /invalid subnet/);
});

test('removeNetwork deletes the bridge', () => {
  assert.deepEqual(removeNetworkPlan(NET.id), [{ argv: ['ip', 'link', 'del', 'shlk3n8x1q0z9w4'] }]);
});

test('netns paths: named and per-process forms, others refused', () => {
  assert.deepEqual(parseNetnsPath('/run/netns/shoal-x'), { kind: 'name', name: 'shoal-x' });
  assert.deepEqual(parseNetnsPath('/var/run/netns/shoal-x'), { kind: 'name', name: 'shoal-x' });
  assert.deepEqual(parseNetnsPath('/proc/4242/ns/net'), { kind: 'pid', pid: 4242 });
  assert.throws(() => parseNetnsPath('/tmp/ns'), /use \/run\/netns\/NAME or \/proc\/PID\/ns\/net/);
});

test('attach to a named namespace: veth per network, eth0 and eth1 addressed, default via the first gateway', () => {
  const plan = attachPlan(TASK, { kind: 'name', name: 'shoal-t' }, [
    { network: NET, address: '10.0.1.5/24' },
    { network: NET2, address: '10.0.9.7/24' },
  ]);
  assert.deepEqual(plan, [
    { argv: ['ip', '-n', 'shoal-t', 'link', 'set', 'lo', 'up'] },
    { argv: ['ip', 'link', 'add', 'va1b2c3d4e5f0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', 'shoal-t'], exists: true },
    { argv: ['ip', 'link', 'set', 'va1b2c3d4e5f0', 'master', 'shlk3n8x1q0z9w4'] },
    { argv: ['ip', 'link', 'set', 'va1b2c3d4e5f0', 'type', 'bridge_slave', 'hairpin', 'on'] },
    { argv: ['ip', 'link', 'set', 'va1b2c3d4e5f0', 'up'] },
    { argv: ['ip', '-n', 'shoal-t', 'addr', 'add', '10.0.1.5/24', 'dev', 'eth0'], exists: true },
    { argv: ['ip', '-n', 'shoal-t', 'link', 'set', 'eth0', 'up'] },
    { argv: ['ip', 'link', 'add', 'va1b2c3d4e5f1', 'type', 'veth', 'peer', 'name', 'eth1', 'netns', 'shoal-t'], exists: true },
    { argv: ['ip', 'link', 'set', 'va1b2c3d4e5f1', 'master', 'shlp0o9i8u7y6t5'] },
    { argv: ['ip', 'link', 'set', 'va1b2c3d4e5f1', 'type', 'bridge_slave', 'hairpin', 'on'] },
    { argv: ['ip', 'link', 'set', 'va1b2c3d4e5f1', 'up'] },
    { argv: ['ip', '-n', 'shoal-t', 'addr', 'add', '10.0.9.7/24', 'dev', 'eth1'], exists: true },
    { argv: ['ip', '-n', 'shoal-t', 'link', 'set', 'eth1', 'up'] },
    { argv: ['ip', '-n', 'shoal-t', 'route', 'replace', 'default', 'via', '10.0.1.1', 'dev', 'eth0'] },
  ]);
});

test('attach to a process namespace uses the PID form and nsenter', () => {
  const plan = attachPlan(TASK, { kind: 'pid', pid: 77 }, [{ network: NET, address: '10.0.1.5/24' }]);
  assert.deepEqual(plan[0].argv, ['nsenter', '--net=/proc/77/ns/net', 'ip', 'link', 'set', 'lo', 'up']);
  assert.deepEqual(plan[1].argv.slice(-2), ['netns', '77']);
  assert.deepEqual(plan.at(-1)!.argv, ['nsenter', '--net=/proc/77/ns/net', 'ip', 'route', 'replace', 'default', 'via', '10.0.1.1', 'dev', 'eth0']);
});

test('attach with no networks only brings lo up and sets no route', () => {
  assert.deepEqual(attachPlan(TASK, { kind: 'name', name: 'n' }, []), [{ argv: ['ip', '-n', 'n', 'link', 'set', 'lo', 'up'] }]);
});

test('detach finds exactly the task veths in ip -o link output', () => {
  const out = [
    '5: va1b2c3d4e5f0@if2: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 master shlk3n8x1q0z9w4',
    '6: va1b2c3d4e5f12@if2: <BROADCAST,MULTICAST> mtu 1500',
    '7: va1b2c3d4e5fx@if2: <BROADCAST> mtu 1500', // not an index suffix
    '8: vzzzzzzzzzzz0@if2: <BROADCAST> mtu 1500', // another task
    '9: shlk3n8x1q0z9w4: <BROADCAST> mtu 1500',
  ].join('\n');
  const veths = taskVethsIn(out, TASK);
  assert.deepEqual(veths, ['va1b2c3d4e5f0', 'va1b2c3d4e5f12']);
  assert.deepEqual(detachPlan(veths), [
    { argv: ['ip', 'link', 'del', 'va1b2c3d4e5f0'] },
    { argv: ['ip', 'link', 'del', 'va1b2c3d4e5f12'] },
  ]);
});

test('a plan runs as ip -batch groups: consecutive commands per namespace, order kept', () => {
  const plan = attachPlan(TASK, { kind: 'name', name: 'shoal-t' }, [{ network: NET, address: '10.0.1.5/24' }]);
  const batches = batchesOf(plan)!;
  assert.deepEqual(batches.map((b) => b.argv), [
    ['ip', '-n', 'shoal-t', '-batch', '-'],
    ['ip', '-batch', '-'],
    ['ip', '-n', 'shoal-t', '-batch', '-'],
  ]);
  // Every command of the plan, in order, exactly once.
  const lines = batches.flatMap((b) => b.input.trimEnd().split('\n').map((l) => [...b.argv.slice(0, -2), ...l.split(' ')]));
  assert.deepEqual(lines, plan.map((c) => c.argv));
  // What a batch line cannot carry, and nsenter plans, are left to one exec per command.
  assert.equal(batchesOf([{ argv: ['ip', 'link', 'set', 'a b', 'up'] }]), undefined);
  assert.equal(batchesOf(attachPlan(TASK, { kind: 'pid', pid: 7 }, [])), undefined);
});

test('a stale bridge of ours holding the same gateway is found; our own, foreign bridges and other subnets are not', () => {
  const out = [
    '4: shlold000000000    inet 10.0.0.1/24 brd 10.0.0.255 scope global shlold000000000\\       valid_lft forever preferred_lft forever',
    '5: shlnet000000001    inet 10.0.0.1/24 brd 10.0.0.255 scope global shlnet000000001',
    '6: docker0    inet 10.0.0.1/24 brd 10.0.0.255 scope global docker0',
    '7: shlother0000000    inet 10.0.1.1/24 brd 10.0.1.255 scope global shlother0000000',
  ].join('\n');
  const net = { id: 'net000000001xyz', name: 'ingress', subnet: '10.0.0.0/24', gateway: '10.0.0.1' };
  assert.equal(bridgeName(net.id), 'shlnet000000001');
  assert.deepEqual(staleBridges(out, net), ['shlold000000000']);
});
