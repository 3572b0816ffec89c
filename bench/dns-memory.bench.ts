/**
 * Resolver memory and rebuild cost at size: 10,000 services × 10 tasks (one network, VIP mode, one named port
 * each, so every name form exists: svcN, tasks.svcN, 10 task names, NAME.NETWORK, SRV, PTR). Prints the heap and
 * off-heap (Buffer) bytes the record table and the answerer hold after GC, with every name answered once (so the
 * prebuilt answers and encoded addresses are in), and the time one table rebuild takes (every endpoint change
 * rebuilds the whole table). Goal: ≤ 100 MB. The endpoint table itself is the publisher's and is not counted.
 * Usage: node --expose-gc dist/bench/dns-memory.bench.js [--services 10000] [--tasks 10]
 */
import { performance } from 'node:perf_hooks';
import type { EndpointTable } from '../mesh/endpoint-table';
import { Answerer } from '../dns/answer';
import { Records } from '../dns/records';
import { query } from '../dns/test-kit';
import { printTable } from './support/table';

const arg = (name: string, def: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const SERVICES = arg('services', 10_000);
const TASKS = arg('tasks', 10);
const GOAL_MB = 100;

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) {
  console.error('run with node --expose-gc');
  process.exit(2);
}

/** Unique addresses in 10.0.0.0/8 for any size: task i is 10.1.0.0 + i, VIP of service s is 10.200.0.0 + s. */
function ip(base: number, i: number): string {
  const x = base + i;
  return `10.${(x >> 16) & 255}.${(x >> 8) & 255}.${x & 255}`;
}

function table(n: number, tasks: number): EndpointTable {
  const services = [];
  for (let s = 0; s < n; s++) {
    const backends = [];
    for (let t = 0; t < tasks; t++) {
      const id = `${s.toString(36)}x${t}abcdefghijklmnopqrstu`; // 25 chars, as a real task ID
      backends.push({ taskId: id, name: `svc${s}.${t + 1}.${id}`, nodeId: 'node1', addrs: { net: ip(0x010000, s * tasks + t) } });
    }
    services.push({
      serviceId: `s${s}`, serviceName: `svc${s}`, mode: 'vip' as const, vips: { net: ip(0xc80000, s) }, aliases: {},
      ports: [{ name: 'http', protocol: 'tcp' as const, targetPort: 80, publishedPort: 0, publishMode: 'ingress' as const }],
      backends,
    });
  }
  return { networks: { net: { name: 'net', subnet: '10.0.0.0/8' } }, services };
}

/** After full collections with turns of the event loop between them (V8 sweeps concurrently). */
async function usedBytes(): Promise<{ heap: number; external: number }> {
  for (let i = 0; i < 3; i++) {
    gc!();
    await new Promise((r) => setTimeout(r, 50));
  }
  const m = process.memoryUsage();
  return { heap: m.heapUsed, external: m.external + m.arrayBuffers };
}

async function main(): Promise<void> {
  const t = table(SERVICES, TASKS);
  const before = await usedBytes();
  const t0 = performance.now();
  const records = Records.build(t);
  const buildMs = performance.now() - t0;
  const answerer = new Answerer(records, { searchDomains: [] });
  const afterBuild = await usedBytes();
  let answered = 0;
  const t1 = performance.now();
  for (const s of t.services) {
    for (const name of [s.serviceName, `tasks.${s.serviceName}`, s.backends[0].name]) {
      if (answerer.fast(query(name, 'A'), '127.0.0.1', 512)) answered++;
    }
  }
  const answerMs = performance.now() - t1;
  const afterAnswers = await usedBytes();
  const mb = (b: number): string => (b / 1e6).toFixed(1);
  const total = afterAnswers.heap - before.heap + afterAnswers.external - before.external;
  console.log(`${SERVICES} services × ${TASKS} tasks (${SERVICES * TASKS} task names, ${SERVICES} SRV names); goal ≤ ${GOAL_MB} MB`);
  printTable(
    ['stage', 'heap MB', 'buffers MB', 'ms'],
    [
      ['record table built', mb(afterBuild.heap - before.heap), mb(afterBuild.external - before.external), buildMs.toFixed(0)],
      [`+ ${answered} names answered once`, mb(afterAnswers.heap - before.heap), mb(afterAnswers.external - before.external), answerMs.toFixed(0)],
    ],
  );
  console.log(`resolver memory: ${mb(total)} MB (${(total / (GOAL_MB * 1e6)).toFixed(2)}x the goal); one full rebuild ${buildMs.toFixed(0)} ms`);
  if (!answered) process.exitCode = 1;
  // Keep both alive until measured.
  void records.owns('svc0');
}

void main();
