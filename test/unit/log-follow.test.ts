import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../../control/base/clock';
import { MemoryStore } from '../../control/store/memory-store';
import { followNewTasks } from '../../control/log-follow';
import type { Task, TaskState } from '../../control/api/types';
import { fakeService, fakeTask } from '../fakes/objects';

test('service logs -f picks up tasks of the service that come to run on this node, once each', async () => {
  const store = new MemoryStore(null, new FakeClock());
  const svc = fakeService({ id: 'svc-a' });
  const other = fakeService({ id: 'svc-b' });
  const old = fakeTask(svc, { id: 'old', nodeId: 'n1', state: 'running' });
  await store.update((tx) => {
    tx.create('service', svc);
    tx.create('service', other);
    tx.create('task', old);
  });
  const started: string[] = [];
  const known = new Set(['old']);
  const stop = followNewTasks(store, 'svc-a', 'n1', known, (t) => started.push(t.ID));

  const put = (t: Task) => store.update((tx) => (tx.get('task', t.ID) ? tx.update('task', { ...tx.get('task', t.ID)!, Status: t.Status }) : tx.create('task', t)));
  const at = (t: Task, state: TaskState): Task => ({ ...t, Status: { ...t.Status, State: state } });
  const fresh = fakeTask(svc, { id: 'fresh', nodeId: 'n1', state: 'assigned' });
  await put(fresh);
  await put(at(fresh, 'starting'));
  assert.deepEqual(started, [], 'not before it runs');
  await put(at(fresh, 'running'));
  await put(at(fresh, 'complete'));
  await put(fakeTask(svc, { id: 'elsewhere', nodeId: 'n2', state: 'running' }));
  await put(fakeTask(other, { id: 'other-service', nodeId: 'n1', state: 'running' }));
  await put(at(old, 'failed'));
  await put(fakeTask(svc, { id: 'seen-late', nodeId: 'n1', state: 'failed' }));
  assert.deepEqual(started, ['fresh', 'seen-late']);
  assert.ok(known.has('fresh'));

  stop();
  await put(fakeTask(svc, { id: 'after-stop', nodeId: 'n1', state: 'running' }));
  assert.deepEqual(started, ['fresh', 'seen-late']);
});
