/**
 * Swarm networks on a real swarmd (process executor): a user network gets its subnet, tasks attached with
 * --network get an interface and address on it in their own namespace, reach each other over the node's bridge,
 * and a network in use cannot be removed; removing it afterwards removes its bridge.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { SwarmdProcess } from '../lab/swarmd-process';
import { requireCommands } from '../lab/require';

const d = new SwarmdProcess();
const SUBNET = '10.213.77.0/24';

before(async () => {
  requireCommands(['ip', 'ping', 'sleep']);
  await d.start();
  d.ok('swarm', 'init', '--advertise-addr', '127.0.0.1');
});
after(() => d.destroy());

const inNs = (taskId: string, ...argv: string[]) =>
  execFileSync('ip', ['netns', 'exec', `shoal-${taskId}`, ...argv], { encoding: 'utf8', timeout: 10_000 });

test('network create/ls/inspect', () => {
  const id = d.ok('network', 'create', '-d', 'overlay', '--subnet', SUBNET, '--attachable', 'appnet').trim();
  assert.match(id, /^[0-9a-z]{25}$/);
  assert.match(d.ok('network', 'ls'), /^[0-9a-z]{12}\s+appnet\s+overlay\s+swarm\s*$/m);
  const [net] = JSON.parse(d.ok('network', 'inspect', 'appnet'));
  assert.equal(net.IPAM.Config[0].Subnet, SUBNET);
  assert.equal(net.IPAM.Config[0].Gateway, '10.213.77.1');
  assert.equal(net.Attachable, true);
  const r = d.cli('network', 'create', '--subnet', '10.213.77.128/25', 'overlapping');
  assert.notEqual(r.code, 0, 'an overlapping subnet is refused');
});

test('tasks on a network get addresses there and reach each other', async () => {
  d.ok('service', 'create', '--name', 'pair', '--replicas', '2', '--network', 'appnet', 'busybox', 'sleep', '3600');
  const ids = d.ok('service', 'ps', '-q', '--no-trunc', '--filter', 'desired-state=running', 'pair').trim().split('\n');
  assert.equal(ids.length, 2);
  const addrs = ids.map((id) => {
    const m = /inet (10\.213\.77\.\d+)\/24/.exec(inNs(id, 'ip', '-o', '-4', 'addr', 'show', 'eth0'));
    assert.ok(m, `task ${id} has an address on appnet`);
    return m![1];
  });
  assert.notEqual(addrs[0], addrs[1]);
  inNs(ids[0], 'ping', '-c', '1', '-W', '2', addrs[1]);
  inNs(ids[1], 'ping', '-c', '1', '-W', '2', '10.213.77.1');
});

test('a network in use cannot be removed; once free it goes, bridge and all', async () => {
  const r = d.cli('network', 'rm', 'appnet');
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /in use by service pair/);
  d.ok('service', 'rm', 'pair');
  await d.until('pair tasks gone', () => !d.ok('node', 'ps').includes('pair.'));
  const [net] = JSON.parse(d.ok('network', 'inspect', 'appnet'));
  const bridge = `shl${net.Id.slice(0, 12)}`;
  assert.match(execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' }), new RegExp(bridge));
  assert.equal(d.ok('network', 'rm', 'appnet').trim(), 'appnet');
  await d.until('bridge removed', () => !execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' }).includes(bridge));
});
