/**
 * The userspace mesh with its TCP listeners in worker processes (tcpWorkers > 1): real worker processes on
 * loopback addresses, no root needed. Connections must be spread over the workers (by the kernel, and with Node's
 * handles a burst by the workers' accept balance), a backend change must reach every worker before apply() resolves, counters must add up over the workers, a worker that
 * dies is replaced, and nothing is left running after stop().
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { fetchName, freePort } from '../fakes/loopback';
import { createLogger } from '../../control/base/log';
import { UserspaceMesh } from '../../mesh/userspace/userspace-mesh';
import type { EndpointTable } from '../../mesh/endpoint-table';

async function backend(host: string, port: number, name: string): Promise<net.Server> {
  const s = net.createServer((c) => c.end(name));
  await new Promise<void>((r) => s.listen(port, host, () => r()));
  return s;
}

const table = (published: number, target: number, ips: string[]): EndpointTable => ({
  ingressNetworkId: 'ing',
  networks: { ing: { name: 'ingress', subnet: '127.0.0.0/8' } },
  services: [{
    serviceId: 's1', serviceName: 'web', mode: 'vip', vips: {}, aliases: {},
    ports: [{ protocol: 'tcp', targetPort: target, publishedPort: published, publishMode: 'ingress' }],
    backends: ips.map((ip, i) => ({ taskId: `t${i}`, name: `web.${i + 1}`, nodeId: 'n1', addrs: { ing: ip } })),
  }],
});

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; !cond(); i++) {
    if (i > 2000) throw new Error(`never happened: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/**
 * Connects in batches of 16 until every worker has accepted at least one more connection than in `before`
 * (pid → count); returns every answer. The kernel decides which worker accepts, so this loops rather than
 * counting on an even split; 4,000 connections without a second worker means the socket is not shared.
 */
async function untilEveryWorkerServed(mesh: UserspaceMesh, port: number, before: Map<number, number>): Promise<string[]> {
  const answers: string[] = [];
  const served = () => mesh.workers().every((w) => w.connectionsTotal > (before.get(w.pid) ?? 0));
  while (!served()) {
    if (answers.length >= 4000) throw new Error(`after ${answers.length} connections, workers served ${JSON.stringify(mesh.workers())}`);
    answers.push(...(await Promise.all(Array.from({ length: 16 }, () => fetchName(port)))));
    await mesh.settled(); // no-op for traffic; the counters arrive with the workers' reports
    await new Promise((r) => setTimeout(r, 20));
  }
  return answers;
}

const snapshot = (mesh: UserspaceMesh) => new Map(mesh.workers().map((w) => [w.pid, w.connectionsTotal]));

for (const tcpRelay of ['native', 'handles'] as const) test(`with 2 workers, connections are served by both, a backend change reaches both, and stop leaves no process [${tcpRelay}]`, async () => {
  const target = await freePort();
  const published = await freePort();
  const a = await backend('127.0.0.2', target, 'a');
  const b = await backend('127.0.0.3', target, 'b');
  const mesh = new UserspaceMesh(createLogger('warn'), { tcpWorkers: 2, tcpRelay });
  let pids: number[] = [];
  try {
    await mesh.apply(table(published, target, ['127.0.0.2']));
    pids = mesh.workers().map((w) => w.pid);
    assert.equal(pids.length, 2);
    assert.ok(!pids.includes(process.pid));

    const first = await untilEveryWorkerServed(mesh, published, new Map());
    assert.deepEqual(new Set(first), new Set(['a']));
    const counters = () => mesh.counters().get(`web/tcp/${published}`)!.counters;
    await until(() => counters().connectionsTotal === first.length && counters().connectionsActive === 0, 'counters summed over the workers');
    assert.equal(counters().bytesOut, first.length); // one byte per answer, summed over both workers

    // Once apply() resolves, every worker sends new connections to b only.
    await mesh.apply(table(published, target, ['127.0.0.3']));
    const second = await untilEveryWorkerServed(mesh, published, snapshot(mesh));
    assert.deepEqual(new Set(second), new Set(['b']));
  } finally {
    await mesh.stop();
    a.close();
    b.close();
  }
  assert.deepEqual(pids.filter(alive), [], 'worker processes left after stop()');
});

for (const tcpRelay of ['native', 'handles'] as const) test(`32 connections opened at once end up spread over 2 workers [${tcpRelay}]`, async () => {
  // Handles: the workers share one socket, and the kernel gives a burst to whichever worker wakes first (32/0 and
  // 31/1 seen) unless the accept balance hands the surplus on through swarmd. Native: each worker has a socket of
  // its own in a SO_REUSEPORT group, which hands connections out in turn (by the address hash alone: 22/10 seen).
  const target = await freePort();
  const published = await freePort();
  const held: net.Socket[] = [];
  const holder = net.createServer((c) => {
    held.push(c);
    c.write('x'); // says the relay reached it; the connection then stays open
  });
  await new Promise<void>((r) => holder.listen(target, '127.0.0.2', () => r()));
  const mesh = new UserspaceMesh(createLogger('warn'), { tcpWorkers: 2, tcpRelay });
  const clients: net.Socket[] = [];
  try {
    await mesh.apply(table(published, target, ['127.0.0.2']));
    assert.equal(mesh.workers().length, 2); // apply() resolved: both listen
    const reached = Array.from({ length: 32 }, () => {
      const c = net.connect(published, '127.0.0.1');
      clients.push(c);
      return new Promise<void>((resolve, reject) => {
        c.once('data', () => resolve());
        c.once('error', reject);
      });
    });
    await Promise.all(reached);
    await until(() => mesh.workers().reduce((n, w) => n + w.connectionsActive, 0) === 32, 'all 32 reported open');
    const open = mesh.workers().map((w) => w.connectionsActive);
    const handedOn = mesh.workers().map((w) => w.handedOn);
    assert.ok(Math.min(...open) >= (tcpRelay === 'native' ? 15 : 12), `open connections per worker: ${open.join('/')}, handed on: ${handedOn.join('/')}`);
    if (tcpRelay === 'native') assert.deepEqual(handedOn, [0, 0], 'native workers hand nothing on');
  } finally {
    for (const c of clients) c.destroy();
    for (const c of held) c.destroy();
    await mesh.stop();
    holder.close();
  }
});

