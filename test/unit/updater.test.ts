/**
 * The rolling updater, driven through the orchestrator (it runs inside the orchestrator's reconcile) on the real
 * memory store and a FakeClock. A small fake agent moves task states the way a node would; each test controls
 * when tasks run, stop or fail, and moves time explicitly, so batches, delays and monitor windows are exact.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../../control/base/clock';
import { silentLogger } from '../../control/base/log';
import { MemoryStore } from '../../control/store/memory-store';
import { edit } from '../../control/store/store';
import { Orchestrator } from '../../control/manager/orchestrator/orchestrator';
import { RollingUpdate, updatePolicy, type UpdateEffects } from '../../control/manager/updater/rolling-update';
import type { Service, Task, TaskState, UpdateConfig } from '../../control/api/types';
import { fakeNode, fakeService } from '../fakes/objects';

async function setup(o: { replicas?: number; update?: UpdateConfig; rollback?: UpdateConfig } = {}) {
  const clock = new FakeClock();
  const store = new MemoryStore(null, clock);
  let orch = new Orchestrator({ store, clock, log: silentLogger, nodeMatches: () => true });
  const service = fakeService({ name: 'redis', replicas: o.replicas ?? 3 });
  service.Spec.TaskTemplate.ContainerSpec.Image = 'redis:3.0.6';
  service.Spec.TaskTemplate.RestartPolicy = { Condition: 'any', Delay: 5e9 };
  if (o.update) service.Spec.UpdateConfig = o.update;
  if (o.rollback) service.Spec.RollbackConfig = o.rollback;
  await store.update((tx) => {
    tx.create('node', fakeNode({ id: 'n1' }));
    tx.create('service', service);
  });
  await orch.start();
  const settle = async () => {
    for (let i = 0; i < 8; i++) {
      await new Promise((r) => setImmediate(r));
      await orch.settled();
    }
  };
  const svc = (): Service => store.view((tx) => tx.get('service', service.ID))!;
  const tasks = (): Task[] => store.view((tx) => tx.tasksByService(service.ID));
  const get = (id: string): Task => store.view((tx) => tx.get('task', id))!;
  const image = (t: Task) => t.Spec.ContainerSpec.Image;
  /** What `service ps` would call current: per slot, the task with desired state running or ready. */
  const live = (): Task[] => tasks().filter((t) => t.DesiredState === 'running' || t.DesiredState === 'ready').sort((a, b) => a.Slot! - b.Slot!);
  const report = async (t: Task, state: TaskState) => {
    await store.update((tx) => {
      const c = edit(tx.get('task', t.ID)!);
      c.Status = { ...c.Status, State: state, Timestamp: new Date(clock.now()).toISOString() };
      c.NodeID = c.NodeID ?? 'n1';
      tx.update('task', c);
    });
    await settle();
  };
  /** The node's side: tasks told to run start, tasks told to stop stop. Returns what it started. */
  const agent = async (): Promise<Task[]> => {
    const started: Task[] = [];
    for (const t of tasks()) {
      if (t.DesiredState === 'running' && t.Status.State === 'new') {
        await report(t, 'running');
        started.push(t);
      } else if (t.DesiredState === 'shutdown' && t.Status.State === 'running') await report(t, 'shutdown');
    }
    return started;
  };
  /** Runs the agent until nothing changes (a stop-first successor starts once its predecessor has stopped). */
  const agentUntilQuiet = async (): Promise<void> => {
    for (let i = 0; i < 10; i++) {
      const before = JSON.stringify(tasks().map((t) => [t.ID, t.Status.State, t.DesiredState]));
      await agent();
      if (JSON.stringify(tasks().map((t) => [t.ID, t.Status.State, t.DesiredState])) === before) return;
    }
  };
  /** A user's `service update`: the control API's write (previous spec kept, status cleared, new spec version). */
  const update = async (change: (s: Service) => void) => {
    await store.update((tx) => {
      const s = edit(tx.get('service', service.ID)!);
      s.PreviousSpec = structuredClone(s.Spec);
      s.PreviousSpecVersion = s.SpecVersion;
      change(s);
      delete s.UpdateStatus;
      const w = tx.update('service', s);
      tx.update('service', { ...w, SpecVersion: { Index: w.Version.Index } });
    });
    await settle();
  };
  const advance = async (ms: number) => {
    clock.advance(ms);
    await settle();
  };
  const restartOrchestrator = async () => {
    await orch.stop();
    orch = new Orchestrator({ store, clock, log: silentLogger, nodeMatches: () => true });
    await orch.start();
    await settle();
  };
  await settle();
  await agentUntilQuiet();
  return { clock, store, svc, tasks, get, image, live, report, agent, agentUntilQuiet, update, advance, restartOrchestrator, stop: () => orch.stop() };
}

