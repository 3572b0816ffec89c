/**
 * Resolver memory and rebuild cost at size: 10,000 services × 10 tasks (one network, VIP mode, one named port
 * each, so every name form exists: svcN, tasks.svcN, 10 task names, NAME.NETWORK, SRV, PTR). Prints the heap and
 * off-heap (Buffer) bytes the record table and the answerer hold after GC, with every name answered once (so the
 * prebuilt answers and encoded addresses are in), and the time one full build takes. Then the cost of one task
 * changing (one service's backend list: a task replaced by a new one), applied incrementally (answerer.update:
 * diff of every service, withdraw and add of the one that changed, prepared answers of its names dropped) beside
 * a full rebuild of the same table (Records.build + a new, empty Answerer) — the anchor, as every change cost
 * before — and the time to answer the names of WARM services again after each (a memo that survives answers
 * them from memory; an empty one prepares each again), plus memory after the changes (it must not grow).
 * Goal: ≤ 100 MB. The endpoint table itself is the publisher's and is not counted (one copy is alive at each
 * measurement; a change makes a new table that shares every unchanged service object with the last one, as the
 * publisher's table builder does).
 * Last, with --readers N (default 2; 0 skips it), the whole resolver with N extra UDP reader processes on
 * 127.0.0.1 (port 0): how long apply() of a one-task change takes until every reader answers from it — the delay
 * before a new task may be reported RUNNING.
 * Usage: node --expose-gc dist/bench/dns-memory.bench.js [--services 10000] [--tasks 10] [--changes 20] [--readers 2]
 */
import { performance } from 'node:perf_hooks';
import { systemClock } from '../control/base/clock';
import { silentLogger } from '../control/base/log';
import { DnsResolver } from '../dns/dns-resolver';
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
const CHANGES = arg('changes', 20);
const READERS = arg('readers', 2);
/** Services whose names are asked after each change: 3 names each, within the answerer's memo (20,000 entries). */
const WARM = Math.min(SERVICES, 6000);
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

/** The table after one task of service `s` was replaced by a new task `n` (new name, new address). */
function oneTaskChanged(t: EndpointTable, s: number, n: number): EndpointTable {
  // As the publisher gives it (control/endpoints/endpoint-table-builder.ts): a new table in which only the changed
  // service is a new object; every other service, and the changed one's other backends, are the previous objects.
  const id = `new${n}x${s}abcdefghijklmnopq`;
  const services = t.services.map((svc, i) =>
    i === s ? { ...svc, backends: [{ taskId: id, name: `${svc.serviceName}.1.${id}`, nodeId: 'node1', addrs: { net: ip(0x900000, n) } }, ...svc.backends.slice(1)] } : svc,
  );
  return { ...t, services };
}

/** Asks every question once; returns how many were answered and the ms. */
function answerAll(answerer: Answerer, questions: Buffer[]): { answered: number; ms: number } {
  let answered = 0;
  const t0 = performance.now();
  for (const q of questions) if (answerer.fast(q, '127.0.0.1', 512)) answered++;
  return { answered, ms: performance.now() - t0 };
}

/** The service, tasks. and first task name of the first WARM services, as queries. */
function warmQuestions(t: EndpointTable): Buffer[] {
  return t.services.slice(0, WARM).flatMap((x) => [x.serviceName, `tasks.${x.serviceName}`, x.backends[0].name].map((n) => query(n, 'A')));
}

/**
 * One task changes, CHANGES times (a different service each time): the incremental update of `answerer`, and a
 * full rebuild of the same table beside it; each followed by answering every name again.
 */
