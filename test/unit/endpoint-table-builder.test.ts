// EndpointTableBuilder against the pure buildEndpointTable(): random histories of a real MemoryStore (services and
// tasks created, replaced by new objects with or without a relevant change, removed; gate entries; networks), and after every
// step the builder's table equals the fresh one, "changed" is true exactly when the table's content changed, and a
// service none of whose objects changed keeps its very ServiceEndpoint object (what the sinks rely on).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Network, Service, Task, TaskState } from '../../control/api/types';
import { FakeClock } from '../../control/base/clock';
import { buildEndpointTable } from '../../control/endpoints/build-endpoint-table';
import { MemoryStore } from '../../control/store/memory-store';
import { edit } from '../../control/store/store';
import { EndpointTableBuilder } from '../../control/endpoints/endpoint-table-builder';
import { seeded } from '../../dns/test-kit';
import { fakeService, fakeTask } from '../fakes/objects';

const NETWORKS: Network[] = [
  { ID: 'ing', Name: 'ingress', Ingress: true, IPAM: { Config: [{ Subnet: '10.0.0.0/24' }] } } as Network,
  { ID: 'n1', Name: 'front', IPAM: { Config: [{ Subnet: '10.0.1.0/24' }] } } as Network,
  { ID: 'n2', Name: 'back', IPAM: { Config: [{ Subnet: '10.0.2.0/24' }] } } as Network,
];
const STATES: TaskState[] = ['pending', 'assigned', 'starting', 'running', 'running', 'running', 'shutdown', 'failed'];

async function history(seed: number, steps: number): Promise<void> {
  const rnd = seeded(seed);
  const pick = <T>(xs: T[]): T => xs[Math.floor(rnd() * xs.length)];
  const store = new MemoryStore(null, new FakeClock());
  const gate = { admitted: new Set<string>(), evicted: new Set<string>() };
  let n = 0;
  const builder = new EndpointTableBuilder();
  store.watch((events) => builder.note(events));
  await store.update((tx) => void tx.create('network', NETWORKS[0]));
  await store.update((tx) => void tx.create('network', NETWORKS[1]));
  const microtask = () => new Promise<void>((r) => queueMicrotask(r));
  await microtask();
  let prevTable = store.view((tx) => builder.build(tx, gate)).table;
  let prevJson = JSON.stringify(prevTable);

  const newService = (): Service => {
    const s = fakeService({ id: `s${n++}`, name: pick(['web', 'api', 'db', 'Web', 'cache', 'a-b', 'a_b']) + n });
    s.Endpoint = {
      Spec: { Mode: rnd() < 0.8 ? 'vip' : 'dnsrr' },
      VirtualIPs: rnd() < 0.8 ? [{ NetworkID: 'n1', Addr: `10.0.1.${n % 250}/24` }] : [],
      Ports: rnd() < 0.5 ? [{ Protocol: pick(['tcp', 'udp'] as const), TargetPort: 80, PublishedPort: 30000 + n, Name: rnd() < 0.5 ? 'http' : undefined }] : [],
    };
    if (rnd() < 0.3) s.Spec.TaskTemplate = { ...s.Spec.TaskTemplate, Networks: [{ Target: 'n1', Aliases: ['al' + (n % 3)] }] };
    if (rnd() < 0.2) s.Spec.Labels = { 'shoal.mesh.balance': 'least-connections' };
    return s;
  };
  const newTask = (s: Service): Task => {
    const t = fakeTask(s, { id: `t${n++}`, slot: 1 + Math.floor(rnd() * 4), state: pick(STATES), desired: rnd() < 0.9 ? 'running' : 'shutdown', nodeId: pick(['n1', 'n2']) });
    t.NetworksAttachments = [{ Network: pick(NETWORKS.slice(1)), Addresses: [`10.0.${1 + Math.floor(rnd() * 2)}.${n % 250}/24`] }] as Task['NetworksAttachments'];
    return t;
  };

  for (let step = 0; step < steps; step++) {
    const touched = new Set<string>(); // services whose objects (or their tasks' objects, or gate state) this step changed
    const services = store.view((tx) => tx.list('service'));
    const tasks = store.view((tx) => tx.list('task'));
    const r = rnd();
    if (r < 0.15 || services.length === 0) {
      await store.update((tx) => void tx.create('service', newService()));
    } else if (r < 0.2) {
      const s = pick(services);
      await store.update((tx) => {
        for (const t of tx.tasksByService(s.ID)) tx.delete('task', t.ID);
        tx.delete('service', s.ID);
      });
    } else if (r < 0.3) {
      // A new object for the service: half the time with nothing the data plane reads changed.
      const s = pick(services);
      await store.update((tx) => {
        const e = edit(tx.get('service', s.ID)!);
        if (rnd() < 0.5) e.Spec.Name += 'x';
        else e.UpdateStatus = { State: 'completed' };
        tx.update('service', e);
      });
      touched.add(s.ID);
    } else if (r < 0.55) {
      const s = pick(services);
      await store.update((tx) => void tx.create('task', newTask(s)));
      touched.add(s.ID);
    } else if (r < 0.8 && tasks.length) {
      const t = pick(tasks);
      await store.update((tx) => {
        const e = edit(tx.get('task', t.ID)!);
        e.Status = { ...e.Status, State: rnd() < 0.5 ? e.Status.State : pick(STATES), Timestamp: `t${step}` };
        tx.update('task', e);
      });
      touched.add(t.ServiceID);
    } else if (r < 0.87 && tasks.length) {
      const t = pick(tasks);
      await store.update((tx) => tx.delete('task', t.ID));
      touched.add(t.ServiceID);
    } else if (r < 0.95 && tasks.length) {
      const t = pick(tasks);
      const set = rnd() < 0.5 ? gate.admitted : gate.evicted;
      if (set.has(t.ID)) set.delete(t.ID);
      else set.add(t.ID);
      builder.noteTask(t.ID);
      touched.add(t.ServiceID);
    } else {
      const has = store.view((tx) => tx.get('network', 'n2'));
      await store.update((tx) => (has ? tx.delete('network', 'n2') : void tx.create('network', NETWORKS[2])));
      for (const s of services) touched.add(s.ID);
    }
    await microtask(); // the store delivers a commit's events in a microtask
    const { table, changed } = store.view((tx) => builder.build(tx, gate));
    const fresh = store.view((tx) => buildEndpointTable(tx.list('service'), tx.list('task'), tx.list('network'), gate));
    assert.deepEqual(table, fresh, `seed ${seed} step ${step}: the builder's table equals a fresh build`);
    const json = JSON.stringify(table);
    assert.equal(changed, json !== prevJson, `seed ${seed} step ${step}: changed says whether the content changed`);
    if (!changed) assert.equal(table, prevTable, 'an unchanged table is the previous object');
    const before = new Map(prevTable.services.map((s) => [s.serviceId, s]));
    for (const s of table.services) {
      if (!touched.has(s.serviceId) && before.has(s.serviceId)) assert.equal(s, before.get(s.serviceId), `seed ${seed} step ${step}: untouched service ${s.serviceId} keeps its endpoint object`);
    }
    prevTable = table;
    prevJson = json;
  }
}

