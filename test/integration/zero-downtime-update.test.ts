/**
 * Rolling updates through the routing mesh with zero failed requests: a client loops on the published port (a
 * fresh connection per request) while a start-first, health-gated update and then a rollback replace every task.
 * It holds because a new task is RUNNING only once its health check passes and the mesh has it (the data-plane
 * gate), and an old one leaves the mesh before it is stopped. Run for both mesh backends; the client asks a
 * non-loopback node address (the iptables DNAT path, or the userspace proxy).
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { SwarmdProcess } from '../lab/swarmd-process';
import { requireCommands } from '../lab/require';

/** Sequential GETs (fresh connection each) until the file STOP exists; prints {ok, failed, errors, seen}. */
const LOOP = `const http = require('http'), fs = require('fs'); const [url, stop] = process.argv.slice(1);
let ok = 0, failed = 0; const errors = [], seen = {};
const once = () => { if (fs.existsSync(stop)) return process.stdout.write(JSON.stringify({ ok, failed, errors: errors.slice(0, 5), seen }));
  http.get(url, { timeout: 3000, agent: false }, (r) => { let b = ''; r.on('data', (c) => (b += c)); r.on('end', () => { if (r.statusCode === 200) { ok++; seen[b.trim()] = (seen[b.trim()] || 0) + 1; } else { failed++; errors.push('HTTP ' + r.statusCode); } setTimeout(once, 5); }); })
    .on('error', (e) => { failed++; errors.push(e.message); setTimeout(once, 5); }).on('timeout', function () { this.destroy(new Error('timeout')); }); };
once();`;

function nodeAddress(): string {
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  throw new Error('this machine has no non-loopback IPv4 address to test the published port on');
}

for (const mode of ['iptables', 'userspace'] as const) {
  describe(`zero-downtime update, --mesh ${mode}`, () => {
    const port = mode === 'iptables' ? 18101 : 18102;
    const dir = mkdtempSync(join(tmpdir(), 'shoal-zdu-'));
    const d = new SwarmdProcess(['--mesh', mode, '--dns-addr', '']);

    before(async () => {
      requireCommands(['ip', 'busybox', 'iptables']);
      await d.start();
      d.ok('swarm', 'init', '--advertise-addr', '127.0.0.1');
    });
    after(async () => {
      await d.destroy();
      rmSync(dir, { recursive: true, force: true });
    });

    /** Runs fn while the client loops; returns the loop's tally. */
    async function underLoad(fn: () => Promise<void> | void): Promise<{ ok: number; failed: number; errors: string[]; seen: Record<string, number> }> {
      const stop = join(dir, `stop-${Date.now()}`);
      const loop = spawn(process.execPath, ['-e', LOOP, `http://${nodeAddress()}:${port}/`, stop], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      loop.stdout.on('data', (c) => (out += c));
      const done = new Promise<void>((r) => loop.once('exit', () => r()));
      try {
        await new Promise((r) => setTimeout(r, 500));
        await fn();
        await new Promise((r) => setTimeout(r, 1000));
      } finally {
        writeFileSync(stop, '');
        await done;
      }
      return JSON.parse(out);
    }

    test('start-first, health-gated: an update and a rollback fail no request', async () => {
      // Each task serves "v<VERSION> <hostname>"; its check passes once its own httpd answers.
      const serve = `mkdir -p ${dir}/$(hostname) && echo "v$VERSION $(hostname)" > ${dir}/$(hostname)/index.html && sleep 0.3 && exec busybox httpd -f -p 80 -h ${dir}/$(hostname)`;
      d.ok('service', 'create', '--name', 'web', '--replicas', '2', '--hostname', 'web-{{.Task.Slot}}-{{.Task.ID}}', '-p', `${port}:80`, '--env', 'VERSION=1',
        '--health-cmd', 'busybox wget -q -O /dev/null http://127.0.0.1:80/', '--health-interval', '300ms', '--health-retries', '3',
        '--update-order', 'start-first', '--update-parallelism', '1', '--update-delay', '1s', '--update-monitor', '1s',
        '--rollback-order', 'start-first', '--rollback-parallelism', '1', '--rollback-monitor', '1s',
        'web:1', 'sh', '-c', serve);
      const update = await underLoad(() => void d.ok('service', 'update', '--image', 'web:2', '--env-add', 'VERSION=2', 'web'));
      assert.equal(update.failed, 0, `failed requests during the update: ${JSON.stringify(update)}`);
      const versions = (r: typeof update) => new Set(Object.keys(r.seen).map((b) => b.split(' ')[0]));
      assert.deepEqual([...versions(update)].sort(), ['v1', 'v2'], 'the client saw both versions, so it ran across the update');
      const rollback = await underLoad(() => void d.ok('service', 'rollback', 'web'));
      assert.equal(rollback.failed, 0, `failed requests during the rollback: ${JSON.stringify(rollback)}`);
      assert.ok(versions(rollback).has('v1'), JSON.stringify(rollback));
      const after = await underLoad(() => undefined);
      assert.deepEqual([...versions(after)], ['v1'], 'after the rollback only v1 answers');
      d.ok('service', 'rm', 'web');
    });
  });
}
