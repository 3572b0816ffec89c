/**
 * The process executor at scale: a service of 1,000 replicas (`sleep 3600`) on one swarmd (child process,
 * --executor process). Times POST /services/create until all 1,000 tasks are RUNNING, then DELETE /services
 * until every task's processes (the task and its supervisor, by pid and start time) and network namespaces
 * are gone. While it runs it also records CPU seconds — swarmd's own and the whole machine's — and the private
 * memory of a sample of task supervisors, to show where the time goes.
 *
 * The anchor in the same run is the kernel's floor for the same work: for each task `ip netns add` and
 * `ip netns exec NS sleep 3600` started detached, 8 at a time; removal kills them and runs `ip netns del`.
 * The ratio column is Shoal's time / that floor.
 *
 * Safety: it stops (and cleans up) if the machine's available memory falls under 2 GiB. Everything it made is
 * removed afterwards, also on failure or Ctrl-C. Needs root (network namespaces).
 * Run: `npm run build && node dist/bench/process-1000.bench.js [--replicas 1000]`.
 * Profile swarmd: `SHOAL_BENCH_CPU_PROF=/tmp/prof node dist/bench/process-1000.bench.js`, then
 * `node dist/bench/support/profile-top.js /tmp/prof/*.cpuprofile`.
 */
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { filters, stateCounts, type TaskSummary } from './support/api-client';
import { alive, machineCpuSeconds, memAvailableBytes, netnsWithPrefix, privateBytes, processCpuSeconds } from './support/procfs';
import { SwarmdChild } from './support/swarmd-child';
import { inParallel } from './support/docker-cli';
import { printTable, ratio, secs, until } from './support/table';
import { runBench } from './support/run-bench';

const GOAL_MS = 10_000;
const TIMEOUT_MS = 300_000;
const MIN_AVAILABLE = 2 * 1024 ** 3;
const FLOOR_PARALLEL = 8;
const RUN = randomBytes(3).toString('hex');
const FLOOR_PREFIX = `shoalbench-${RUN}-`;

interface Proc {
  pid: number;
  startTime: string;
}

interface Phase {
  upMs: number;
  rmMs: number;
}

const cleanups: (() => Promise<void>)[] = [];

function memoryGuard(): void {
  const avail = memAvailableBytes();
  if (avail < MIN_AVAILABLE) throw new Error(`stopping: only ${(avail / 1024 ** 3).toFixed(1)} GiB of memory available`);
}

function run(argv: string[]): Promise<void> {
  return new Promise((resolve, reject) =>
    execFile(argv[0], argv.slice(1), (err, _out, stderr) => (err ? reject(new Error(`${argv.join(' ')}: ${stderr.trim() || err.message}`)) : resolve())),
  );
}

function startTimeOf(pid: number): string {
  const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return s.slice(s.lastIndexOf(')') + 2).split(' ')[19];
}

// ---- the floor ---------------------------------------------------------------------------------------------

async function floor(replicas: number): Promise<Phase> {
  const procs: Proc[] = [];
  const names = Array.from({ length: replicas }, (_, i) => `${FLOOR_PREFIX}${i}`);
  const cleanup = async () => {
    for (const p of procs) if (alive(p.pid, p.startTime)) process.kill(p.pid, 'SIGKILL');
    await inParallel(netnsWithPrefix(FLOOR_PREFIX), FLOOR_PARALLEL, (ns) => run(['ip', 'netns', 'del', ns]).catch(() => undefined));
  };
  cleanups.push(cleanup);
  try {
    const t0 = performance.now();
    await inParallel(names, FLOOR_PARALLEL, async (ns) => {
      memoryGuard();
      await run(['ip', 'netns', 'add', ns]);
      const child = spawn('ip', ['netns', 'exec', ns, 'sleep', '3600'], { detached: true, stdio: 'ignore' });
      await new Promise<void>((resolve, reject) => child.once('spawn', resolve).once('error', reject));
      child.unref();
      procs.push({ pid: child.pid!, startTime: startTimeOf(child.pid!) });
    });
    const upMs = performance.now() - t0;
    const r0 = performance.now();
    for (const p of procs) process.kill(p.pid, 'SIGTERM');
    await inParallel(names, FLOOR_PARALLEL, (ns) => run(['ip', 'netns', 'del', ns]));
    await until('floor processes gone', async () => (procs.some((p) => alive(p.pid, p.startTime)) ? undefined : true), TIMEOUT_MS, () => 'some still alive', 10);
    return { upMs, rmMs: performance.now() - r0 };
  } finally {
    cleanups.splice(cleanups.indexOf(cleanup), 1);
    await cleanup();
  }
}

