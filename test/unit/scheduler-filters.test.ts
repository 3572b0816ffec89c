import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Node, Service, Task } from '../../control/api/types';
import { DEFAULT_FILTERS, FilterPipeline } from '../../control/manager/scheduler/filters';
import { buildNodeInfos } from '../../control/manager/scheduler/node-info';
import { scheduleTasks } from '../../control/manager/scheduler/pipeline';
import { fakeNode, fakePendingTasks, fakeService, fakeTask } from '../fakes/objects';

const GiB = 2 ** 30;

function run(service: Service, pending: Task[], nodes: Node[], existing: Task[] = [], others: Service[] = []) {
  const services = new Map([service, ...others].map((s) => [s.ID, s]));
  return scheduleTasks({ pending, nodes, tasks: [...existing, ...pending], services });
}

/** The error of every unschedulable task, which must all be the same. */
function onlyErr(result: ReturnType<typeof scheduleTasks>): string {
  const errs = new Set(result.unschedulable.map((u) => u.err));
  assert.equal(errs.size, 1, `one error expected, got ${[...errs].join(' | ')}`);
  return [...errs][0];
}

test("every filter explains itself in Docker's words, singular and plural", () => {
  const texts = DEFAULT_FILTERS.map((f) => [f.name, f.explain(1), f.explain(3)]);
  assert.deepEqual(texts, [
    ['ready', '1 node not available for new tasks', '3 nodes not available for new tasks'],
    ['resources', 'insufficient resources on 1 node', 'insufficient resources on 3 nodes'],
    [
      'constraints',
      'scheduling constraints not satisfied on 1 node',
      'scheduling constraints not satisfied on 3 nodes',
    ],
    ['platform', 'unsupported platform on 1 node', 'unsupported platform on 3 nodes'],
    ['host-ports', 'host-mode port already in use on 1 node', 'host-mode port already in use on 3 nodes'],
    ['max-replicas', 'max replicas per node limit exceed', 'max replicas per node limit exceed'],
  ]);
});

test('ready: drained, paused and down nodes get nothing', () => {
  const svc = fakeService();
  const one = run(svc, fakePendingTasks(svc, 2), [fakeNode({ availability: 'drain' })]);
  assert.deepEqual(one.assigned, []);
  assert.equal(onlyErr(one), 'no suitable node (1 node not available for new tasks)');

  const three = run(svc, fakePendingTasks(svc, 1), [
    fakeNode({ availability: 'pause' }),
    fakeNode({ state: 'down' }),
    fakeNode({ state: 'disconnected' }),
  ]);
  assert.equal(onlyErr(three), 'no suitable node (3 nodes not available for new tasks)');

  const ok = fakeNode({ id: 'ok' });
  const mixed = run(svc, fakePendingTasks(svc, 2), [fakeNode({ availability: 'drain' }), ok]);
  assert.deepEqual(mixed.assigned.map((a) => a.nodeId), ['ok', 'ok']);
});

test('no nodes at all: a bare "no suitable node"', () => {
  const svc = fakeService();
  assert.equal(onlyErr(run(svc, fakePendingTasks(svc, 1), [])), 'no suitable node');
});

test('resources: reservations exhaust a node, the rest stay pending', () => {
  // The seed's "pending services" case: a 4-CPU node fits two 2-CPU tasks; the third waits.
  const svc = fakeService({ reserveCpus: 2 });
  const r = run(svc, fakePendingTasks(svc, 3), [fakeNode({ id: 'n1', cpus: 4 })]);
  assert.equal(r.assigned.length, 2);
  assert.equal(onlyErr(r), 'no suitable node (insufficient resources on 1 node)');
  assert.equal(r.unschedulable.length, 1);
});

test('resources: memory counts too, and plural when several nodes are full', () => {
  const svc = fakeService({ reserveMemoryBytes: 6 * GiB });
  const nodes = [fakeNode({ memoryBytes: 4 * GiB }), fakeNode({ memoryBytes: 2 * GiB })];
  const r = run(svc, fakePendingTasks(svc, 1), nodes);
  assert.equal(onlyErr(r), 'no suitable node (insufficient resources on 2 nodes)');
});