test('a worker that dies is logged and replaced, keeps its counts, and the new one serves the same listeners', async () => {
  const target = await freePort();
  const published = await freePort();
  const a = await backend('127.0.0.2', target, 'a');
  const lines: string[] = [];
  const mesh = new UserspaceMesh(createLogger('info', {}, (l) => void lines.push(l)), { tcpWorkers: 2 });
  const pids = new Set<number>();
  try {
    await mesh.apply(table(published, target, ['127.0.0.2']));
    const before = await untilEveryWorkerServed(mesh, published, new Map());
    const counters = () => mesh.counters().get(`web/tcp/${published}`)!.counters;
    await until(() => counters().connectionsTotal === before.length, 'counters reported');
    const [victim, survivor] = mesh.workers().map((w) => w.pid);
    pids.add(victim).add(survivor);
    process.kill(victim, 'SIGKILL');
    await until(() => mesh.workers().length === 2 && !mesh.workers().some((w) => w.pid === victim), 'a replacement worker');
    for (const w of mesh.workers()) pids.add(w.pid);
    assert.ok(lines.some((l) => l.includes('mesh worker exited, restarting it') && l.includes(String(victim))), lines.join(''));
    assert.ok(counters().connectionsTotal >= before.length, 'the dead worker\'s connections are still counted');

    // The replacement was sent the listener and its backends: it serves too.
    const after = await untilEveryWorkerServed(mesh, published, snapshot(mesh));
    assert.deepEqual(new Set(after), new Set(['a']));
    await until(() => counters().connectionsTotal === before.length + after.length, 'old and new counts summed');
  } finally {
    await mesh.stop();
    a.close();
  }
  assert.deepEqual([...pids].filter(alive), [], 'worker processes left after stop()');
});

test('a port held by another program fails cleanly with workers and is served once it is free', async () => {
  const target = await freePort();
  const published = await freePort();
  const a = await backend('127.0.0.2', target, 'a');
  const squatter = net.createServer((c) => c.end('squatter'));
  await new Promise<void>((r) => squatter.listen(published, '0.0.0.0', () => r()));
  const mesh = new UserspaceMesh(createLogger('error', {}, () => {}), { tcpWorkers: 2, bindRetryMs: 50 });
  try {
    await mesh.apply(table(published, target, ['127.0.0.2']));
    assert.equal(mesh.state().get(`tcp/0.0.0.0/${published}`)?.open, false);
    await new Promise((r) => squatter.close(r));
    await until(() => mesh.state().get(`tcp/0.0.0.0/${published}`)?.open === true, 'listener open after retry');
    await mesh.settled();
    const answers = await untilEveryWorkerServed(mesh, published, new Map());
    assert.deepEqual(new Set(answers), new Set(['a']));
  } finally {
    await mesh.stop();
    a.close();
    squatter.close();
  }
});

test('the workers end when their primary is killed outright (no orphans)', async () => {
  const target = await freePort();
  const published = await freePort();
  // A primary of its own, so it can be SIGKILLed: no stop(), no exit handler runs in it.
  const script = `
    const { UserspaceMesh } = require(${JSON.stringify(require.resolve('../../mesh/userspace/userspace-mesh'))});
    const { silentLogger } = require(${JSON.stringify(require.resolve('../../control/base/log'))});
    const mesh = new UserspaceMesh(silentLogger, { tcpWorkers: 2 });
    mesh.apply(${JSON.stringify(table(published, target, ['127.0.0.2']))}).then(() => {
      process.stdout.write(JSON.stringify(mesh.workers().map((w) => w.pid)) + '\\n');
    });`;
  const { spawn } = await import('node:child_process');
  const primary = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  let pids: number[] = [];
  try {
    pids = await new Promise<number[]>((resolve, reject) => {
      let out = '';
      primary.stdout!.on('data', (d) => {
        out += d;
        if (out.includes('\n')) resolve(JSON.parse(out));
      });
      primary.once('exit', (code) => reject(new Error(`primary exited (${code}) before reporting its workers`)));
    });
    assert.equal(pids.length, 2);
    assert.deepEqual(pids.filter(alive), pids);
    primary.kill('SIGKILL');
    await until(() => pids.filter(alive).length === 0, `workers ${pids} gone after their primary was killed`);
  } finally {
    primary.kill('SIGKILL');
    for (const pid of pids.filter(alive)) process.kill(pid, 'SIGKILL');
  }
});
