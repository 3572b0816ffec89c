import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryStore } from '../../control/store/memory-store';
import { SqlitePersistence } from '../../control/store/sqlite-persistence';
import { edit, type StoreEvent } from '../../control/store/store';
import type { Service, Task } from '../../control/api/types';

const service = (id: string, name: string): Service =>
  ({ ID: id, Spec: { Name: name, TaskTemplate: { ContainerSpec: { Image: 'busybox' } }, Mode: {} }, Endpoint: { Spec: {} } }) as any;
const task = (id: string, serviceId: string, nodeId?: string): Task =>
  ({ ID: id, ServiceID: serviceId, NodeID: nodeId, Labels: {}, Spec: {}, Status: { State: 'new' }, DesiredState: 'running' }) as any;

test('create assigns versions; stale updates and duplicate names are refused and change nothing', async () => {
  const store = new MemoryStore(new SqlitePersistence(':memory:'));
  const s = await store.update((tx) => tx.create('service', service('s1', 'web')));
  assert.equal(s.Version.Index, 1);
  await assert.rejects(store.update((tx) => tx.create('service', service('s2', 'web'))), /name conflicts/);
  const changed = edit(s);
  changed.Spec.Labels = { a: 'b' };
  const s2 = await store.update((tx) => tx.update('service', changed));
  assert.equal(s2.Version.Index, 2);
  await assert.rejects(store.update((tx) => tx.update('service', changed)), /update out of sequence/);
  assert.deepEqual(store.view((tx) => tx.get('service', 's1'))!.Spec.Labels, { a: 'b' });
  assert.equal(store.view((tx) => tx.list('service')).length, 1);
});

test('a transaction that throws writes nothing', async () => {
  const store = new MemoryStore();
  await assert.rejects(
    store.update((tx) => {
      tx.create('service', service('s1', 'web'));
      throw new Error('boom');
    }),
    /boom/,
  );
  assert.equal(store.view((tx) => tx.list('service')).length, 0);
});

test('indexes follow tasks as they move between nodes and are deleted', async () => {
  const store = new MemoryStore();
  await store.update((tx) => {
    tx.create('task', task('t1', 's1'));
    tx.create('task', task('t2', 's1', 'n1'));
    // reads inside the transaction see its own writes
    assert.equal(tx.tasksByService('s1').length, 2);
  });
  const t1 = edit(store.view((tx) => tx.get('task', 't1'))!);
  t1.NodeID = 'n1';
  await store.update((tx) => tx.update('task', t1));
  assert.deepEqual(store.view((tx) => tx.tasksByNode('n1').map((t) => t.ID).sort()), ['t1', 't2']);
  await store.update((tx) => tx.delete('task', 't2'));
  assert.deepEqual(store.view((tx) => tx.tasksByNode('n1').map((t) => t.ID)), ['t1']);
  assert.deepEqual(store.view((tx) => tx.tasksByService('s1').map((t) => t.ID)), ['t1']);
});

test('watchers get each commit once, in order, after the commit', async () => {
  const store = new MemoryStore();
  const seen: StoreEvent[][] = [];
  store.watch((events) => seen.push(events));
  await store.update((tx) => tx.create('service', service('s1', 'a')));
  await store.update((tx) => {
    tx.create('task', task('t1', 's1'));
    tx.create('task', task('t2', 's1'));
  });
  await new Promise((r) => setImmediate(r));
  assert.equal(seen.length, 2);
  assert.deepEqual(seen[1].map((e) => `${e.kind}:${e.action}:${e.object.ID}`), ['task:create:t1', 'task:create:t2']);
});

test('state survives reopening the SQLite file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'shoal-store-'));
  try {
    const file = join(dir, 'state.db');
    const a = new MemoryStore(new SqlitePersistence(file));
    await a.update((tx) => tx.create('service', service('s1', 'web')));
    await a.update((tx) => tx.create('task', task('t1', 's1', 'n1')));
    await a.close();
    const b = new MemoryStore(new SqlitePersistence(file));
    assert.equal(b.view((tx) => tx.byName('service', 'web'))?.ID, 's1');
    assert.equal(b.view((tx) => tx.tasksByNode('n1')).length, 1);
    const next = await b.update((tx) => tx.create('service', service('s2', 'api')));
    assert.equal(next.Version.Index, 3, 'the version index continues where it was');
    await b.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