test('resources: reservations of running tasks count until they are terminal', () => {
  const svc = fakeService({ reserveCpus: 3 });
  const node = fakeNode({ id: 'n1', cpus: 4 });
  const running = fakeTask(svc, { nodeId: 'n1', state: 'running' });
  assert.equal(
    onlyErr(run(svc, fakePendingTasks(svc, 1), [node], [running])),
    'no suitable node (insufficient resources on 1 node)',
  );
  // A task being shut down still holds its reservation while it runs...
  const stopping = fakeTask(svc, { nodeId: 'n1', state: 'running', desired: 'shutdown' });
  assert.equal(run(svc, fakePendingTasks(svc, 1), [node], [stopping]).assigned.length, 0);
  // ...and releases it once terminal.
  const failed = fakeTask(svc, { nodeId: 'n1', state: 'failed', desired: 'shutdown' });
  assert.equal(run(svc, fakePendingTasks(svc, 1), [node], [failed]).assigned.length, 1);
});

test('resources: no reservation, no resource check', () => {
  const svc = fakeService();
  const r = run(svc, fakePendingTasks(svc, 50), [fakeNode({ cpus: 0, memoryBytes: 0 })]);
  assert.equal(r.assigned.length, 50);
});

test('constraints: singular and plural, and only matching nodes receive tasks', () => {
  const svc = fakeService({ placement: { Constraints: ['node.labels.zone==east'] } });
  const r1 = run(svc, fakePendingTasks(svc, 1), [fakeNode()]);
  assert.equal(onlyErr(r1), 'no suitable node (scheduling constraints not satisfied on 1 node)');
  const r5 = run(svc, fakePendingTasks(svc, 1), Array.from({ length: 5 }, () => fakeNode()));
  assert.equal(onlyErr(r5), 'no suitable node (scheduling constraints not satisfied on 5 nodes)');
  const east = fakeNode({ id: 'east', labels: { zone: 'east' } });
  const r = run(svc, fakePendingTasks(svc, 3), [fakeNode(), east, fakeNode()]);
  assert.deepEqual(r.assigned.map((a) => a.nodeId), ['east', 'east', 'east']);
});

test('platform: aliases x86_64≡amd64 and aarch64≡arm64, empty fields are wildcards', () => {
  const arm = fakeService({ placement: { Platforms: [{ Architecture: 'arm64', OS: 'linux' }] } });
  const r = run(arm, fakePendingTasks(arm, 2), [
    fakeNode({ id: 'x86', arch: 'x86_64' }),
    fakeNode({ id: 'pi', arch: 'aarch64' }),
  ]);
  assert.deepEqual(r.assigned.map((a) => a.nodeId), ['pi', 'pi']);

  const amd = fakeService({ placement: { Platforms: [{ Architecture: 'amd64' }] } });
  assert.equal(run(amd, fakePendingTasks(amd, 1), [fakeNode({ arch: 'x86_64', os: 'windows' })]).assigned.length, 1);

  const win = fakeService({ placement: { Platforms: [{ OS: 'windows' }] } });
  assert.equal(
    onlyErr(run(win, fakePendingTasks(win, 1), [fakeNode()])),
    'no suitable node (unsupported platform on 1 node)',
  );
  assert.equal(
    onlyErr(run(win, fakePendingTasks(win, 1), [fakeNode(), fakeNode()])),
    'no suitable node (unsupported platform on 2 nodes)',
  );
});

test('host-mode ports: one task per node per (protocol, port)', () => {
  const svc = fakeService({ ports: [{ Protocol: 'tcp', TargetPort: 80, PublishedPort: 8080, PublishMode: 'host' }] });
  const r = run(svc, fakePendingTasks(svc, 3), [fakeNode({ id: 'a' }), fakeNode({ id: 'b' })]);
  assert.deepEqual(r.assigned.map((a) => a.nodeId).sort(), ['a', 'b']);
  assert.equal(onlyErr(r), 'no suitable node (host-mode port already in use on 2 nodes)');
});

