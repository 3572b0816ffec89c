import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../../control/base/clock';
import { silentLogger } from '../../control/base/log';
import { MemoryStore } from '../../control/store/memory-store';
import { edit } from '../../control/store/store';
import { Orchestrator } from '../../control/manager/orchestrator/orchestrator';
import { chooseTasksToDelete } from '../../control/manager/orchestrator/task-reaper';
import { isOutdated } from '../../control/manager/orchestrator/task-checks';
import type { RestartPolicy, Task, TaskState } from '../../control/api/types';
import { fakeNode, fakeService, fakeTask } from '../fakes/objects';

async function setup(opts: { replicas?: number; global?: boolean; restart?: RestartPolicy; nodes?: number } = {}) {
  const clock = new FakeClock();
  const store = new MemoryStore(null, clock);
  const orch = new Orchestrator({ store, clock, log: silentLogger, nodeMatches: () => true });
  const service = fakeService({ name: 'web', replicas: opts.replicas ?? 3, global: opts.global });
  if (opts.restart) service.Spec.TaskTemplate.RestartPolicy = opts.restart;
  const nodes = Array.from({ length: opts.nodes ?? 1 }, (_, i) => fakeNode({ id: `n${i + 1}` }));
  await store.update((tx) => {
    for (const n of nodes) tx.create('node', n);
    tx.create('service', service);
  });
  await orch.start();
  const settle = async () => {
    for (let i = 0; i < 6; i++) {
      await new Promise((r) => setImmediate(r));
      await orch.settled();
    }
  };
  await settle();
  const tasks = () => store.view((tx) => tx.tasksByService(service.ID));
  const live = () => tasks().filter((t) => t.DesiredState === 'running' || t.DesiredState === 'ready');
  /** Moves a task's observed state, as the dispatcher would after an agent's report. */
  const report = async (t: Task, state: TaskState, nodeId = 'n1') => {
    await store.update((tx) => {
      const c = edit(tx.get('task', t.ID)!);
      c.Status = { ...c.Status, State: state, Timestamp: new Date(clock.now()).toISOString() };
      c.NodeID = c.NodeID ?? nodeId;
      tx.update('task', c);
    });
    await settle();
  };
  const setReplicas = async (n: number) => {
    await store.update((tx) => {
      const s = edit(tx.get('service', service.ID)!);
      s.Spec.Mode = { Replicated: { Replicas: n } };
      tx.update('service', s);
    });
    await settle();
  };
  return { clock, store, orch, service, tasks, live, report, settle, setReplicas };
}

test('replicated: one task per slot, scale up fills the lowest free slots, scale down removes the highest', async () => {
  const o = await setup({ replicas: 3 });
  assert.deepEqual(o.live().map((t) => t.Slot).sort(), [1, 2, 3]);
  assert.ok(o.tasks().every((t) => t.Status.State === 'new' && t.Status.Message === 'created'));
  await o.setReplicas(5);
  assert.deepEqual(o.live().map((t) => t.Slot).sort(), [1, 2, 3, 4, 5]);
  await o.setReplicas(2);
  assert.deepEqual(o.live().map((t) => t.Slot).sort(), [1, 2]);
  assert.deepEqual(o.tasks().filter((t) => t.DesiredState === 'remove').map((t) => t.Slot).sort(), [3, 4, 5]);
  await o.orch.stop();
});

test('restart policy any: a failed task is replaced in its slot after the delay', async () => {
  const o = await setup({ replicas: 1, restart: { Condition: 'any', Delay: 5e9 } });
  const [first] = o.live();
  await o.report(first, 'running');
  await o.report(first, 'failed');
  const slot = o.tasks().filter((t) => t.Slot === 1);
  assert.equal(slot.length, 2);
  const old = slot.find((t) => t.ID === first.ID)!;
  const successor = slot.find((t) => t.ID !== first.ID)!;
  assert.equal(old.DesiredState, 'shutdown');
  assert.equal(successor.DesiredState, 'ready', 'held during the restart delay');
  o.clock.advance(4999);
  await o.settle();
  assert.equal(o.store.view((tx) => tx.get('task', successor.ID))!.DesiredState, 'ready');
  o.clock.advance(1);
  await o.settle();
  assert.equal(o.store.view((tx) => tx.get('task', successor.ID))!.DesiredState, 'running');
  await o.orch.stop();
});