const newImage = (s: Service) => (s.Spec.TaskTemplate.ContainerSpec.Image = 'redis:3.0.7');
const failing = (s: Service) => (s.Spec.TaskTemplate.ContainerSpec.Image = 'redis:broken');

test('parallelism 1, stop-first: one slot at a time, the new task starts after the old one stopped, Delay after each slot', async () => {
  const o = await setup({ update: { Parallelism: 1, Delay: 10e9, Monitor: 5e9, FailureAction: 'pause', Order: 'stop-first' } });
  await o.update(newImage);
  assert.equal(o.svc().UpdateStatus?.State, 'updating');
  assert.equal(o.svc().UpdateStatus?.Message, 'update in progress');
  let fresh = o.tasks().filter((t) => o.image(t) === 'redis:3.0.7');
  assert.equal(fresh.length, 1, 'one slot at a time');
  assert.equal(fresh[0].Slot, 1);
  assert.equal(fresh[0].DesiredState, 'ready', 'held until the old task has stopped');
  const old1 = o.tasks().find((t) => t.Slot === 1 && o.image(t) === 'redis:3.0.6')!;
  assert.equal(old1.DesiredState, 'shutdown');

  await o.report(old1, 'shutdown');
  assert.equal(o.get(fresh[0].ID).DesiredState, 'running', 'released once the old task stopped');
  await o.report(fresh[0], 'running');
  await o.advance(9999);
  assert.equal(o.tasks().filter((t) => o.image(t) === 'redis:3.0.7').length, 1, 'still resting for Delay');
  await o.advance(1);
  fresh = o.tasks().filter((t) => o.image(t) === 'redis:3.0.7');
  assert.deepEqual(fresh.map((t) => t.Slot).sort(), [1, 2], 'slot 2 after the delay');

  await o.agentUntilQuiet();
  await o.advance(10_000);
  await o.agentUntilQuiet();
  assert.deepEqual(o.live().map((t) => [t.Slot, o.image(t), t.Status.State]), [
    [1, 'redis:3.0.7', 'running'],
    [2, 'redis:3.0.7', 'running'],
    [3, 'redis:3.0.7', 'running'],
  ]);
  assert.equal(o.svc().UpdateStatus?.State, 'updating', 'the last slot still rests, then Monitor');
  await o.advance(10_000 + 5000 - 1);
  assert.equal(o.svc().UpdateStatus?.State, 'updating');
  await o.advance(1);
  const status = o.svc().UpdateStatus!;
  assert.equal(status.State, 'completed');
  assert.equal(status.Message, 'update completed');
  assert.equal(status.CompletedAt, new Date(o.clock.now()).toISOString());
  assert.equal(o.tasks().length, 6, 'each slot keeps its old task as history');
  await o.stop();
});

test('parallelism 2 takes two slots at once; parallelism 0 takes every slot at once', async () => {
  const two = await setup({ replicas: 3, update: { Parallelism: 2, Monitor: 1e9 } });
  await two.update(newImage);
  assert.deepEqual(two.tasks().filter((t) => two.image(t) === 'redis:3.0.7').map((t) => t.Slot).sort(), [1, 2]);
  await two.agentUntilQuiet();
  assert.deepEqual(two.tasks().filter((t) => two.image(t) === 'redis:3.0.7').map((t) => t.Slot).sort(), [1, 2, 3], 'no delay: slot 3 as soon as a worker is free');
  await two.agentUntilQuiet();
  await two.advance(1000);
  assert.equal(two.svc().UpdateStatus?.State, 'completed');
  await two.stop();

  const all = await setup({ replicas: 4, update: { Parallelism: 0, Monitor: 1e9 } });
  await all.update(newImage);
  assert.deepEqual(all.tasks().filter((t) => all.image(t) === 'redis:3.0.7').map((t) => t.Slot).sort(), [1, 2, 3, 4]);
  await all.stop();
});

