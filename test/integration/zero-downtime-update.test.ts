/**
 * Rolling updates through the routing mesh with zero failed requests: a client loops on the published port (a
 * fresh connection per request) while a start-first, health-gated update and then a rollback replace every task.
 * It holds because a new task is RUNNING only once its health check passes and the mesh has it (the data-plane
 * gate), and an old one leaves the mesh before it is stopped. Run for both mesh backends; the client asks a
 * non-loopback node address (the iptables DNAT path, or the userspace proxy).
 */
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SwarmdProcess } from '../lab/swarmd-process';
import { requireCommands } from '../lab/require';
import { LOOP_SCRIPT, nodeAddress, type LoopTally } from '../lab/http-client';


for (const mode of ['iptables', 'userspace'] as const) {
  describe(`zero-downtime update, --mesh ${mode}`, () => {
    const port = mode === 'iptables' ? 18101 : 18102;
    const dir = mkdtempSync(join(tmpdir(), 'shoal-zdu-'));
    const d = new SwarmdProcess(['--mesh', mode, '--dns-addr', '']);

    after(async () => {
      await d.destroy();
      rmSync(dir, { recursive: true, force: true });
    });

    /** Runs fn while the client loops; returns the loop's tally. */
    async function underLoad(fn: () => Promise<void> | void): Promise<LoopTally> {
      const stop = join(dir, `stop-${Date.now()}`);
      const loop = spawn(process.execPath, ['-e', LOOP_SCRIPT, `http://${nodeAddress()}:${port}/`, stop], { stdio: ['ignore', 'pipe', 'inherit'] });
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
      requireCommands(['ip', 'busybox', 'iptables']);
      await d.start();
      d.ok('swarm', 'init', '--advertise-addr', '127.0.0.1');
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