// ---- Shoal -------------------------------------------------------------------------------------------------

interface ShoalResult extends Phase {
  swarmdCpuS: number;
  machineCpuS: number;
  supervisorPrivateMiB: number;
  memUsedGiB: number;
}

function taskProcs(tasksDir: string): { ids: string[]; procs: Proc[] } {
  const ids = readdirSync(tasksDir);
  const procs: Proc[] = [];
  for (const id of ids) {
    try {
      const s = JSON.parse(readFileSync(join(tasksDir, id, 'state.json'), 'utf8')) as { pid: number; startTime: string; supervisorPid: number; supervisorStartTime: string };
      procs.push({ pid: s.pid, startTime: s.startTime }, { pid: s.supervisorPid, startTime: s.supervisorStartTime });
    } catch {
      /* not started */
    }
  }
  return { ids, procs };
}

let taskNote = '';

async function shoal(replicas: number): Promise<ShoalResult> {
  const swarmd = new SwarmdChild({ executor: 'process' });
  const tasksDir = join(swarmd.dir, 'data', 'process', 'tasks');
  let ids: string[] = [];
  let procs: Proc[] = [];
  const cleanup = async () => {
    // Learn every task this swarmd made before it forgets them: its task dirs and its own list (history included).
    const known = new Set(ids);
    try {
      const seen = taskProcs(tasksDir);
      seen.ids.forEach((id) => known.add(id));
      procs.push(...seen.procs);
    } catch {
      /* no task dir yet */
    }
    if (await swarmd.api.ping()) {
      for (const t of await swarmd.api.get<TaskSummary[]>('/tasks').catch(() => [] as TaskSummary[])) known.add(t.ID);
    }
    await swarmd.destroy();
    for (const p of procs) if (alive(p.pid, p.startTime)) process.kill(p.pid, 'SIGKILL');
    const left = new Set(netnsWithPrefix('shoal-'));
    const stale = [...known].filter((id) => left.has(`shoal-${id}`));
    if (stale.length) process.stderr.write(`cleanup: removing ${stale.length} namespaces swarmd left behind\n`);
    await inParallel(stale, FLOOR_PARALLEL, (id) => run(['ip', 'netns', 'del', `shoal-${id}`]).catch(() => undefined));
  };
  cleanups.push(cleanup);
  try {
    await swarmd.start();
    await swarmd.init();
    const pid = swarmd.pid!;
    const mem0 = memAvailableBytes();
    const cpu0 = { swarmd: processCpuSeconds(pid), machine: machineCpuSeconds() };
    const t0 = performance.now();
    const service = await swarmd.api.post<{ ID: string }>('/services/create', {
      Name: 'bench',
      TaskTemplate: { ContainerSpec: { Image: 'shoal-busybox:1', Args: ['sleep', '3600'] } },
      Mode: { Replicated: { Replicas: replicas } },
    });
    let last: TaskSummary[] = [];
    const upAt = await until(
      `${replicas} tasks RUNNING`,
      async () => {
        memoryGuard();
        last = await swarmd.api.get<TaskSummary[]>(`/tasks?${filters({ service: ['bench'] })}`);
        return last.filter((t) => t.Status.State === 'running').length >= replicas ? performance.now() : undefined;
      },
      TIMEOUT_MS,
      () => `${stateCounts(last)}; first error: ${last.find((t) => t.Status.Err)?.Status.Err ?? 'none'}\nswarmd:\n${swarmd.logs(10)}`,
      200,
    );
    const swarmdCpuS = processCpuSeconds(pid) - cpu0.swarmd;
    const history = await swarmd.api.get<TaskSummary[]>(`/tasks?${filters({ service: ['bench'] })}`);
    const errors = new Map<string, number>();
    for (const t of history) if (t.Status.Err) errors.set(t.Status.Err, (errors.get(t.Status.Err) ?? 0) + 1);
    taskNote = `${history.length} tasks made for ${replicas} replicas (${stateCounts(history)})` +
      [...errors].map(([e, n]) => `\n  ${n} × ${e}`).join('');
    const machineCpuS = machineCpuSeconds() - cpu0.machine;
    const memUsedGiB = (mem0 - memAvailableBytes()) / 1024 ** 3;
    ({ ids, procs } = taskProcs(tasksDir));
    const supervisors = procs.filter((_, i) => i % 2 === 1).slice(0, 20);
    const supervisorPrivateMiB = supervisors.reduce((a, p) => a + privateBytes(p.pid), 0) / Math.max(1, supervisors.length) / 1024 ** 2;

    const r0 = performance.now();
    await swarmd.api.delete(`/services/${service.ID}`);
    const namespaces = new Set(ids.map((id) => `shoal-${id}`));
    let aliveCount = 0;
    let nsCount = 0;
    const rmAt = await until(
      'every task process and namespace gone',
      async () => {
        aliveCount = procs.filter((p) => alive(p.pid, p.startTime)).length;
        nsCount = netnsWithPrefix('shoal-').filter((n) => namespaces.has(n)).length;
        return aliveCount === 0 && nsCount === 0 ? performance.now() : undefined;
      },
      TIMEOUT_MS,
      () => `${aliveCount} processes and ${nsCount} namespaces left\nswarmd:\n${swarmd.logs(10)}`,
      100,
    );
    return { upMs: upAt - t0, rmMs: rmAt - r0, swarmdCpuS, machineCpuS, supervisorPrivateMiB, memUsedGiB };
  } catch (e) {
    throw new Error(`${(e as Error).message}\n(connection resets retried: ${swarmd.api.resets}) swarmd's last lines:\n${swarmd.logs(15)}`);
  } finally {
    cleanups.splice(cleanups.indexOf(cleanup), 1);
    await cleanup();
  }
}