test('start-first: the new task runs before the old one is told to stop', async () => {
  const o = await setup({ replicas: 1, update: { Parallelism: 1, Order: 'start-first', Monitor: 1e9 } });
  const [old] = o.live();
  await o.update(newImage);
  const fresh = o.tasks().find((t) => o.image(t) === 'redis:3.0.7')!;
  assert.equal(fresh.DesiredState, 'running', 'starts at once');
  assert.equal(o.get(old.ID).DesiredState, 'running', 'the old task keeps running meanwhile');
  await o.report(fresh, 'starting');
  assert.equal(o.get(old.ID).DesiredState, 'running');
  await o.report(fresh, 'running');
  assert.equal(o.get(old.ID).DesiredState, 'shutdown', 'stopped once the new one runs');
  await o.agentUntilQuiet();
  await o.advance(1000);
  assert.equal(o.svc().UpdateStatus?.State, 'completed');
  await o.stop();
});

test('a new task that fails pauses the update (default failure action); the next service update resumes it', async () => {
  const o = await setup({ replicas: 3, update: { Parallelism: 1, Monitor: 5e9, FailureAction: 'pause' } });
  await o.update(failing);
  await o.report(o.tasks().find((t) => t.Slot === 1 && t.DesiredState === 'shutdown')!, 'shutdown');
  const bad = o.tasks().find((t) => o.image(t) === 'redis:broken')!;
  assert.equal(bad.DesiredState, 'running');
  await o.report(bad, 'failed'); // e.g. exits 1 while starting
  const status = o.svc().UpdateStatus!;
  assert.equal(status.State, 'paused');
  assert.equal(status.Message, `update paused due to failure or early termination of task ${bad.ID}`);
  await o.advance(60_000);
  await o.agentUntilQuiet();
  assert.deepEqual(
    o.live().filter((t) => t.Slot !== 1).map((t) => o.image(t)),
    ['redis:3.0.6', 'redis:3.0.6'],
    'slots 2 and 3 are left alone while paused',
  );
  assert.equal(o.svc().UpdateStatus?.State, 'paused', 'stays paused');

  // `service update redis` (no change) clears the status and the update carries on.
  await o.update(() => undefined);
  assert.equal(o.svc().UpdateStatus?.State, 'updating');
  await o.stop();
});

test('a task that fails after Monitor is not an update failure; one within Monitor is', async () => {
  const o = await setup({ replicas: 2, update: { Parallelism: 1, Delay: 20e9, Monitor: 5e9, FailureAction: 'pause' } });
  await o.update(newImage);
  await o.agentUntilQuiet();
  const first = o.tasks().find((t) => o.image(t) === 'redis:3.0.7' && t.Slot === 1)!;
  assert.equal(o.get(first.ID).Status.State, 'running');
  await o.advance(5001);
  await o.report(o.get(first.ID), 'failed');
  assert.equal(o.svc().UpdateStatus?.State, 'updating', 'failed 5.001 s after running: past the monitor window');
  await o.advance(15_000);
  await o.agentUntilQuiet();
  const second = o.tasks().find((t) => o.image(t) === 'redis:3.0.7' && t.Slot === 2)!;
  assert.equal(o.get(second.ID).Status.State, 'running');
  await o.advance(4999);
  await o.report(o.get(second.ID), 'failed');
  assert.equal(o.svc().UpdateStatus?.State, 'paused', 'failed 4.999 s after running');
  await o.stop();
});

