/**
 * Prometheus metrics from a real swarmd: /metrics in the text format with the control plane's gauges (desired
 * and running tasks per service, nodes by state) and the mesh's counters for a published port that took traffic;
 * /healthz says ok. Names follow Prometheus conventions.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SwarmdProcess } from '../lab/swarmd-process';
import { requireCommands } from '../lab/require';

let d: SwarmdProcess;
let metricsPort = 0;
let publishedPort = 0;
const www = mkdtempSync(join(tmpdir(), 'shoal-www-'));

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

async function get(url: string): Promise<{ status: number; text: string }> {
  const r = await fetch(url);
  return { status: r.status, text: await r.text() };
}

before(async () => {
  requireCommands(['ip', 'busybox']);
  metricsPort = await freePort();
  publishedPort = await freePort();
  writeFileSync(join(www, 'index.html'), 'hello\n');
  d = new SwarmdProcess(['--metrics-addr', `127.0.0.1:${metricsPort}`]);
  await d.start();
  d.ok('swarm', 'init', '--advertise-addr', '127.0.0.1');
  d.ok('service', 'create', '--name', 'web', '--replicas', '2', '-p', `${publishedPort}:80`, 'busybox', 'busybox', 'httpd', '-f', '-p', '80', '-h', www);
});
after(async () => {
  await d?.destroy();
  rmSync(www, { recursive: true, force: true });
});

test('the control plane and the mesh show in /metrics', async () => {
  for (let i = 0; i < 3; i++) assert.equal((await get(`http://127.0.0.1:${publishedPort}/`)).text, 'hello\n');
  const { status, text } = await get(`http://127.0.0.1:${metricsPort}/metrics`);
  assert.equal(status, 200);
  const value = (re: RegExp): number => Number(re.exec(text)?.[1] ?? NaN);
  assert.equal(value(/^shoal_service_tasks_desired\{service_name="web",service_id="[0-9a-z]{25}"\} (\d+)$/m), 2);
  assert.equal(value(/^shoal_service_tasks_running\{service_name="web",service_id="[0-9a-z]{25}"\} (\d+)$/m), 2);
  assert.equal(value(/^shoal_nodes\{state="ready",availability="active",role="manager"\} (\d+)$/m), 1);
  assert.equal(value(/^shoal_tasks\{state="running"\} (\d+)$/m), 2);
  assert.ok(value(new RegExp(`^shoal_mesh_connections_total\\{service_name="web",port="${publishedPort}",protocol="tcp"\\} (\\d+)$`, 'm')) >= 3);
  assert.ok(value(new RegExp(`^shoal_mesh_sent_bytes_total\\{service_name="web",port="${publishedPort}",protocol="tcp"\\} (\\d+)$`, 'm')) > 0);
});

test('metric names follow Prometheus conventions', async () => {
  const { text } = await get(`http://127.0.0.1:${metricsPort}/metrics`);
  const types = [...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => ({ name: m[1], type: m[2] }));
  assert.ok(types.length > 10);
  for (const { name, type } of types) {
    assert.match(name, /^shoal_[a-z0-9_]+$/, `${name} has the shoal_ prefix and a valid name`);
    if (type === 'counter') assert.match(name, /_total$/, `counter ${name} ends in _total`);
  }
  assert.doesNotMatch(text, /task_id=/, 'no per-task labels');
});

test('/healthz says ok while the node is ready', async () => {
  assert.deepEqual(await get(`http://127.0.0.1:${metricsPort}/healthz`), { status: 200, text: 'ok\n' });
});
