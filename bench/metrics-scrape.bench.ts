/**
 * Scrape cost at 1,000 services: GET /metrics over HTTP from a MetricsServer whose registry is the daemon's
 * (Instruments + nodeMetrics), over a store filled directly with 1,000 services × 3 running tasks, userspace
 * mesh counters for each service's published port, and — as root with iptables — a real iptables mesh holding
 * the rules of 1,000 services × 10 backends (~21,000 rules) in a throw-away namespace, so every cold scrape lists
 * the two dispatch chains with their counters (`iptables -S CHAIN -v`, ~2,000 rules). Cold: the counters cache has expired (the mesh's clock is moved past
 * COUNTERS_CACHE_MS before each scrape); warm: a second scrape within the window. Goal: ≤ 100 ms per scrape.
 * Not measured here: mesh throughput while scraped (the issue's other half). Prints; never asserts.
 * Run: `npm run build && node dist/bench/metrics-scrape.bench.js [--services 1000] [--scrapes 20]`.
 */
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { exec } from '../control/base/exec';
import { FakeClock } from '../control/base/clock';
import { silentLogger } from '../control/base/log';
import { MemoryStore } from '../control/store/memory-store';
import { Instruments } from '../control/metrics/instruments';
import { nodeMetrics } from '../control/metrics/node-metrics';
import { MetricsServer } from '../control/metrics/metrics-server';
import { IptablesMesh, COUNTERS_CACHE_MS } from '../mesh/iptables/iptables-mesh';
import type { MeshCounterRow } from '../mesh/userspace/userspace-mesh';
import { bigEndpointTable } from './support/big-endpoint-table';
import { fakeNode, fakeService, fakeTask } from '../test/fakes/objects';

const argOf = (name: string, dflt: number) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const SERVICES = argOf('--services', 1000);
const SCRAPES = argOf('--scrapes', 20);
const GOAL_MS = 100;

const canIptables = process.getuid?.() === 0 && spawnSync('sh', ['-c', 'command -v iptables-save && command -v ip']).status === 0;

async function fillStore(store: MemoryStore): Promise<void> {
  await store.update((tx) => {
    tx.create('node', fakeNode({ id: 'n1' }));
    for (let s = 0; s < SERVICES; s++) {
      const svc = fakeService({ id: `s${s}`, name: `svc${s}`, replicas: 3 });
      tx.create('service', { ...svc, UpdateStatus: s % 10 === 0 ? { State: 'completed' } : undefined });
      for (let slot = 1; slot <= 3; slot++) tx.create('task', fakeTask(svc, { slot, state: 'running', nodeId: 'n1' }));
    }
  });
}

function userspaceRows(): Map<string, MeshCounterRow> {
  const rows = new Map<string, MeshCounterRow>();
  for (let s = 0; s < SERVICES; s++) {
    rows.set(`svc${s}/tcp/${30000 + s}`, { serviceName: `svc${s}`, protocol: 'tcp', port: 30000 + s, counters: { connectionsTotal: s, connectionsActive: 1, backendErrors: 0, bytesIn: 100 * s, bytesOut: 1000 * s } as never });
  }
  return rows;
}

async function time(url: string): Promise<{ ms: number; bytes: number }> {
  const start = process.hrtime.bigint();
  const r = await fetch(url);
  const text = await r.text();
  if (r.status !== 200) throw new Error(`/metrics answered ${r.status}: ${text.slice(0, 200)}`);
  return { ms: Number(process.hrtime.bigint() - start) / 1e6, bytes: text.length };
}

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];

async function main(): Promise<void> {
  const instruments = new Instruments();
  const store = new MemoryStore(null, new FakeClock(), instruments);
  await fillStore(store);
  const rows = userspaceRows();

  const ns = `shl-metrics-bench-${randomBytes(3).toString('hex')}`;
  const meshClock = new FakeClock();
  let mesh: IptablesMesh | undefined;
  if (canIptables) {
    await exec(['ip', 'netns', 'add', ns]);
    mesh = new IptablesMesh({
      nodeId: 'n1', addresses: () => ['192.0.2.10'], logger: silentLogger, clock: meshClock, netns: ns,
      bridgeName: () => 'br-ing', minSyncIntervalMs: 0, resyncIntervalMs: 1e12, observer: instruments,
      exec: (argv, o) => exec(argv, { ...o, timeoutMs: 600_000 }),
    });
    await mesh.start();
    mesh.apply(bigEndpointTable(SERVICES));
    await mesh.settled();
  } else {
    console.log('not root or no iptables: the iptables mesh part is left out (run as root for the full cost)');
  }
  nodeMetrics({ store: () => store, mesh: () => rows, dns: () => undefined, iptables: () => mesh }, instruments.registry);
  const server = new MetricsServer({ host: '127.0.0.1', port: 0, registry: instruments.registry, health: () => undefined, log: silentLogger });
  await server.start();
  try {
    const url = `http://127.0.0.1:${server.port}/metrics`;
    await time(url); // warm up the JIT and the HTTP connection
    const cold: number[] = [];
    const warm: number[] = [];
    let bytes = 0;
    for (let i = 0; i < SCRAPES; i++) {
      meshClock.advance(COUNTERS_CACHE_MS);
      const c = await time(url);
      cold.push(c.ms);
      bytes = c.bytes;
      warm.push((await time(url)).ms);
    }
    const series = (await instruments.registry.getMetricsAsJSON()).reduce((n, f) => n + (f as unknown as { values: unknown[] }).values.length, 0);
    console.log(`${SERVICES} services × 3 tasks in the store; ${mesh ? `iptables mesh with ${mesh.counters().rules} rules in ${ns}` : 'no iptables mesh'}`);
    console.log(`/metrics: ${series} samples, ${(bytes / 1024).toFixed(0)} KiB, ${SCRAPES} scrapes each`);
    console.log('scrape                         median ms   p95 ms   goal ms   median/goal');
    for (const [what, xs] of [['cold (kernel counters read)', cold], ['warm (counters cached)', warm]] as const) {
      const med = pct(xs, 50);
      console.log(`${what.padEnd(29)}  ${med.toFixed(1).padStart(9)}  ${pct(xs, 95).toFixed(1).padStart(7)}   ${String(GOAL_MS).padStart(7)}   ${(med / GOAL_MS).toFixed(2)}×`);
    }
  } finally {
    await server.stop();
    if (mesh) {
      await mesh.stop().catch(() => undefined);
      await exec(['ip', 'netns', 'del', ns]).catch(() => undefined);
    }
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