test('MaxFailureRatio: failures up to the ratio are tolerated, the next one triggers the action', async () => {
  const o = await setup({ replicas: 4, update: { Parallelism: 1, Monitor: 5e9, FailureAction: 'pause', MaxFailureRatio: 0.5 } });
  await o.update(failing);
  for (let i = 1; i <= 2; i++) {
    await o.agentUntilQuiet();
    const bad = o.tasks().find((t) => t.Slot === i && o.image(t) === 'redis:broken')!;
    await o.report(o.get(bad.ID), 'failed');
    assert.equal(o.svc().UpdateStatus?.State, 'updating', `${i}/4 failed: not above 0.5`);
  }
  await o.agentUntilQuiet();
  const third = o.tasks().find((t) => t.Slot === 3 && o.image(t) === 'redis:broken')!;
  await o.report(o.get(third.ID), 'rejected');
  assert.equal(o.svc().UpdateStatus?.State, 'paused', '3/4 failed');
  await o.stop();
});

test('failure action continue: failures are not counted and the update completes', async () => {
  const o = await setup({ replicas: 2, update: { Parallelism: 1, Monitor: 1e9, FailureAction: 'continue' } });
  await o.update(failing);
  for (let i = 1; i <= 2; i++) {
    await o.agentUntilQuiet();
    const bad = o.tasks().find((t) => t.Slot === i && o.image(t) === 'redis:broken')!;
    await o.report(o.get(bad.ID), 'failed');
  }
  await o.advance(1000);
  assert.equal(o.svc().UpdateStatus?.State, 'completed');
  await o.stop();
});

test('failure action rollback: the previous spec comes back with RollbackConfig and the rollback completes', async () => {
  const o = await setup({
    replicas: 3,
    update: { Parallelism: 1, Monitor: 5e9, FailureAction: 'rollback' },
    rollback: { Parallelism: 0, Monitor: 1e9, FailureAction: 'pause' },
  });
  const before = o.svc();
  await o.update(failing);
  await o.agentUntilQuiet();
  const bad = o.tasks().find((t) => o.image(t) === 'redis:broken')!;
  await o.report(o.get(bad.ID), 'failed');
  const s = o.svc();
  assert.equal(s.UpdateStatus?.State, 'rollback_started');
  assert.equal(s.UpdateStatus?.Message, `update rolled back due to failure or early termination of task ${bad.ID}`);
  assert.equal(s.Spec.TaskTemplate.ContainerSpec.Image, 'redis:3.0.6');
  assert.deepEqual(s.SpecVersion, before.SpecVersion, 'the old spec version: old tasks are up to date again');
  assert.equal(s.PreviousSpec, undefined);
  await o.agentUntilQuiet();
  await o.advance(5000); // the failed slot's restart delay
  await o.agentUntilQuiet();
  assert.deepEqual(o.live().map((t) => o.image(t)), ['redis:3.0.6', 'redis:3.0.6', 'redis:3.0.6']);
  await o.advance(1000);
  assert.equal(o.svc().UpdateStatus?.State, 'rollback_completed');
  assert.equal(o.svc().UpdateStatus?.Message, 'rollback completed');
  await o.stop();
});

test('a failure during a rollback pauses it (rollback_paused), never rolls back again', async () => {
  const o = await setup({
    replicas: 2,
    update: { Parallelism: 0, Monitor: 5e9, FailureAction: 'rollback' },
    rollback: { Parallelism: 1, Monitor: 5e9, FailureAction: 'rollback' },
  });
  await o.update(newImage); // all slots to 3.0.7
  await o.agentUntilQuiet();
  await o.advance(5000);
  assert.equal(o.svc().UpdateStatus?.State, 'completed');
  // A manual rollback, as `service rollback` writes it.
  await o.store.update((tx) => {
    const s = edit(tx.get('service', o.svc().ID)!);
    const prev = s.PreviousSpec!;
    s.PreviousSpec = s.Spec;
    s.Spec = prev;
    s.UpdateStatus = { State: 'rollback_started', Message: 'manually requested rollback', StartedAt: new Date(o.clock.now()).toISOString() };
    const w = tx.update('service', s);
    tx.update('service', { ...w, SpecVersion: { Index: w.Version.Index } });
  });
  await o.advance(0);
  await o.agentUntilQuiet();
  const back = o.tasks().find((t) => o.image(t) === 'redis:3.0.6' && t.DesiredState === 'running' && t.Slot === 1 && t.Status.State === 'running')!;
  assert.ok(back, 'slot 1 rolled back');
  await o.report(back, 'failed');
  const status = o.svc().UpdateStatus!;
  assert.equal(status.State, 'rollback_paused');
  assert.equal(status.Message, `rollback paused due to failure or early termination of task ${back.ID}`);
  assert.equal(o.svc().Spec.TaskTemplate.ContainerSpec.Image, 'redis:3.0.6', 'the spec stays the rolled-back one');
  await o.stop();
});