async function main(): Promise<void> {
  const i = process.argv.indexOf('--replicas');
  const replicas = i > 0 ? Number(process.argv[i + 1]) : 1000;
  if (!Number.isInteger(replicas) || replicas < 1) throw new Error('--replicas: a positive integer');
  if (process.getuid?.() !== 0) throw new Error('needs root (network namespaces)');

  const fl = await floor(replicas);
  const sh = await shoal(replicas);
  process.stdout.write(`\n${replicas.toLocaleString('en-US')} replicas of \`sleep 3600\`, process executor, one swarmd, ${require('node:os').cpus().length} cores\n\n`);
  printTable(
    ['anchor', 'create → all RUNNING s', 'vs floor', 'rm → all gone s', 'vs floor'],
    [
      [`kernel floor (ip netns add + exec, ${FLOOR_PARALLEL} at a time)`, secs(fl.upMs), ratio(1), secs(fl.rmMs), ratio(1)],
      ['Shoal, process executor', secs(sh.upMs), ratio(sh.upMs / fl.upMs), secs(sh.rmMs), ratio(sh.rmMs / fl.rmMs)],
    ],
  );
  process.stdout.write(
    `\nwhere the time went (create → all RUNNING): swarmd used ${sh.swarmdCpuS.toFixed(1)} CPU s, the whole machine ` +
      `${sh.machineCpuS.toFixed(1)} CPU s (so ${(sh.machineCpuS - sh.swarmdCpuS).toFixed(1)} s outside swarmd: supervisors, ip, ` +
      `unshare, sh, the kernel); ${(sh.machineCpuS / (sh.upMs / 1000)).toFixed(2)} cores busy on average\n` +
      `memory: ${sh.memUsedGiB.toFixed(2)} GiB more in use at RUNNING; one task supervisor holds ${sh.supervisorPrivateMiB.toFixed(1)} MiB private\n`,
  );
  process.stdout.write(`tasks: ${taskNote}\n`);
  process.stdout.write(`\ngoal: all ${replicas.toLocaleString('en-US')} RUNNING within ${GOAL_MS / 1000} s — ${sh.upMs <= GOAL_MS ? 'met' : 'NOT met'} (${secs(sh.upMs)} s)\n`);
}

runBench('process-1000 bench', main, cleanups);