function changeTimings(answerer: Answerer, t: EndpointTable): { full: number[]; inc: number[]; fullAnswer: number[]; incAnswer: number[]; last: EndpointTable } {
  const inc: number[] = [];
  const full: number[] = [];
  const incAnswer: number[] = [];
  const fullAnswer: number[] = [];
  let kinds = '';
  const answered = answerAll(answerer, warmQuestions(t)).answered;
  for (let c = 0; c < CHANGES; c++) {
    const s = Math.floor(((c + 0.5) * t.services.length) / CHANGES);
    const next = oneTaskChanged(t, s, c);
    // The questions of the changed table, encoded outside the timings (a query's bytes are the client's work).
    const questions = warmQuestions(next);
    const f0 = performance.now();
    const rebuilt = new Answerer(Records.build(next), { searchDomains: [] });
    full.push(performance.now() - f0);
    fullAnswer.push(answerAll(rebuilt, questions).ms);
    const i0 = performance.now();
    kinds += answerer.update(next).kind[0];
    inc.push(performance.now() - i0);
    const again = answerAll(answerer, questions);
    incAnswer.push(again.ms);
    if (again.answered !== answered) throw new Error(`after change ${c}: ${again.answered} of ${answered} names answered`);
    t = next;
  }
  if (kinds !== 'd'.repeat(CHANGES)) throw new Error(`every one-task change should be a delta, got ${kinds}`);
  return { full, inc, fullAnswer, incAnswer, last: t };
}

/** apply() of one-task changes on a started resolver with READERS extra reader processes, until all answer. */
async function readerTimings(t: EndpointTable): Promise<{ first: number; changes: number[] }> {
  const dns = new DnsResolver({ address: '127.0.0.1', port: 0, clock: systemClock, logger: silentLogger, upstreams: [], searchDomains: [], udpReaders: READERS });
  await dns.start();
  try {
    let t0 = performance.now();
    await dns.apply(t);
    const first = performance.now() - t0;
    const changes: number[] = [];
    for (let c = 0; c < Math.min(CHANGES, 8); c++) {
      const next = oneTaskChanged(t, Math.floor(((c + 0.5) * t.services.length) / 8), 1000 + c);
      t0 = performance.now();
      await dns.apply(next);
      changes.push(performance.now() - t0);
      t = next;
    }
    return { first, changes };
  } finally {
    await dns.stop();
  }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  let t = table(SERVICES, TASKS);
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

  // In a function of its own: an async function's suspended frame would keep the loop's last values (a whole
  // rebuilt table) alive across the await below.
  const { full, inc, fullAnswer, incAnswer, last } = changeTimings(answerer, t);
  t = last;
  const afterChanges = await usedBytes();
  const totalAfter = afterChanges.heap - before.heap + afterChanges.external - before.external;
  console.log(`${SERVICES} services × ${TASKS} tasks (${SERVICES * TASKS} task names, ${SERVICES} SRV names); goal ≤ ${GOAL_MB} MB`);
  printTable(
    ['stage', 'heap MB', 'buffers MB', 'ms'],
    [
      ['record table built', mb(afterBuild.heap - before.heap), mb(afterBuild.external - before.external), buildMs.toFixed(0)],
      [`+ ${answered} names answered once`, mb(afterAnswers.heap - before.heap), mb(afterAnswers.external - before.external), answerMs.toFixed(0)],
    ],
  );
  console.log(`resolver memory: ${mb(total)} MB (${(total / (GOAL_MB * 1e6)).toFixed(2)}x the goal); one full build ${buildMs.toFixed(0)} ms`);
  console.log(`\none task changes (median of ${CHANGES}, a different service each time)`);
  printTable(
    ['', 'apply ms', `answer ${WARM * 3} names again, ms`, 'apply ratio'],
    [
      ['full rebuild (anchor)', median(full).toFixed(1), median(fullAnswer).toFixed(0), '1.00'],
      ['incremental update', median(inc).toFixed(2), median(incAnswer).toFixed(0), (median(inc) / median(full)).toFixed(4)],
    ],
  );
  console.log(`resolver memory after ${CHANGES} changes: ${mb(totalAfter)} MB (heap ${mb(afterChanges.heap - before.heap)}, buffers ${mb(afterChanges.external - before.external)}); before them ${mb(total)} MB`);
  if (READERS > 0) {
    const r = await readerTimings(t);
    console.log(
      `\nresolver with ${READERS} extra UDP readers: first table ${r.first.toFixed(0)} ms; one-task change until every reader answers: median ${median(r.changes).toFixed(0)} ms (${r.changes.map((x) => x.toFixed(0)).join(' ')})`,
    );
  }
  if (!answered) process.exitCode = 1;
  // Keep both alive until measured.
  void records.owns('svc0');
  void answerer.records.owns('svc0');
}

void main();