test('the builder equals a fresh build after every commit of random store histories, and keeps untouched services by identity', async () => {
  for (const seed of [1, 2, 3, 4, 5]) await history(seed, 300);
});

test('a task that starts shares every other backend entry with the previous table', async () => {
  const store = new MemoryStore(null, new FakeClock());
  const b = new EndpointTableBuilder();
  store.watch((events) => b.note(events));
  const s = fakeService({ id: 's1', name: 'web' });
  const attach = (t: Task, ip: string): Task => ({ ...t, NetworksAttachments: [{ Network: NETWORKS[1], Addresses: [ip] }] }) as Task;
  await store.update((tx) => {
    tx.create('network', NETWORKS[1]);
    tx.create('service', s);
    tx.create('task', attach(fakeTask(s, { id: 't1', slot: 1, state: 'running' }), '10.0.1.5/24'));
    tx.create('task', attach(fakeTask(s, { id: 't2', slot: 2, state: 'starting' }), '10.0.1.6/24'));
  });
  const gate = { admitted: new Set<string>(), evicted: new Set<string>() };
  const first = store.view((tx) => b.build(tx, gate)).table;
  await store.update((tx) => {
    const t = edit(tx.get('task', 't2')!);
    t.Status = { ...t.Status, State: 'running' };
    tx.update('task', t);
  });
  await new Promise<void>((r) => queueMicrotask(r));
  const second = store.view((tx) => b.build(tx, gate));
  assert.ok(second.changed);
  assert.notEqual(second.table.services[0], first.services[0]);
  assert.equal(second.table.services[0].backends[0], first.services[0].backends[0], 't1 entry reused');
  assert.equal(second.table.services[0].backends.length, 2);
});
