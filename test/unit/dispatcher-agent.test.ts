/**
 * The dispatcher and the agent over real gRPC (a server on 127.0.0.1:0), with the store in memory, the memory
 * executor and a fake clock for heartbeats: a node's session marks it READY, its assigned tasks reach it and run,
 * reports move tasks forward only, and a node whose heartbeats stop goes DOWN with "heartbeat failure".
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { FakeClock } from '../../control/base/clock';
import { silentLogger } from '../../control/base/log';
import { MemoryStore } from '../../control/store/memory-store';
import { edit } from '../../control/store/store';
import { Dispatcher } from '../../control/manager/dispatcher/dispatcher';
import { Agent } from '../../control/agent/agent';
import { MemoryExecutor } from '../../control/agent/memory-executor';
import { newClusterObject } from '../../control/cluster-object';
import { fakeNode, fakeService, fakeTask } from '../fakes/objects';

async function until(what: string, fn: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('sessions, assignments, status reports and heartbeat expiry', async () => {
  const clock = new FakeClock();
  const store = new MemoryStore(null, clock);
  const service = fakeService({ id: 's1', name: 'web' });
  await store.update((tx) => {
    tx.create('cluster', newClusterObject({ heartbeatPeriodNs: 1e9 }));
    tx.create('node', fakeNode({ id: 'n1', state: 'unknown' }));
    tx.create('service', service);
  });
  const server = new grpc.Server();
  const dispatcher = new Dispatcher({ store, clock, log: silentLogger, server });
  const port = await new Promise<number>((res, rej) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))),
  );
  await dispatcher.start();
  const executor = new MemoryExecutor();
  const agent = new Agent({ nodeId: 'n1', managerAddr: `127.0.0.1:${port}`, executor, clock, log: silentLogger });
  try {
    await agent.start();
    await agent.whenConnected();
    const node = () => store.view((tx) => tx.get('node', 'n1'))!;
    await until('node ready', () => node().Status.State === 'ready');

    // An assigned task reaches the node and runs; one for another node does not.
    await store.update((tx) => {
      tx.create('task', fakeTask(service, { id: 't1', slot: 1, nodeId: 'n1', state: 'assigned' }));
      tx.create('task', fakeTask(service, { id: 't2', slot: 2, nodeId: 'other', state: 'assigned' }));
    });
    const task = (id: string) => store.view((tx) => tx.get('task', id))!;
    await until('t1 running', () => task('t1').Status.State === 'running');
    assert.equal(task('t1').Status.Message, 'started');
    assert.ok(task('t1').AppliedAt);
    assert.equal(task('t2').Status.State, 'assigned');

    // Desired SHUTDOWN flows to the agent and back as state SHUTDOWN.
    await store.update((tx) => tx.update('task', { ...edit(tx.get('task', 't1')!), DesiredState: 'shutdown' }));
    await until('t1 shut down', () => task('t1').Status.State === 'shutdown');

    // Heartbeats keep the node ready while time passes...
    for (let i = 0; i < 5; i++) {
      clock.advance(1000);
      await new Promise((r) => setTimeout(r, 30));
    }
    assert.equal(node().Status.State, 'ready');
    // ...and when the agent is gone, three periods later the node is down.
    await agent.stop();
    clock.advance(4000);
    await until('node down', () => node().Status.State === 'down');
    assert.equal(node().Status.Message, 'heartbeat failure');
  } finally {
    await agent.stop();
    await dispatcher.stop();
    server.forceShutdown();
    await store.close();
  }
});