test('an update in progress continues after the orchestrator restarts (status in the store, workers rebuilt)', async () => {
  const o = await setup({ replicas: 3, update: { Parallelism: 1, Delay: 10e9, Monitor: 1e9 } });
  await o.update(newImage);
  await o.agentUntilQuiet();
  assert.equal(o.tasks().filter((t) => o.image(t) === 'redis:3.0.7').length, 1, 'slot 1 done, resting');
  await o.restartOrchestrator();
  assert.equal(o.svc().UpdateStatus?.State, 'updating');
  for (let i = 0; i < 6; i++) {
    await o.agentUntilQuiet();
    await o.advance(10_000);
  }
  assert.deepEqual(o.live().map((t) => [o.image(t), t.Status.State]), [
    ['redis:3.0.7', 'running'],
    ['redis:3.0.7', 'running'],
    ['redis:3.0.7', 'running'],
  ]);
  assert.equal(o.svc().UpdateStatus?.State, 'completed');
  await o.stop();
});

test('a replicas-only update restarts nothing and sets no update status', async () => {
  const o = await setup({ replicas: 2 });
  const ids = o.live().map((t) => t.ID);
  await o.update((s) => (s.Spec.Mode = { Replicated: { Replicas: 3 } }));
  assert.deepEqual(o.live().map((t) => t.ID).slice(0, 2), ids);
  assert.equal(o.svc().UpdateStatus, undefined);
  await o.stop();
});

test('RollingUpdate alone: parallelism bounds the slots in flight and the wake time is the next free worker', () => {
  const calls: string[] = [];
  let n = 0;
  const fx: UpdateEffects = {
    create: (slot, desired) => (calls.push(`create ${slot.key} ${desired}`), `new-${++n}`),
    shutdown: (ids) => void (ids.length && calls.push(`shutdown ${ids.join(',')}`)),
    release: (id) => void calls.push(`release ${id}`),
    pause: (m) => void calls.push(`pause ${m}`),
    rollback: (m) => void calls.push(`rollback ${m}`),
    complete: () => void calls.push('complete'),
  };
  const old = (slot: number): Task => ({ ID: `old-${slot}`, Slot: slot, DesiredState: 'running', Status: { State: 'running' } }) as Task;
  const slots = [1, 2, 3].map((i) => ({ key: `s/${i}`, placement: { slot: i }, live: [old(i)] }));
  const states = new Map<string, TaskState>();
  const snap = (now: number) => ({
    slots,
    now,
    isDirty: (t: Task) => t.ID.startsWith('old'),
    task: (id: string) => (id.startsWith('new') ? ({ ID: id, DesiredState: 'running', Status: { State: states.get(id) ?? 'new' } } as Task) : undefined),
  });
  const u = new RollingUpdate(2, false, updatePolicy({ Parallelism: 2, Delay: 3e9, Monitor: 2e9, FailureAction: 'pause', Order: 'stop-first' }), 3, 0);
  assert.equal(u.step(snap(0), fx), undefined, 'both workers busy: woken by store changes');
  assert.deepEqual(calls, ['shutdown old-1', 'create s/1 ready', 'release new-1', 'shutdown old-2', 'create s/2 ready', 'release new-2']);
  calls.length = 0;
  states.set('new-1', 'running');
  slots[0].live = [{ ID: 'new-1', Slot: 1, DesiredState: 'running', Status: { State: 'running' } } as Task];
  slots[1].live = [{ ID: 'new-2', Slot: 2, DesiredState: 'running', Status: { State: 'new' } } as Task];
  assert.equal(u.step(snap(100), fx), 3100, 'worker 1 rests until 0.1 s + 3 s');
  assert.deepEqual(calls, []);
  assert.equal(u.step(snap(3100), fx), undefined);
  assert.deepEqual(calls, ['shutdown old-3', 'create s/3 ready', 'release new-3']);
});
