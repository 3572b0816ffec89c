/**
 * Convergence: seconds from creating a service of 30 replicas (shoal-busybox:1 `sleep 3600`) until all 30 tasks
 * are RUNNING, for Shoal's docker executor (swarmd as a child process, pointed at the private dockerd), beside two
 * anchors on the same engine in the same run:
 *   - Docker's own swarm mode (`swarm init` on the private dockerd, the same service spec);
 *   - the engine's floor: 30 × `docker run -d --network none shoal-busybox:1 sleep 3600`, 8 at a time.
 * Both services are created with the same POST /services/create body (so neither pays a CLI start-up) and both
 * are polled the same way: GET /tasks every 50 ms. Then `service rm` is timed until the engine holds none of
 * the service's containers. Each round runs floor, Docker swarm, Shoal in that order; the table shows medians.
 *
 * Everything made is removed afterwards, also on failure or Ctrl-C: the floor's containers (by a label unique to
 * the run), the swarm service, the swarm itself and the docker_gwbridge network it leaves behind, swarmd's tasks
 * (its containers, by node label), swarmd and its temp dir. If the engine is already in a swarm (someone else's),
 * the Docker swarm anchor is skipped rather than touching it.
 *
 * Needs: `bash scripts/dockerd.sh start && bash scripts/busybox-image.sh`.
 * Run: `npm run build && node dist/bench/convergence.bench.js [--rounds 3]`.
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { ApiClient, filters, stateCounts, type TaskSummary } from './support/api-client';
import { DOCKER_HOST, DOCKER_SOCKET, docker, inParallel, removeContainersByLabel } from './support/docker-cli';
import { SwarmdChild } from './support/swarmd-child';
import { printTable, ratio, secs, sleep, until } from './support/table';
import { runBench } from './support/run-bench';

const REPLICAS = 30;
const IMAGE = 'shoal-busybox:1';
const FLOOR_PARALLEL = 8;
const TIMEOUT_MS = 120_000;
const RUN = randomBytes(4).toString('hex');
const FLOOR_LABEL = `shoal.bench.run=${RUN}`;
const SWARM_SERVICE = `bench-swarm-${RUN}`;
const SHOAL_SERVICE = `bench-shoal-${RUN}`;

interface Sample {
  upMs: number;
  rmMs?: number;
}

const engine = new ApiClient(DOCKER_SOCKET);
const cleanups: (() => Promise<void>)[] = [];

function spec(name: string): object {
  return {
    Name: name,
    TaskTemplate: { ContainerSpec: { Image: IMAGE, Args: ['sleep', '3600'] } },
    Mode: { Replicated: { Replicas: REPLICAS } },
  };
}

/** Polls GET /tasks on `api` until `REPLICAS` tasks of the service are RUNNING; fails fast on rejected tasks. */
async function untilRunning(api: ApiClient, service: string): Promise<number> {
  let last: TaskSummary[] = [];
  return until(
    `${REPLICAS} tasks of ${service} RUNNING`,
    async () => {
      last = await api.get<TaskSummary[]>(`/tasks?${filters({ service: [service] })}`);
      const running = last.filter((t) => t.Status.State === 'running' && t.DesiredState === 'running').length;
      const broken = last.find((t) => ['rejected', 'failed'].includes(t.Status.State));
      if (broken && running < REPLICAS && last.filter((t) => t.Status.State === 'rejected' || t.Status.State === 'failed').length >= REPLICAS) {
        throw new Error(`${service}: every task fails: ${broken.Status.State}: ${broken.Status.Err ?? ''}`);
      }
      return running >= REPLICAS ? performance.now() : undefined;
    },
    TIMEOUT_MS,
    () => `${stateCounts(last)}; first error: ${last.find((t) => t.Status.Err)?.Status.Err ?? 'none'}`,
  );
}

/** Polls the engine until no container carries the label. */
async function untilNoContainers(label: string): Promise<number> {
  let n = 0;
  return until(
    `no containers with ${label}`,
    async () => {
      const list = await engine.get<unknown[]>(`/containers/json?all=1&${filters({ label: [label] })}`);
      n = list.length;
      return n === 0 ? performance.now() : undefined;
    },
    TIMEOUT_MS,
    () => `${n} containers left`,
  );
}

async function floor(): Promise<Sample> {
  const t0 = performance.now();
  await inParallel(Array.from({ length: REPLICAS }, (_, i) => i), FLOOR_PARALLEL, async () => {
    await docker('run', '-d', '--network', 'none', '--label', FLOOR_LABEL, IMAGE, 'sleep', '3600');
  });
  const upMs = performance.now() - t0;
  const running = (await docker('ps', '-q', '--filter', `label=${FLOOR_LABEL}`, '--filter', 'status=running')).split('\n').filter(Boolean).length;
  if (running !== REPLICAS) throw new Error(`floor: ${running} of ${REPLICAS} containers running`);
  await removeContainersByLabel(FLOOR_LABEL);
  return { upMs };
}

async function swarmState(): Promise<string> {
  const info = await engine.get<{ Swarm: { LocalNodeState: string } }>('/info');
  return info.Swarm.LocalNodeState;
}

