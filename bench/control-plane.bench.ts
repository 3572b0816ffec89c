/**
 * The control plane alone, in one process: a Daemon (store on SQLite, allocator, orchestrator, scheduler,
 * dispatcher, the agent over gRPC on loopback) with the memory executor, whose tasks start at once — so every
 * millisecond measured is Shoal's own. For services of 1,000 and 5,000 replicas it times POST /services/create
 * until every task is ASSIGNED (scheduled onto the node) and until every task is RUNNING (through the agent
 * and back), then DELETE /services until the executor holds nothing.
 *
 * The anchor in the same run is the store's floor: the same N task objects written straight into a fresh
 * store on SQLite in three commits (created, assigned, running) — the least any control plane built on this
 * store must do. The ratio column is Shoal's time / that floor.
 *
 * Run: `npm run build && node dist/bench/control-plane.bench.js` (sizes: `--sizes 1000,5000`).
 * Profile: `node --cpu-prof --cpu-prof-dir /tmp/prof dist/bench/control-plane.bench.js --sizes 5000`, then
 * `node dist/bench/support/profile-top.js /tmp/prof/*.cpuprofile`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Daemon } from '../control/daemon';
import { MemoryExecutor } from '../control/agent/memory-executor';
import { createLogger, parseLogLevel } from '../control/base/log';
import { systemClock } from '../control/base/clock';
import { rank } from '../control/api/task-state';
import type { Task } from '../control/api/types';
import { MemoryStore } from '../control/store/memory-store';
import { SqlitePersistence } from '../control/store/sqlite-persistence';
import { edit } from '../control/store/store';
import { ApiClient } from './support/api-client';
import { perSec, printTable, ratio, secs } from './support/table';

const GOAL_ASSIGNED_PER_SEC = 2000;
const TIMEOUT_MS = 60_000;

interface Failure {
  replicas: number;
  error: string;
  /** Set when every task was assigned before the run failed. */
  assignedMs?: number;
}

class RunFailure extends Error {
  constructor(
    message: string,
    readonly assignedMs?: number,
  ) {
    super(message);
  }
}

interface Result {
  replicas: number;
  assignedMs: number;
  runningMs: number;
  removedMs: number;
  floorMs: number;
}

function parseSizes(argv: string[]): number[] {
  const i = argv.indexOf('--sizes');
  if (i < 0) return [1000, 5000];
  return argv[i + 1].split(',').map((s) => {
    const n = Number(s);
    if (!Number.isInteger(n) || n <= 0) throw new Error(`--sizes: not a positive integer: "${s}"`);
    return n;
  });
}

/** Resolves with the time (performance.now()) when pred first holds, checked after every store commit. */
function whenStore(daemon: Daemon, pred: () => boolean, what: string): Promise<number> {
  return new Promise((resolve, reject) => {
    if (pred()) return resolve(performance.now());
    const timer = setTimeout(() => {
      stop();
      reject(new Error(`timed out after ${TIMEOUT_MS / 1000} s waiting for ${what}`));
    }, TIMEOUT_MS);
    const stop = daemon.stateStore.watch(() => {
      if (!pred()) return;
      const t = performance.now();
      clearTimeout(timer);
      stop();
      resolve(t);
    });
  });
}

