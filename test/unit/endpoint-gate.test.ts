import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../../control/base/clock';
import { silentLogger } from '../../control/base/log';
import { MemoryStore } from '../../control/store/memory-store';
import { edit } from '../../control/store/store';
import { EndpointPublisher } from '../../control/endpoints/endpoint-publisher';
import type { EndpointTable } from '../../mesh/endpoint-table';
import type { TaskState } from '../../control/api/types';
import { fakeService, fakeTask } from '../fakes/objects';

/** A sink that records tables and holds each one "in flight" until release() (like rules still being loaded). */
class SlowSink {
  tables: EndpointTable[] = [];
  private pending: (() => void)[] = [];
  private inFlight: Promise<void> = Promise.resolve();
  apply(t: EndpointTable): void {
    this.tables.push(t);
    this.inFlight = new Promise((r) => this.pending.push(r));
  }
  settled(): Promise<void> {
    return this.inFlight;
  }
  release(): void {
    for (const r of this.pending.splice(0)) r();
  }
  backends(): string[] {
    return this.tables.at(-1)?.services.flatMap((s) => s.backends.map((b) => b.taskId)) ?? [];
  }
}

async function setup() {
  const clock = new FakeClock();
  const store = new MemoryStore(null, clock);
  const service = fakeService({ name: 'web', replicas: 1 });
  const task = fakeTask(service, { id: 'task1', slot: 1, nodeId: 'n1', state: 'starting' });
  await store.update((tx) => {
    tx.create('service', service);
    tx.create('task', task);
  });
  const sink = new SlowSink();
  const publisher = new EndpointPublisher({ store, clock, log: silentLogger, sinks: [sink], gateTimeoutMs: 5000 });
  await publisher.start();
  const set = (state: TaskState, desired: TaskState = 'running') =>
    store.update((tx) => {
      const t = edit(tx.get('task', 'task1')!);
      t.Status = { ...t.Status, State: state };
      t.DesiredState = desired;
      tx.update('task', t);
    });
  const tick = () => new Promise((r) => setImmediate(r));
  return { clock, store, sink, publisher, set, tick };
}

test('admit: the task is a backend before it is RUNNING, and admit returns only once the sinks hold it', async () => {
  const o = await setup();
  assert.deepEqual(o.sink.backends(), [], 'a STARTING task is no backend');
  let admitted = false;
  const p = o.publisher.admit('task1').then(() => (admitted = true));
  for (let i = 0; i < 5; i++) await o.tick();
  assert.deepEqual(o.sink.backends(), ['task1']);
  assert.equal(admitted, false, 'the sink has not confirmed yet');
  o.sink.release();
  await p;
  // The store catching up (RUNNING) keeps it, and the gate entry is forgotten.
  await o.set('running');
  for (let i = 0; i < 5; i++) await o.tick();
  assert.deepEqual(o.sink.backends(), ['task1']);
  await o.publisher.stop();
});

test('evict: the task leaves every sink before evict returns, though the store still says RUNNING', async () => {
  const o = await setup();
  await o.set('running');
  for (let i = 0; i < 5; i++) await o.tick();
  o.sink.release();
  assert.deepEqual(o.sink.backends(), ['task1']);
  let evicted = false;
  const p = o.publisher.evict('task1').then(() => (evicted = true));
  for (let i = 0; i < 5; i++) await o.tick();
  assert.deepEqual(o.sink.backends(), []);
  assert.equal(evicted, false);
  o.sink.release();
  await p;
  // While it stops it stays out, even if a late report says running again; once shut down the entry goes.
  await o.set('running', 'shutdown');
  await o.set('shutdown', 'shutdown');
  for (let i = 0; i < 5; i++) await o.tick();
  o.sink.release();
  assert.deepEqual(o.sink.backends(), []);
  await o.publisher.stop();
});

test('a sink that never confirms delays the gate, never wedges it', async () => {
  const o = await setup();
  const p = o.publisher.admit('task1');
  for (let i = 0; i < 5; i++) await o.tick();
  o.clock.advance(5000);
  await p; // resolved by the timeout
  await o.publisher.stop();
});
