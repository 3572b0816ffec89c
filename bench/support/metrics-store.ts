/**
 * A manager's store at the metrics benchmarks' size: N services × 3 running tasks on one node, every tenth service
 * with a completed update — what the per-service families of /metrics read at every scrape.
 */
import { FakeClock } from '../../control/base/clock';
import { MemoryStore } from '../../control/store/memory-store';
import type { Instruments } from '../../control/metrics/instruments';
import { fakeNode, fakeService, fakeTask } from '../../test/fakes/objects';

export async function metricsStore(services: number, instruments: Instruments): Promise<MemoryStore> {
  const store = new MemoryStore(null, new FakeClock(), instruments);
  await store.update((tx) => {
    tx.create('node', fakeNode({ id: 'n1' }));
    for (let s = 0; s < services; s++) {
      const svc = fakeService({ id: `s${s}`, name: `svc${s}`, replicas: 3 });
      tx.create('service', { ...svc, UpdateStatus: s % 10 === 0 ? { State: 'completed' } : undefined });
      for (let slot = 1; slot <= 3; slot++) tx.create('task', fakeTask(svc, { slot, state: 'running', nodeId: 'n1' }));
    }
  });
  return store;
}