async function runShoal(replicas: number): Promise<{ result: Omit<Result, 'floorMs'>; tasks: Task[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'shoal-cp-bench-'));
  const socket = join(dir, 'swarmd.sock');
  const executor = new MemoryExecutor();
  // The daemon's warnings are kept, so a run that does not converge says why; SHOAL_BENCH_LOG=info|debug echoes
  // the daemon's log on stderr as well.
  const warnings: string[] = [];
  const echo = process.env.SHOAL_BENCH_LOG;
  const daemonLog = createLogger(echo ? parseLogLevel(echo) : 'warn', {}, (line) => {
    if (echo) process.stderr.write(line);
    if (/"level":"(warn|error)"/.test(line)) warnings.push(line.trim());
  });
  const daemon = new Daemon({
    host: `unix://${socket}`,
    dataDir: join(dir, 'data'),
    nodeId: `bench${replicas}node`,
    executor,
    listenAddr: '127.0.0.1:0',
    clock: systemClock,
    log: daemonLog,
  });
  const api = new ApiClient(socket);
  let started = false;
  try {
    await daemon.start();
    started = true;
    await api.post('/swarm/init', { AdvertiseAddr: '127.0.0.1' });

    // Counts kept from store events, so waiting costs O(changes), not a scan per commit.
    const assigned = new Set<string>();
    const running = new Set<string>();
    let serviceId = '';
    const stopCounting = daemon.stateStore.watch((events) => {
      for (const e of events) {
        if (e.kind !== 'task') continue;
        const t = e.object as Task;
        if (t.ServiceID !== serviceId) continue;
        if (e.action === 'delete') continue;
        if (t.NodeID && rank(t.Status.State) >= rank('assigned')) assigned.add(t.ID);
        if (t.Status.State === 'running') running.add(t.ID);
      }
    });
    // The watch above is registered first, so it has counted a commit before these predicates look.
    const t0 = performance.now();
    const created = api.post<{ ID: string }>('/services/create', {
      Name: 'bench',
      TaskTemplate: { ContainerSpec: { Image: 'shoal-busybox:1', Args: ['sleep', '3600'] } },
      Mode: { Replicated: { Replicas: replicas } },
    });
    serviceId = (await created).ID;
    const allAssigned = whenStore(daemon, () => assigned.size >= replicas, `${replicas} tasks ASSIGNED (have ${assigned.size})`);
    const allRunning = whenStore(daemon, () => running.size >= replicas, `${replicas} tasks RUNNING (have ${running.size})`);
    const why = () => (warnings.length ? `; ${warnings.length} daemon warnings, the last: ${warnings[warnings.length - 1].slice(0, 400)}` : '');
    const assignedAt = await allAssigned.catch((e) => Promise.reject(new Error(`${(e as Error).message}${why()}`)));
    const runningAt = await allRunning.catch((e) => Promise.reject(new RunFailure(`${(e as Error).message}${why()}`, assignedAt - t0)));
    stopCounting();
    if (executor.runningCount() !== replicas) throw new Error(`the executor runs ${executor.runningCount()} tasks, expected ${replicas}`);
    const tasks = daemon.stateStore.view((tx) => tx.tasksByService(serviceId));

    const r0 = performance.now();
    await api.delete(`/services/${serviceId}`);
    const deadline = r0 + TIMEOUT_MS;
    while (executor.heldCount() > 0 || daemon.stateStore.view((tx) => tx.tasksByService(serviceId).length) > 0) {
      if (performance.now() > deadline) throw new Error(`service rm: the executor still holds ${executor.heldCount()} tasks after ${TIMEOUT_MS / 1000} s`);
      await new Promise((r) => setTimeout(r, 5));
    }
    const removedMs = performance.now() - r0;
    return { result: { replicas, assignedMs: assignedAt - t0, runningMs: runningAt - t0, removedMs }, tasks };
  } finally {
    if (started) {
      await api.post('/swarm/leave?force=1').catch(() => undefined);
      await daemon.stop().catch(() => undefined);
    }
    await api.close().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The anchor: the same tasks written straight into a fresh store — created, assigned, running — in 3 commits. */
async function storeFloor(tasks: Task[]): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'shoal-cp-floor-'));
  const store = new MemoryStore(new SqlitePersistence(join(dir, 'state.db')), systemClock);
  try {
    const fresh = tasks.map((t) => {
      const c = edit(t);
      c.Version = { Index: 0 };
      c.Status = { ...c.Status, State: 'new' };
      delete (c as Partial<Task>).NodeID;
      return c;
    });
    const t0 = performance.now();
    const createdTasks = await store.update((tx) => fresh.map((t) => tx.create('task', t)));
    const assigned = await store.update((tx) =>
      createdTasks.map((t) => {
        const c = edit(t);
        c.NodeID = 'node';
        c.Status = { ...c.Status, State: 'assigned' };
        return tx.update('task', c);
      }),
    );
    await store.update((tx) => {
      for (const t of assigned) {
        const c = edit(t);
        c.Status = { ...c.Status, State: 'running' };
        tx.update('task', c);
      }
    });
    return performance.now() - t0;
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const sizes = parseSizes(process.argv.slice(2));
  const results: Result[] = [];
  const failures: Failure[] = [];
  for (const n of sizes) {
    try {
      const { result, tasks } = await runShoal(n);
      const floorMs = await storeFloor(tasks);
      results.push({ ...result, floorMs });
    } catch (e) {
      failures.push({ replicas: n, error: e instanceof Error ? e.message : String(e), assignedMs: e instanceof RunFailure ? e.assignedMs : undefined });
    }
  }
  process.stdout.write(`control plane, memory executor, 1 node, Node ${process.version}\n\n`);
  printTable(
    ['replicas', 'to ASSIGNED s', 'assigned/s', 'to RUNNING s', 'running/s', 'rm s', 'store floor s', 'RUNNING vs floor'],
    [
      ...results.map((r) => [
        r.replicas.toLocaleString('en-US'),
        secs(r.assignedMs),
        perSec(r.replicas, r.assignedMs),
        secs(r.runningMs),
        perSec(r.replicas, r.runningMs),
        secs(r.removedMs),
        secs(r.floorMs),
        ratio(r.runningMs / r.floorMs),
      ]),
      ...failures.map((f) => [
        f.replicas.toLocaleString('en-US'),
        f.assignedMs === undefined ? 'FAILED' : secs(f.assignedMs),
        f.assignedMs === undefined ? '-' : perSec(f.replicas, f.assignedMs),
        'FAILED',
        '-',
        '-',
        '-',
        '-',
      ]),
    ],
  );
  for (const f of failures) process.stdout.write(`\n${f.replicas.toLocaleString('en-US')} replicas FAILED: ${f.error}\n`);
  const assignedRates = [...results, ...failures].filter((r) => r.assignedMs !== undefined).map((r) => (r.replicas * 1000) / r.assignedMs!);
  const worst = Math.min(...assignedRates);
  const met = assignedRates.length === sizes.length && worst >= GOAL_ASSIGNED_PER_SEC;
  process.stdout.write(
    `\ngoal: >= ${GOAL_ASSIGNED_PER_SEC.toLocaleString('en-US')} tasks/s scheduled and assigned at every size — ` +
      `${met ? 'met' : 'NOT met'} (slowest: ${assignedRates.length ? Math.round(worst).toLocaleString('en-US') + '/s' : 'none measured'}` +
      `${failures.length ? `; ${failures.length} size(s) did not reach RUNNING` : ''})\n`,
  );
  if (failures.length) process.exitCode = 1;
}

main().catch((e) => {
  process.stderr.write(`control-plane bench: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
  process.exit(1);
});