test('restart policy none and on-failure: no successor where Docker gives none', async () => {
  const none = await setup({ replicas: 1, restart: { Condition: 'none' } });
  const [a] = none.live();
  await none.report(a, 'running');
  await none.report(a, 'failed');
  assert.equal(none.tasks().length, 1, 'condition none never restarts');
  await none.orch.stop();

  const onFailure = await setup({ replicas: 1, restart: { Condition: 'on-failure', Delay: 0 } });
  const [b] = onFailure.live();
  await onFailure.report(b, 'running');
  await onFailure.report(b, 'complete');
  assert.equal(onFailure.tasks().length, 1, 'on-failure does not restart a task that completed');
  await onFailure.orch.stop();
});

test('max attempts caps restarts of a slot', async () => {
  const o = await setup({ replicas: 1, restart: { Condition: 'any', Delay: 0, MaxAttempts: 2 } });
  for (let i = 0; i < 4; i++) {
    const current = o.live()[0];
    if (!current) break;
    await o.report(current, 'running');
    await o.report(current, 'failed');
  }
  assert.equal(o.tasks().length, 3, 'the first run plus two restarts');
  assert.equal(o.live().length, 0);
  await o.orch.stop();
});

test('drain: tasks on a drained node are replaced at once and the old ones told to shut down', async () => {
  const o = await setup({ replicas: 2, restart: { Condition: 'any', Delay: 5e9 } });
  for (const t of o.live()) await o.report(t, 'running');
  await o.store.update((tx) => {
    const n = edit(tx.get('node', 'n1')!);
    n.Spec.Availability = 'drain';
    tx.update('node', n);
  });
  await o.settle();
  const live = o.live();
  assert.equal(live.length, 2);
  assert.ok(live.every((t) => t.DesiredState === 'running' && t.Status.State === 'new'), 'no restart delay when rescheduling off a node');
  assert.equal(o.tasks().filter((t) => t.DesiredState === 'shutdown').length, 2);
  await o.orch.stop();
});

test('global: one task per eligible node, none on drained nodes, preassigned to the node', async () => {
  const o = await setup({ global: true, nodes: 3 });
  assert.deepEqual(o.live().map((t) => t.NodeID).sort(), ['n1', 'n2', 'n3']);
  assert.ok(o.live().every((t) => t.Slot === undefined));
  await o.store.update((tx) => {
    const n = edit(tx.get('node', 'n2')!);
    n.Spec.Availability = 'drain';
    tx.update('node', n);
  });
  await o.settle();
  assert.deepEqual(o.live().map((t) => t.NodeID).sort(), ['n1', 'n3']);
  await o.orch.stop();
});

