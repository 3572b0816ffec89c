/**
 * The seed's tutorial, end to end, against a real swarmd with the process executor and the real swarmctl:
 * init, create helloworld, ls, ps, inspect --pretty, scale to 5, rm, and inspect says there is no such service.
 * The tasks are real processes in their own network namespaces.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { SwarmdProcess } from '../lab/swarmd-process';
import { requireCommands } from '../lab/require';

const d = new SwarmdProcess();

before(async () => {
  requireCommands(['ip', 'ping']);
  await d.start();
});
after(() => d.destroy());

const runningTasks = (service: string): string[] =>
  d
    .ok('service', 'ps', '-q', '--filter', 'desired-state=running', service)
    .split('\n')
    .filter(Boolean);

test('swarm init makes this node a manager', () => {
  const out = d.ok('swarm', 'init', '--advertise-addr', '127.0.0.1');
  assert.match(out, /Swarm initialized: current node \([0-9a-z]{25}\) is now a manager\./);
  assert.match(out, /swarm join --token SWMTKN-1-[0-9a-z]{50}-[0-9a-z]{25} 127\.0\.0\.1:\d+\n/);
  const nodes = d.ok('node', 'ls');
  assert.match(nodes.split('\n')[0], /^ID\s+HOSTNAME\s+STATUS\s+AVAILABILITY\s+MANAGER STATUS\s+ENGINE VERSION/);
  assert.match(nodes, /[0-9a-z]{25} \*\s+\S+\s+Ready\s+Active\s+Leader/);
});

test('service create runs helloworld and reports convergence', () => {
  const out = d.ok('service', 'create', '--replicas', '1', '--name', 'helloworld', 'alpine', 'ping', '127.0.0.1');
  const lines = out.trim().split('\n');
  assert.match(lines[0], /^[0-9a-z]{25}$/);
  assert.match(out, /overall progress: 1 out of 1 tasks/);
  assert.match(out, /1\/1: running\s+\[=+>\]/);
  assert.match(out, /verify: Service converged/);
});

test('service ls and ps show it running', () => {
  const ls = d.ok('service', 'ls');
  assert.match(ls.split('\n')[0], /^ID\s+NAME\s+MODE\s+REPLICAS\s+IMAGE\s+PORTS/);
  assert.match(ls, /^[0-9a-z]{12}\s+helloworld\s+replicated\s+1\/1\s+alpine\s*$/m);
  const ps = d.ok('service', 'ps', 'helloworld');
  assert.match(ps.split('\n')[0], /^ID\s+NAME\s+IMAGE\s+NODE\s+DESIRED STATE\s+CURRENT STATE\s+ERROR\s+PORTS/);
  assert.match(ps, /^[0-9a-z]{12}\s+helloworld\.1\s+alpine\s+\S+\s+Running\s+Running (Less than a second|\d+ seconds?) ago/m);
});

test('inspect --pretty prints the seed\'s layout', () => {
  const out = d.ok('service', 'inspect', '--pretty', 'helloworld');
  for (const line of [
    'Name:\t\thelloworld',
    'Service Mode:\tReplicated',
    ' Replicas:\t1',
    'UpdateConfig:',
    ' Parallelism:\t1',
    ' On failure:\tpause',
    ' Monitoring Period: 5s',
    ' Max failure ratio: 0',
    ' Update order:      stop-first',
    'RollbackConfig:',
    ' Rollback order:    stop-first',
    'ContainerSpec:',
    ' Image:\t\talpine',
    ' Args:\t\tping 127.0.0.1',
    'Endpoint Mode:\tvip',
  ]) {
    assert.ok(out.split('\n').some((l) => l.trimEnd() === line.trimEnd()), `missing line ${JSON.stringify(line)} in:\n${out}`);
  }
  const json = JSON.parse(d.ok('service', 'inspect', 'helloworld'));
  assert.equal(json.length, 1);
  assert.equal(json[0].Spec.Name, 'helloworld');
  assert.deepEqual(json[0].Spec.TaskTemplate.ContainerSpec.Args, ['ping', '127.0.0.1']);
});

test('scale helloworld=5 runs five tasks in five namespaces', async () => {
  const out = d.ok('service', 'scale', 'helloworld=5');
  assert.match(out, /^helloworld scaled to 5$/m);
  assert.match(out, /overall progress: 5 out of 5 tasks/);
  assert.match(out, /verify: Service converged/);
  assert.equal(runningTasks('helloworld').length, 5);
  const ps = d.ok('service', 'ps', 'helloworld');
  for (let slot = 1; slot <= 5; slot++) assert.match(ps, new RegExp(`helloworld\\.${slot}\\s+alpine\\s+\\S+\\s+Running\\s+Running`));
  const tasks = JSON.parse(d.ok('service', 'inspect', 'helloworld')); // sanity: the service is still one object
  assert.equal(tasks[0].Spec.Mode.Replicated.Replicas, 5);
});

test('scale down removes the highest slots first', async () => {
  d.ok('service', 'scale', '-d', 'helloworld=2');
  await d.until('slots 3..5 gone', () => {
    const ps = d.ok('service', 'ps', 'helloworld');
    return !/helloworld\.[345]\s/.test(ps) && /helloworld\.1\s/.test(ps) && /helloworld\.2\s/.test(ps);
  });
});

test('service rm removes it, and inspect says there is no such service', async () => {
  assert.equal(d.ok('service', 'rm', 'helloworld').trim(), 'helloworld');
  const r = d.cli('service', 'inspect', 'helloworld');
  assert.notEqual(r.code, 0);
  assert.equal(r.stdout.trim(), '[]');
  assert.match(r.stderr, /no such service: helloworld/);
  await d.until('tasks removed', () => d.ok('node', 'ps').split('\n').filter((l) => l.includes('helloworld')).length === 0);
});
