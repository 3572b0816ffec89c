import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Node, Service, Task } from '../../control/api/types';
import { scheduleTasks } from '../../control/manager/scheduler/pipeline';
import { fakeNode, fakePendingTasks, fakeService, fakeTask } from '../fakes/objects';

function run(svc: Service, pending: Task[], nodes: Node[], existing: Task[] = []) {
  return scheduleTasks({ pending, nodes, tasks: [...existing, ...pending], services: new Map([[svc.ID, svc]]) });
}

/** Tasks placed per value of a node label (unlabelled nodes under "-"). */
function perLabel(nodes: Node[], assigned: { nodeId: string }[], label: string): Record<string, number> {
  const byId = new Map(nodes.map((n) => [n.ID, n]));
  const out: Record<string, number> = {};
  for (const a of assigned) {
    const v = byId.get(a.nodeId)?.Spec.Labels?.[label] ?? '-';
    out[v] = (out[v] ?? 0) + 1;
  }
  return out;
}

const spread = (...descriptors: string[]) => ({
  Preferences: descriptors.map((d) => ({ Spread: { SpreadDescriptor: d } })),
});

test('spread=node.labels.zone equalizes zones, not nodes', () => {
  // Zone east has 3 nodes, west 1: without the preference west would get a quarter; with it, half.
  const nodes = [
    fakeNode({ id: 'e1', labels: { zone: 'east' } }),
    fakeNode({ id: 'e2', labels: { zone: 'east' } }),
    fakeNode({ id: 'e3', labels: { zone: 'east' } }),
    fakeNode({ id: 'w1', labels: { zone: 'west' } }),
  ];
  const svc = fakeService({ placement: spread('node.labels.zone') });
  const r = run(svc, fakePendingTasks(svc, 8), nodes);
  assert.deepEqual(perLabel(nodes, r.assigned, 'zone'), { east: 4, west: 4 });
  // Within east the tasks still spread over nodes.
  const east: Record<string, number> = {};
  for (const a of r.assigned) if (a.nodeId.startsWith('e')) east[a.nodeId] = (east[a.nodeId] ?? 0) + 1;
  assert.deepEqual(Object.values(east).sort(), [1, 1, 2]);
});

test('nodes missing the label form their own branch', () => {
  const nodes = [
    fakeNode({ id: 'a', labels: { zone: 'east' } }),
    fakeNode({ id: 'b', labels: { zone: 'west' } }),
    fakeNode({ id: 'c' }),
    fakeNode({ id: 'd' }),
  ];
  const svc = fakeService({ placement: spread('node.labels.zone') });
  const r = run(svc, fakePendingTasks(svc, 6), nodes);
  assert.deepEqual(perLabel(nodes, r.assigned, 'zone'), { east: 2, west: 2, '-': 2 });
});

test('existing tasks count toward their branch, so new tasks fill the emptier zone first', () => {
  const nodes = [fakeNode({ id: 'a', labels: { zone: 'east' } }), fakeNode({ id: 'b', labels: { zone: 'west' } })];
  const svc = fakeService({ placement: spread('node.labels.zone') });
  const existing = [1, 2, 3].map(() => fakeTask(svc, { nodeId: 'a', state: 'running' }));
  const r = run(svc, fakePendingTasks(svc, 5), nodes, existing);
  assert.deepEqual(perLabel(nodes, r.assigned, 'zone'), { west: 4, east: 1 });
});

test('a zone that runs out of room leaves the rest to the others', () => {
  const nodes = [
    fakeNode({ id: 'a', cpus: 1, labels: { zone: 'east' } }),
    fakeNode({ id: 'b', cpus: 8, labels: { zone: 'west' } }),
  ];
  const svc = fakeService({ reserveCpus: 1, placement: spread('node.labels.zone') });
  const r = run(svc, fakePendingTasks(svc, 4), nodes);
  assert.deepEqual(perLabel(nodes, r.assigned, 'zone'), { east: 1, west: 3 });
});

test('nested preferences: equalize the first label, then the second within it', () => {
  const nodes = [
    fakeNode({ id: 'e-r1', labels: { zone: 'east', rack: 'r1' } }),
    fakeNode({ id: 'e-r2a', labels: { zone: 'east', rack: 'r2' } }),
    fakeNode({ id: 'e-r2b', labels: { zone: 'east', rack: 'r2' } }),
    fakeNode({ id: 'w-r1', labels: { zone: 'west', rack: 'r1' } }),
  ];
  const svc = fakeService({ placement: spread('node.labels.zone', 'node.labels.rack') });
  const r = run(svc, fakePendingTasks(svc, 8), nodes);
  const counts: Record<string, number> = {};
  for (const a of r.assigned) counts[a.nodeId] = (counts[a.nodeId] ?? 0) + 1;
  assert.deepEqual(counts, { 'e-r1': 2, 'e-r2a': 1, 'e-r2b': 1, 'w-r1': 4 });
});

test('engine labels work as descriptors; filters still apply under preferences', () => {
  const nodes = [
    fakeNode({ id: 'ssd1', engineLabels: { disk: 'ssd' } }),
    fakeNode({ id: 'hdd1', engineLabels: { disk: 'hdd' } }),
    fakeNode({ id: 'hdd2', engineLabels: { disk: 'hdd' }, availability: 'drain' }),
  ];
  const svc = fakeService({ placement: spread('engine.labels.disk') });
  const r = run(svc, fakePendingTasks(svc, 4), nodes);
  const counts: Record<string, number> = {};
  for (const a of r.assigned) counts[a.nodeId] = (counts[a.nodeId] ?? 0) + 1;
  assert.deepEqual(counts, { ssd1: 2, hdd1: 2 });
});
