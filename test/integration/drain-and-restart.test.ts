/**
 * Node availability and persistence against a real swarmd (process executor): draining moves tasks off (on one
 * node they wait PENDING with Docker's reason), active brings them back; pause stops new placements; a service
 * that reserves more than the node has stays pending; and after a swarmd restart the same tasks are still
 * running — adopted, not restarted — with every service, node and network as it was.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SwarmdProcess } from '../lab/swarmd-process';
import { requireCommands } from '../lab/require';

const d = new SwarmdProcess();
let nodeId = '';

before(async () => {
  requireCommands(['ip', 'sleep']);
  await d.start();
  d.ok('swarm', 'init', '--advertise-addr', '127.0.0.1');
  nodeId = d.ok('node', 'ls', '-q').trim();
});
after(() => d.destroy());

/** Full IDs of the service's tasks that are meant to run. */
const running = (service: string) =>
  d.ok('service', 'ps', '-q', '--no-trunc', '--filter', 'desired-state=running', service).trim().split('\n').filter(Boolean);

test('drain moves tasks off; on one node they wait PENDING with the reason; active runs them again', async () => {
  d.ok('service', 'create', '--replicas', '3', '--name', 'redis', '--update-delay', '10s', 'redis:3.0.6', 'sleep', '3600');
  const before = running('redis');
  assert.equal(before.length, 3);
  assert.equal(d.ok('node', 'update', '--availability', 'drain', nodeId).trim(), nodeId);
  assert.match(d.ok('node', 'ls'), /Ready\s+Drain/);
  assert.match(d.ok('node', 'inspect', '--pretty', nodeId), /Availability:\s+Drain/);
  await d.until('old tasks shut down and new ones pending', () => {
    const ps = d.ok('service', 'ps', '--no-trunc', 'redis');
    return (ps.match(/Shutdown\s+Shutdown/g) ?? []).length === 3 && (ps.match(/no suitable node \(1 node not available for new tasks\)/g) ?? []).length === 3;
  });
  d.ok('node', 'update', '--availability', 'active', nodeId);
  await d.until('three tasks running again', () => d.ok('service', 'ls').match(/redis\s+replicated\s+3\/3/));
  const after = running('redis');
  assert.equal(after.filter((id) => before.includes(id)).length, 0, 'new tasks, not the drained ones');
});

test('pause stops new placements but keeps running tasks', async () => {
  d.ok('node', 'update', '--availability', 'pause', nodeId);
  d.ok('service', 'scale', '-d', 'redis=4');
  await d.until('the fourth task waits', () => /no suitable node \(1 node not available for new tasks\)/.test(d.ok('service', 'ps', '--no-trunc', 'redis')));
  assert.match(d.ok('service', 'ls'), /redis\s+replicated\s+3\/4/);
  d.ok('node', 'update', '--availability', 'active', nodeId);
  await d.until('four running', () => d.ok('service', 'ls').match(/redis\s+replicated\s+4\/4/));
});

test('a reservation larger than the node stays pending with Docker\'s explanation', async () => {
  d.ok('service', 'create', '-d', '--name', 'big', '--reserve-memory', '100000g', 'busybox', 'sleep', '3600');
  await d.until('pending with the reason', () =>
    /Pending.*no suitable node \(insufficient resources on 1 node\)/.test(d.ok('service', 'ps', '--no-trunc', 'big')),
  );
  // Lowering the reservation is a change: the task is placed as soon as it fits.
  d.ok('service', 'update', '-d', '--reserve-memory', '10m', 'big');
  await d.until('big runs', () => d.ok('service', 'ls').match(/big\s+replicated\s+1\/1/));
  d.ok('service', 'rm', 'big');
});

test('global services run one task on the node; labels and constraints place them', async () => {
  d.ok('node', 'update', '--label-add', 'zone=a', nodeId);
  assert.match(d.ok('node', 'inspect', '--format', '{{json .Spec.Labels}}', nodeId), /"zone":"a"/);
  d.ok('service', 'create', '-d', '--mode', 'global', '--name', 'agent', '--constraint', 'node.labels.zone==a', 'busybox', 'sleep', '3600');
  await d.until('global task running', () => d.ok('service', 'ls').match(/agent\s+global\s+1\/1/));
  d.ok('service', 'create', '-d', '--name', 'nowhere', '--constraint', 'node.labels.zone==b', 'busybox', 'sleep', '3600');
  await d.until('constraint explained', () =>
    /no suitable node \(scheduling constraints not satisfied on 1 node\)/.test(d.ok('service', 'ps', '--no-trunc', 'nowhere')),
  );
  d.ok('service', 'rm', 'agent', 'nowhere');
});

test('a swarmd restart keeps every object and adopts the running tasks', async () => {
  const idsBefore = running('redis').sort();
  const pidsBefore = idsBefore.map((id) => pidOf(id));
  const servicesBefore = d.ok('service', 'ls', '-q');
  await d.stop();
  // The tasks survive swarmd: their processes are still there.
  for (const pid of pidsBefore) assert.ok(pid && alive(pid), `task process ${pid} died with swarmd`);
  await d.start();
  assert.equal(d.ok('service', 'ls', '-q'), servicesBefore);
  await d.until('node ready again', () => /Ready\s+Active\s+Leader/.test(d.ok('node', 'ls')));
  await d.until('redis 4/4', () => d.ok('service', 'ls').match(/redis\s+replicated\s+4\/4/));
  assert.deepEqual(running('redis').sort(), idsBefore, 'the same tasks, adopted');
  assert.deepEqual(idsBefore.map((id) => pidOf(id)), pidsBefore, 'the same processes');
  d.ok('service', 'rm', 'redis');
});

/** The pid the process executor recorded for a task (its state file in the data dir). */
function pidOf(taskId: string): number {
  return JSON.parse(readFileSync(join(d.dir, 'data', 'process', 'tasks', taskId, 'state.json'), 'utf8')).pid;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