test('reaper: keeps at most the retention limit per slot and deletes stopped tasks of removed slots', () => {
  const s = fakeService({ id: 's1' });
  const at = (i: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString();
  const history = Array.from({ length: 7 }, (_, i) =>
    fakeTask(s, { id: `t${i}`, slot: 1, state: i < 6 ? 'failed' : 'running', desired: i < 6 ? 'shutdown' : 'running', timestamp: at(i) }),
  );
  const gone = fakeTask(s, { id: 'r1', slot: 2, state: 'shutdown', desired: 'remove' });
  const stillRunning = fakeTask(s, { id: 'r2', slot: 3, state: 'running', desired: 'remove' });
  const doomed = chooseTasksToDelete([...history, gone, stillRunning], () => true, 5);
  assert.deepEqual(doomed.sort(), ['r1', 't0', 't1']);
});

test('a changed task template (all slots at once) replaces running tasks stop-first and ends never-scheduled ones', async () => {
  const o = await setup({ replicas: 2, restart: { Condition: 'any', Delay: 0 } });
  const [a, b] = o.live().sort((x, y) => x.Slot! - y.Slot!);
  await o.report(a, 'running'); // slot 1 runs; slot 2 never got scheduled
  await o.store.update((tx) => {
    const s = edit(tx.get('service', o.service.ID)!);
    s.Spec.TaskTemplate.ContainerSpec.Image = 'busybox:2';
    s.Spec.UpdateConfig = { Parallelism: 0 };
    const w = tx.update('service', s);
    tx.update('service', { ...w, SpecVersion: { Index: w.Version.Index } });
  });
  await o.settle();
  const all = o.tasks();
  assert.equal(o.store.view((tx) => tx.get('task', a.ID))!.DesiredState, 'shutdown');
  const oldB = o.store.view((tx) => tx.get('task', b.ID))!;
  assert.equal(oldB.Status.State, 'shutdown', 'a pending task of the old spec just ends');
  const fresh = all.filter((t) => t.Spec.ContainerSpec.Image === 'busybox:2');
  assert.deepEqual(fresh.map((t) => t.Slot).sort(), [1, 2]);
  assert.equal(fresh.find((t) => t.Slot === 1)!.DesiredState, 'ready', 'waits for the old task to stop');
  assert.equal(fresh.find((t) => t.Slot === 2)!.DesiredState, 'running');
  await o.report(o.store.view((tx) => tx.get('task', a.ID))!, 'shutdown');
  assert.equal(o.store.view((tx) => tx.get('task', fresh.find((t) => t.Slot === 1)!.ID))!.DesiredState, 'running');
  await o.orch.stop();
});

test('a replicas-only update replaces nothing', async () => {
  const o = await setup({ replicas: 2 });
  const ids = o.live().map((t) => t.ID).sort();
  await o.store.update((tx) => {
    const s = edit(tx.get('service', o.service.ID)!);
    s.Spec.Mode = { Replicated: { Replicas: 2 } };
    s.Spec.Labels = { changed: 'yes' };
    const w = tx.update('service', s);
    tx.update('service', { ...w, SpecVersion: { Index: w.Version.Index } });
  });
  await o.settle();
  assert.deepEqual(o.live().map((t) => t.ID).sort(), ids);
  await o.orch.stop();
});

test('a successor rejected during its restart delay is replaced only after the delay, not in a tight loop', async () => {
  const o = await setup({ replicas: 1, restart: { Condition: 'any', Delay: 5e9 } });
  const [first] = o.live();
  await o.report(first, 'rejected');
  const successor = o.live()[0];
  assert.equal(successor.DesiredState, 'ready');
  await o.report(successor, 'rejected'); // e.g. the image is missing: preparing fails at once
  assert.equal(o.tasks().length, 2, 'no third task while the delay runs');
  o.clock.advance(5000);
  await o.settle();
  assert.equal(o.tasks().length, 3, 'replaced once the delay is over');
  await o.orch.stop();
});

test('an endpoint-only change leaves tasks up to date, unless it moves them on or off ingress', () => {
  const s = fakeService({ name: 'web', replicas: 1 });
  s.Spec.EndpointSpec = { Ports: [{ TargetPort: 80, PublishedPort: 8080 }] };
  s.Endpoint = { Spec: s.Spec.EndpointSpec };
  const t = fakeTask(s, { slot: 1 });
  const next = (ports: { TargetPort: number; PublishedPort: number }[]) => {
    const n = structuredClone(s);
    n.SpecVersion = { Index: (s.SpecVersion?.Index ?? 1) + 1 };
    n.Spec.EndpointSpec = { Ports: ports };
    n.Endpoint = { Spec: n.Spec.EndpointSpec };
    return n;
  };
  assert.equal(isOutdated(t, next([{ TargetPort: 80, PublishedPort: 8080 }, { TargetPort: 80, PublishedPort: 8081 }])), false);
  assert.equal(isOutdated(t, next([])), true);
  const image = next([{ TargetPort: 80, PublishedPort: 8080 }]);
  image.Spec.TaskTemplate = { ...image.Spec.TaskTemplate, ContainerSpec: { ...image.Spec.TaskTemplate.ContainerSpec, Image: 'other' } };
  assert.equal(isOutdated(t, image), true);
});
