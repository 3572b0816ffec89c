/**
 * The endpoint table's cost per task start or stop, what the publisher pays before any sink (mesh, DNS) sees the
 * change: the incremental EndpointTableBuilder against its anchor, building the whole table from the store and
 * comparing it as JSON (what the publisher did before; buildEndpointTable() is still the reference the builder
 * is tested against). A MemoryStore with N services × 10 running tasks on one network; each round stops one
 * task in one commit, then both build. Prints medians and the ratio. Needs nothing.
 * Run: `node dist/bench/endpoint-table.bench.js [--sizes 1000,10000] [--rounds 7]`
 */
import { FakeClock } from '../control/base/clock';
import { buildEndpointTable } from '../control/endpoints/build-endpoint-table';
import { EndpointTableBuilder } from '../control/endpoints/endpoint-table-builder';
import { MemoryStore } from '../control/store/memory-store';
import { edit } from '../control/store/store';
import type { Network } from '../control/api/types';
import { fakeService, fakeTask } from '../test/fakes/objects';
import { printTable } from './support/table';

function option(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1] : fallback;
}

const SIZES = option('sizes', '1000,10000').split(',').map(Number);
const ROUNDS = Number(option('rounds', '7'));
const TASKS = 10;
const NET = { ID: 'net1', Name: 'app', IPAM: { Config: [{ Subnet: '10.1.0.0/16' }] } } as Network;

const median = (xs: number[]): number => xs.slice().sort((a, b) => a - b)[xs.length >> 1];

async function measure(services: number): Promise<(string | number)[]> {
  const store = new MemoryStore(null, new FakeClock());
  let ip = 0;
  await store.update((tx) => {
    tx.create('network', NET);
    for (let s = 0; s < services; s++) {
      const svc = fakeService({ id: `s${s}`, name: `svc${s}`, replicas: TASKS });
      svc.Endpoint = { Spec: { Mode: 'vip' }, VirtualIPs: [{ NetworkID: NET.ID, Addr: `10.2.${s >> 8}.${s & 255}/16` }], Ports: [{ Protocol: 'tcp', TargetPort: 80, PublishedPort: 30000 + (s % 2000) }] };
      tx.create('service', svc);
      for (let t = 1; t <= TASKS; t++) {
        ip++;
        const task = fakeTask(svc, { id: `t${s}-${t}`, slot: t, state: 'running', nodeId: 'n1' });
        task.NetworksAttachments = [{ Network: NET, Addresses: [`10.1.${(ip >> 8) & 255}.${ip & 255}/16`] }];
        tx.create('task', task);
      }
    }
  });
  const gate = { admitted: new Set<string>(), evicted: new Set<string>() };
  const builder = new EndpointTableBuilder();
  store.watch((events) => builder.note(events));
  store.view((tx) => builder.build(tx, gate));
  let last = '';
  const whole: number[] = [];
  const incremental: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    await store.update((tx) => {
      const t = edit(tx.get('task', `t${(round * 997) % services}-3`)!);
      t.Status = { ...t.Status, State: 'shutdown' };
      tx.update('task', t);
    });
    await new Promise<void>((r) => queueMicrotask(r)); // the store hands a commit's events over in a microtask
    let t0 = performance.now();
    const text = store.view((tx) => JSON.stringify(buildEndpointTable(tx.list('service'), tx.list('task'), tx.list('network'), gate)));
    const changedWhole = text !== last;
    last = text;
    whole.push(performance.now() - t0);
    t0 = performance.now();
    const { changed } = store.view((tx) => builder.build(tx, gate));
    incremental.push(performance.now() - t0);
    if (round > 0 && changed !== changedWhole) throw new Error(`round ${round}: the builder says changed=${changed}, the whole build ${changedWhole}`);
  }
  const w = median(whole);
  const i = median(incremental);
  return [`${services.toLocaleString('en-US')} × ${TASKS}`, w.toFixed(1), i.toFixed(2), `${(i / w).toFixed(3)}x`];
}

async function main(): Promise<void> {
  const rows: (string | number)[][] = [];
  for (const size of SIZES) rows.push(await measure(size));
  console.log(`\nendpoint table per one-task change (median of ${ROUNDS} rounds; load ${(await import('node:os')).loadavg()[0].toFixed(2)})`);
  printTable(['services × tasks', 'whole build + JSON compare, ms', 'incremental builder, ms', 'ratio'], rows);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
