/**
 * Scrape cost at 1,000 services: GET /metrics over HTTP from a MetricsServer whose registry is the daemon's
 * (Instruments + nodeMetrics), over a store filled directly with 1,000 services × 3 running tasks, userspace
 * mesh counters for each service's published port, and — as root with iptables — a real iptables mesh holding
 * the rules of 1,000 services × 10 backends (~21,000 rules) in a throw-away namespace, so every cold scrape lists
 * the two dispatch chains with their counters (`iptables -S CHAIN -v`, ~2,000 rules). Cold: the counters cache has expired (the mesh's clock is moved past
 * COUNTERS_CACHE_MS before each scrape); warm: a second scrape within the window. Goal: ≤ 100 ms per scrape.
 * Mesh throughput while scraped every second is bench/metrics-under-load. Prints; never asserts.
 * Run: `npm run build && node dist/bench/metrics-scrape.bench.js [--services 1000] [--scrapes 20]`.
 */
import { randomBytes } from 'node:crypto';
import { cpus, loadavg } from 'node:os';
import { spawnSync } from 'node:child_process';
import { exec } from '../control/base/exec';
import { FakeClock } from '../control/base/clock';
import { silentLogger } from '../control/base/log';
import { Instruments } from '../control/metrics/instruments';
import { nodeMetrics } from '../control/metrics/node-metrics';
import { MetricsServer } from '../control/metrics/metrics-server';
import { IptablesMesh, COUNTERS_CACHE_MS } from '../mesh/iptables/iptables-mesh';
import type { MeshCounterRow } from '../mesh/userspace/userspace-mesh';
import { bigEndpointTable } from './support/big-endpoint-table';
import { metricsStore } from './support/metrics-store';

const argOf = (name: string, dflt: number) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const SERVICES = argOf('--services', 1000);
const SCRAPES = argOf('--scrapes', 20);
const GOAL_MS = 100;

const canIptables = process.getuid?.() === 0 && spawnSync('sh', ['-c', 'command -v iptables-save && command -v ip']).status === 0;

function userspaceRows(): Map<string, MeshCounterRow> {
  const rows = new Map<string, MeshCounterRow>();
  for (let s = 0; s < SERVICES; s++) {
    rows.set(`svc${s}/tcp/${30000 + s}`, { serviceName: `svc${s}`, protocol: 'tcp', port: 30000 + s, counters: { connectionsTotal: s, connectionsActive: 1, backendErrors: 0, bytesIn: 100 * s, bytesOut: 1000 * s } as never });
  }
  return rows;
}

/** Wall time, and this process's CPU time (server and the fetching client; not iptables' own), of one scrape. */
async function time(url: string): Promise<{ ms: number; cpuMs: number; bytes: number }> {
  const start = process.hrtime.bigint();
  const cpu = process.cpuUsage();
  const r = await fetch(url);
  const text = await r.text();
  if (r.status !== 200) throw new Error(`/metrics answered ${r.status}: ${text.slice(0, 200)}`);
  const used = process.cpuUsage(cpu);
  return { ms: Number(process.hrtime.bigint() - start) / 1e6, cpuMs: (used.user + used.system) / 1000, bytes: text.length };
}

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];

async function main(): Promise<void> {
  const instruments = new Instruments();
  const store = await metricsStore(SERVICES, instruments);
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
    const coldCpu: number[] = [];
    const warmCpu: number[] = [];
    let bytes = 0;
    for (let i = 0; i < SCRAPES; i++) {
      meshClock.advance(COUNTERS_CACHE_MS);
      const c = await time(url);
      cold.push(c.ms);
      coldCpu.push(c.cpuMs);
      bytes = c.bytes;
      const w = await time(url);
      warm.push(w.ms);
      warmCpu.push(w.cpuMs);
    }
    const series = (await instruments.registry.getMetricsAsJSON()).reduce((n, f) => n + (f as unknown as { values: unknown[] }).values.length, 0);
    console.log(`${SERVICES} services × 3 tasks in the store; ${mesh ? `iptables mesh with ${mesh.counters().rules} rules in ${ns}` : 'no iptables mesh'}`);
    console.log(`/metrics: ${series} samples, ${(bytes / 1024).toFixed(0)} KiB, ${SCRAPES} scrapes each`);
    console.log('scrape                         median ms   p95 ms   goal ms   median/goal   CPU ms median   CPU ms p95');
    for (const [what, xs, cpu] of [['cold (kernel counters read)', cold, coldCpu], ['warm (counters cached)', warm, warmCpu]] as const) {
      const med = pct(xs, 50);
      console.log(`${what.padEnd(29)}  ${med.toFixed(1).padStart(9)}  ${pct(xs, 95).toFixed(1).padStart(7)}   ${String(GOAL_MS).padStart(7)}   ${(med / GOAL_MS).toFixed(2).padStart(10)}×  ${pct(cpu, 50).toFixed(1).padStart(14)}  ${pct(cpu, 95).toFixed(1).padStart(11)}`);
    }
    console.log(`load average (1 min) ${loadavg()[0].toFixed(2)} on ${cpus().length} cores: wall times include waiting for a CPU; CPU ms is this process's own work`);
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
