import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Node, Service, Task } from '../../control/api/types';
import { scheduleTasks, type ScheduleDecisions } from '../../control/manager/scheduler/pipeline';
import { FIXED_TIME, fakeNode, fakePendingTasks, fakeService, fakeTask } from '../fakes/objects';

const NOW = Date.parse(FIXED_TIME);

function run(pending: Task[], nodes: Node[], existing: Task[] = [], services: Service[] = [], now?: number) {
  const map = new Map(services.map((s) => [s.ID, s]));
  return scheduleTasks({ pending, nodes, tasks: [...existing, ...pending], services: map, now });
}

function countsByNode(r: ScheduleDecisions): Record<string, number> {
  const out: Record<string, number> = {};
  for (const a of r.assigned) out[a.nodeId] = (out[a.nodeId] ?? 0) + 1;
  return out;
}

const nodes3 = () => [fakeNode({ id: 'a' }), fakeNode({ id: 'b' }), fakeNode({ id: 'c' })];

test('5 tasks over 3 empty nodes spread 2/2/1, round-robin in node ID order', () => {
  const svc = fakeService();
  const r = run(fakePendingTasks(svc, 5), nodes3(), [], [svc]);
  assert.deepEqual(r.assigned.map((a) => a.nodeId), ['a', 'b', 'c', 'a', 'b']);
  assert.deepEqual(r.unschedulable, []);
});

test('nodes with fewer tasks of the service are preferred', () => {
  const svc = fakeService();
  const existing = [
    fakeTask(svc, { nodeId: 'a', state: 'running' }),
    fakeTask(svc, { nodeId: 'a', state: 'running' }),
    fakeTask(svc, { nodeId: 'b', state: 'running' }),
  ];
  const r = run(fakePendingTasks(svc, 3), nodes3(), existing, [svc]);
  assert.deepEqual(r.assigned.map((a) => a.nodeId), ['c', 'b', 'c']);
});

test('then nodes with fewer tasks in total', () => {
  const svc = fakeService();
  const other = fakeService();
  const existing = [
    fakeTask(other, { nodeId: 'a', state: 'running' }),
    fakeTask(other, { nodeId: 'a', state: 'running' }),
    fakeTask(other, { nodeId: 'b', state: 'running' }),
  ];
  const r = run(fakePendingTasks(svc, 1), nodes3(), existing, [svc, other]);
  assert.deepEqual(r.assigned.map((a) => a.nodeId), ['c']);
  const r3 = run(fakePendingTasks(svc, 3), nodes3(), existing, [svc, other]);
  assert.deepEqual(countsByNode(r3), { a: 1, b: 1, c: 1 }, 'the service count outranks the total');
});

test('tasks of other states do not count: pending, terminal and shutting-down tasks are ignored', () => {
  const svc = fakeService();
  const existing = [
    fakeTask(svc, { nodeId: 'a', state: 'pending' }),
    fakeTask(svc, { nodeId: 'a', state: 'complete' }),
    fakeTask(svc, { nodeId: 'a', state: 'running', desired: 'shutdown' }),
  ];
  const r = run(fakePendingTasks(svc, 1), nodes3(), existing, [svc]);
  assert.deepEqual(r.assigned.map((a) => a.nodeId), ['a']);
});

test('groups in one batch see each other: the second service avoids the first one’s nodes', () => {
  const s1 = fakeService();
  const s2 = fakeService();
  const r = run([...fakePendingTasks(s1, 2), ...fakePendingTasks(s2, 1)], nodes3(), [], [s1, s2]);
  assert.deepEqual(r.assigned.map((a) => a.nodeId), ['a', 'b', 'c']);
});

test('groups split by spec version, and share reservations', () => {
  const v1 = fakeService({ id: 'svc', specVersion: 1, reserveCpus: 2 });
  const v2 = fakeService({ id: 'svc', specVersion: 2, reserveCpus: 2 });
  const pending = [...fakePendingTasks(v1, 2), ...fakePendingTasks(v2, 2)];
  const r = run(pending, [fakeNode({ id: 'n', cpus: 6 })], [], [v2]);
  assert.equal(r.assigned.length, 3);
  assert.deepEqual(r.unschedulable.map((u) => u.err), ['no suitable node (insufficient resources on 1 node)']);
});