test('host-mode ports: another service holding the port blocks; other protocols and ingress do not', () => {
  const hostPort = (Protocol: 'tcp' | 'udp', PublishedPort: number, PublishMode: 'host' | 'ingress' = 'host') => ({
    ports: [{ Protocol, TargetPort: 80, PublishedPort, PublishMode }],
  });
  const holder = fakeService(hostPort('tcp', 8080));
  const held = fakeTask(holder, { nodeId: 'a', state: 'running' });
  const same = fakeService(hostPort('tcp', 8080));
  assert.equal(
    onlyErr(run(same, fakePendingTasks(same, 1), [fakeNode({ id: 'a' })], [held], [holder])),
    'no suitable node (host-mode port already in use on 1 node)',
  );
  const udp = fakeService(hostPort('udp', 8080));
  assert.equal(run(udp, fakePendingTasks(udp, 1), [fakeNode({ id: 'a' })], [held], [holder]).assigned.length, 1);
  const ingress = fakeService(hostPort('tcp', 8080, 'ingress'));
  assert.equal(
    run(ingress, fakePendingTasks(ingress, 2), [fakeNode({ id: 'a' })], [held], [holder]).assigned.length,
    2,
  );
  const dynamic = fakeService(hostPort('tcp', 0));
  assert.equal(run(dynamic, fakePendingTasks(dynamic, 2), [fakeNode({ id: 'a' })]).assigned.length, 2);
});

test('max replicas per node: caps each node, counting tasks already there', () => {
  const svc = fakeService({ placement: { MaxReplicas: 2 } });
  const nodes = [fakeNode({ id: 'a' }), fakeNode({ id: 'b' })];
  const existing = [fakeTask(svc, { nodeId: 'a', state: 'running' })];
  const r = run(svc, fakePendingTasks(svc, 4), nodes, existing);
  const counts = new Map<string, number>();
  for (const a of r.assigned) counts.set(a.nodeId, (counts.get(a.nodeId) ?? 0) + 1);
  assert.deepEqual(Object.fromEntries(counts), { a: 1, b: 2 });
  assert.equal(onlyErr(r), 'no suitable node (max replicas per node limit exceed)');
  // A task being shut down no longer counts as a replica.
  const stopping = [fakeTask(svc, { nodeId: 'a', state: 'running', desired: 'shutdown' })];
  assert.equal(run(svc, fakePendingTasks(svc, 4), nodes, stopping).assigned.length, 4);
});

test('explanations join, most failing nodes first, first failing filter charged', () => {
  const svc = fakeService({ reserveCpus: 2, placement: { Constraints: ['node.labels.zone==east'] } });
  const nodes = [
    fakeNode({ availability: 'drain', labels: { zone: 'west' } }), // ready fails first
    fakeNode({ cpus: 1, labels: { zone: 'east' } }), // resources
    fakeNode({ labels: { zone: 'west' } }), // constraints
    fakeNode({ labels: { zone: 'west' } }),
    fakeNode({ labels: {} }),
  ];
  assert.equal(
    onlyErr(run(svc, fakePendingTasks(svc, 1), nodes)),
    'no suitable node (scheduling constraints not satisfied on 3 nodes; 1 node not available for new tasks; ' +
      'insufficient resources on 1 node)',
  );
});

test('FilterPipeline skips filters the spec does not need', () => {
  const svc = fakeService();
  const p = new FilterPipeline(fakeTask(svc));
  const [info] = buildNodeInfos([fakeNode({ state: 'down' })], [], new Map()).values();
  assert.equal(p.check(info), false);
  assert.equal(p.explain(), '1 node not available for new tasks');
  p.resetCounts();
  assert.equal(p.explain(), '');
});