async function dockerSwarm(): Promise<Sample> {
  const hadGwBridge = (await docker('network', 'ls', '-q', '--filter', 'name=^docker_gwbridge$')).trim() !== '';
  const label = `com.docker.swarm.service.name=${SWARM_SERVICE}`;
  const cleanup = async () => {
    if ((await swarmState().catch(() => 'inactive')) !== 'inactive') {
      await docker('service', 'rm', SWARM_SERVICE).catch(() => undefined);
      await docker('swarm', 'leave', '--force');
    }
    await removeContainersByLabel(label);
    if (!hadGwBridge) await docker('network', 'rm', 'docker_gwbridge').catch(() => undefined);
  };
  cleanups.push(cleanup);
  try {
    await docker('swarm', 'init', '--advertise-addr', '127.0.0.1');
    const t0 = performance.now();
    await engine.post('/services/create', spec(SWARM_SERVICE));
    const upMs = (await untilRunning(engine, SWARM_SERVICE)) - t0;
    const r0 = performance.now();
    await engine.delete(`/services/${SWARM_SERVICE}`);
    const rmMs = (await untilNoContainers(label)) - r0;
    return { upMs, rmMs };
  } finally {
    cleanups.splice(cleanups.indexOf(cleanup), 1);
    await cleanup();
  }
}

async function shoal(): Promise<Sample> {
  const swarmd = new SwarmdChild({ executor: 'docker', dockerHost: DOCKER_HOST });
  let nodeId = '';
  const cleanup = async () => {
    await swarmd.destroy();
    if (nodeId) await removeContainersByLabel(`com.docker.swarm.node.id=${nodeId}`);
  };
  cleanups.push(cleanup);
  try {
    await swarmd.start();
    nodeId = await swarmd.init();
    const t0 = performance.now();
    await swarmd.api.post('/services/create', spec(SHOAL_SERVICE));
    const upMs = (await untilRunning(swarmd.api, SHOAL_SERVICE).catch((e) => Promise.reject(new Error(`${(e as Error).message}\nswarmd:\n${swarmd.logs(10)}`)))) - t0;
    const r0 = performance.now();
    await swarmd.api.delete(`/services/${SHOAL_SERVICE}`);
    const rmMs = (await untilNoContainers(`com.docker.swarm.service.name=${SHOAL_SERVICE}`)) - r0;
    return { upMs, rmMs };
  } finally {
    cleanups.splice(cleanups.indexOf(cleanup), 1);
    await cleanup();
  }
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function main(): Promise<void> {
  const i = process.argv.indexOf('--rounds');
  const rounds = i > 0 ? Number(process.argv[i + 1]) : 3;
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error('--rounds: a positive integer');
  if (!(await engine.ping())) throw new Error(`no Docker engine at ${DOCKER_HOST}: run scripts/dockerd.sh start`);
  await docker('image', 'inspect', IMAGE).catch(() => {
    throw new Error(`no image ${IMAGE}: run scripts/busybox-image.sh`);
  });
  const skipSwarm = (await swarmState()) !== 'inactive';
  if (skipSwarm) process.stdout.write(`the engine at ${DOCKER_HOST} is already in a swarm: skipping the Docker swarm anchor\n`);

  // Warm-up, not measured: the image's layers into the page cache, the client binary into memory.
  await docker('run', '--rm', '--network', 'none', IMAGE, 'true');

  const samples: Record<'floor' | 'swarm' | 'shoal', Sample[]> = { floor: [], swarm: [], shoal: [] };
  for (let r = 1; r <= rounds; r++) {
    samples.floor.push(await floor());
    if (!skipSwarm) samples.swarm.push(await dockerSwarm());
    samples.shoal.push(await shoal());
    const fmt = (s?: Sample) => (s ? secs(s.upMs) : '-');
    process.stdout.write(`round ${r}/${rounds}: floor ${fmt(samples.floor.at(-1))} s, Docker swarm ${fmt(samples.swarm.at(-1))} s, Shoal ${fmt(samples.shoal.at(-1))} s\n`);
    await sleep(500);
  }

  const up = (k: keyof typeof samples) => median(samples[k].map((s) => s.upMs));
  const rm = (k: keyof typeof samples) => (samples[k].length ? median(samples[k].map((s) => s.rmMs ?? NaN)) : NaN);
  const floorMs = up('floor');
  const swarmMs = samples.swarm.length ? up('swarm') : NaN;
  const shoalMs = up('shoal');
  process.stdout.write(`\n${REPLICAS} replicas of ${IMAGE} \`sleep 3600\`, median of ${rounds} round(s), engine ${DOCKER_HOST}\n\n`);
  const rmCell = (ms: number) => (Number.isFinite(ms) ? secs(ms) : '-');
  printTable(
    ['anchor', 'to 30 RUNNING s', 'vs floor', 'vs Docker swarm', 'service rm s'],
    [
      [`engine floor (docker run -d, ${FLOOR_PARALLEL} at a time)`, secs(floorMs), ratio(1), ratio(floorMs / swarmMs), '-'],
      ['Docker swarm (20.10)', Number.isFinite(swarmMs) ? secs(swarmMs) : 'skipped', ratio(swarmMs / floorMs), ratio(1), rmCell(rm('swarm'))],
      ['Shoal, docker executor', secs(shoalMs), ratio(shoalMs / floorMs), ratio(shoalMs / swarmMs), rmCell(rm('shoal'))],
    ],
  );
  const speedup = swarmMs / shoalMs;
  process.stdout.write(
    `\ngoals: Shoal within 1.2x of the floor — ${shoalMs / floorMs <= 1.2 ? 'met' : 'NOT met'} (${ratio(shoalMs / floorMs)}); ` +
      `at least 2x faster than Docker swarm — ${Number.isFinite(speedup) ? (speedup >= 2 ? 'met' : 'NOT met') + ` (${speedup.toFixed(2)}x faster)` : 'not measured'}\n`,
  );
}

runBench('convergence bench', main, cleanups, async () => {
  await removeContainersByLabel(FLOOR_LABEL).catch(() => undefined);
  await engine.close().catch(() => undefined);
});