test('a node that becomes full mid-batch drops out; the rest keep spreading', () => {
  const svc = fakeService({ reserveCpus: 1 });
  const nodes = [fakeNode({ id: 'small', cpus: 1 }), fakeNode({ id: 'big', cpus: 8 })];
  const r = run(fakePendingTasks(svc, 5), nodes, [], [svc]);
  assert.deepEqual(countsByNode(r), { small: 1, big: 4 });
});

test('global: a preassigned task is confirmed on its node', () => {
  const svc = fakeService({ global: true });
  const t = fakeTask(svc, { nodeId: 'b' });
  const r = run([t], nodes3(), [], [svc]);
  assert.deepEqual(r.assigned, [{ taskId: t.ID, nodeId: 'b', preassigned: true }]);
});

test('global: a preassigned task that its node cannot take gets the bare explanation', () => {
  const svc = fakeService({ global: true, reserveCpus: 8 });
  const t = fakeTask(svc, { nodeId: 'a' });
  const r = run([t], [fakeNode({ id: 'a', cpus: 4 })], [], [svc]);
  assert.deepEqual(r.unschedulable, [{ taskId: t.ID, err: 'insufficient resources on 1 node' }]);

  const c = fakeService({ global: true, placement: { Constraints: ['node.role==manager'] } });
  const tc = fakeTask(c, { nodeId: 'a' });
  const drained = fakeTask(c, { nodeId: 'b' });
  const r2 = run([tc, drained], [fakeNode({ id: 'a' }), fakeNode({ id: 'b', availability: 'drain' })], [], [c]);
  assert.deepEqual(r2.unschedulable, [
    { taskId: tc.ID, err: 'scheduling constraints not satisfied on 1 node' },
    { taskId: drained.ID, err: '1 node not available for new tasks' },
  ]);
});

test('global: a task bound to an unknown node is reported, and preassigned tasks reserve first', () => {
  const g = fakeService({ global: true, reserveCpus: 3 });
  const gone = fakeTask(g, { nodeId: 'gone' });
  const ga = fakeTask(g, { nodeId: 'a' });
  const rep = fakeService({ reserveCpus: 3 });
  // The replicated task comes first in the list but the global one on `a` is placed first.
  const r = run([...fakePendingTasks(rep, 1), ga, gone], [fakeNode({ id: 'a', cpus: 4 })], [], [g, rep]);
  assert.deepEqual(r.assigned, [{ taskId: ga.ID, nodeId: 'a', preassigned: true }]);
  assert.deepEqual(
    r.unschedulable.map((u) => u.err).sort(),
    ['no suitable node (insufficient resources on 1 node)', 'node gone not found'],
  );
});

test('recent failures: a node with ≥5 failures of this spec version in 5 minutes sorts last', () => {
  const svc = fakeService();
  const failedAt = (nodeId: string, n: number, ago: number) =>
    Array.from({ length: n }, () =>
      fakeTask(svc, { nodeId, state: 'failed', desired: 'shutdown', timestamp: new Date(NOW - ago).toISOString() }),
    );
  const nodes = [fakeNode({ id: 'a' }), fakeNode({ id: 'b' })];
  // a: 5 recent failures → underweighted even though b already runs two tasks.
  const busy = [fakeTask(svc, { nodeId: 'b', state: 'running' }), fakeTask(svc, { nodeId: 'b', state: 'running' })];
  const r = run(fakePendingTasks(svc, 2), nodes, [...failedAt('a', 5, 60_000), ...busy], [svc], NOW);
  assert.deepEqual(r.assigned.map((x) => x.nodeId), ['b', 'b']);
  // 4 failures are not enough; old failures and failures of another spec version do not count; no `now`, no penalty.
  const firstNode = (s: Service, failures: Task[], now?: number) =>
    run(fakePendingTasks(s, 1), nodes, [...failures, ...busy], [s], now).assigned[0].nodeId;
  assert.equal(firstNode(svc, failedAt('a', 4, 0), NOW), 'a');
  assert.equal(firstNode(svc, failedAt('a', 5, 301_000), NOW), 'a');
  assert.equal(firstNode(svc, failedAt('a', 5, 0)), 'a');
  const v2 = fakeService({ id: svc.ID, specVersion: 2 });
  assert.equal(firstNode(v2, failedAt('a', 5, 0), NOW), 'a');
  // An underweighted node still takes tasks when it is the only one left.
  const only = run(fakePendingTasks(svc, 1), [nodes[0]], failedAt('a', 6, 0), [svc], NOW);
  assert.equal(only.assigned[0].nodeId, 'a');
});
