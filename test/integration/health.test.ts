/**
 * Health checks on a real swarmd with the process executor: a task with a check stays STARTING until the check
 * first passes, then RUNNING; when the check keeps failing the task is stopped, ends FAILED with Docker's
 * "dockerexec: unhealthy container", and the orchestrator replaces it. The check runs inside the task (its
 * hostname, its environment), and its probes are kept in the task directory's health.json as `docker inspect`
 * shows State.Health. The ready file lives in a per-run directory, removed in after() even when a test fails.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SwarmdProcess } from '../lab/swarmd-process';
import { requireCommands } from '../lab/require';
import { execCapture } from '../../control/base/exec';

// No embedded DNS: these tasks need none, and its host-wide address may be taken by another run.
const d = new SwarmdProcess(['--dns-addr', '']);
const dir = mkdtempSync(join(tmpdir(), 'shoal-health-'));
const ready = join(dir, 'ready');

before(async () => {
  requireCommands(['ip', 'unshare', 'nsenter', 'sleep', 'hostname']);
  await d.start();
  d.ok('swarm', 'init', '--advertise-addr', '127.0.0.1');
});
after(async () => {
  try {
    await d.destroy();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

interface PsRow {
  id: string;
  state: string;
  desired: string;
  error: string;
}

/** The service's tasks, newest history last per slot, as `service ps` reports them. */
function ps(service: string): PsRow[] {
  const out = d.ok('service', 'ps', '--no-trunc', '--format', '{{.ID}}|{{.CurrentState}}|{{.DesiredState}}|{{.Error}}', service);
  return out
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [id, state, desired, error] = l.split('|');
      return { id, state, desired, error };
    });
}

const meantToRun = (service: string) => ps(service).filter((r) => r.desired === 'Running');

function healthOf(taskId: string): { Status: string; FailingStreak: number; Log: { ExitCode: number; Output: string }[] } | undefined {
  const p = join(d.dir, 'data', 'process', 'tasks', taskId, 'health.json');
  return existsSync(p) ? JSON.parse(readFileSync(p, 'utf8')) : undefined;
}

test('a task stays Starting until its check passes, then Running; unhealthy, it fails and is replaced', async () => {
  d.ok(
    'service', 'create', '-d', '--name', 'hc', '--hostname', 'hc-host', '--env', `READY=${ready}`,
    // The check reads the task's hostname and environment: it must run inside the task, not on the host.
    '--health-cmd', 'test "$(hostname)" = hc-host && test -f "$READY"',
    '--health-interval', '500ms', '--health-retries', '2', '--health-start-period', '1h',
    'busybox', 'sleep', '3600',
  );
  const first = (await d.until('one task starting', () => {
    const rows = meantToRun('hc');
    return rows.length === 1 && rows[0].state.startsWith('Starting') ? rows[0] : undefined;
  }))!;
  // Failing probes within the start period are recorded but do not count.
  const failing = (await d.until('two failed probes recorded', () => {
    const h = healthOf(first.id);
    return h && h.Log.length >= 2 ? h : undefined;
  }))!;
  assert.equal(failing.Status, 'starting');
  assert.equal(failing.FailingStreak, 0);
  assert.ok(failing.Log.every((e) => e.ExitCode === 1), JSON.stringify(failing.Log));
  assert.match(ps('hc')[0].state, /^Starting/, 'still Starting while the check fails');
  assert.match(d.ok('service', 'ls'), /hc\s+replicated\s+0\/1/);

  writeFileSync(ready, '');
  await d.until('the task running once healthy', () => /^Running/.test(meantToRun('hc')[0]?.state ?? ''));
  assert.equal(meantToRun('hc')[0].id, first.id, 'the same task, not a new one');
  assert.equal(healthOf(first.id)?.Status, 'healthy');
  assert.match(d.ok('service', 'ls'), /hc\s+replicated\s+1\/1/);

  rmSync(ready);
  const failed = (await d.until('the task failed as unhealthy', () => ps('hc').find((r) => r.id === first.id && /^Failed/.test(r.state))))!;
  assert.match(failed.error, /^"task: non-zero exit \(\d+\): dockerexec: unhealthy container"$/); // quoted, as Docker prints it
  const last = healthOf(first.id); // gone once the agent removed the failed task's directory
  if (last) assert.equal(last.Status, 'unhealthy');
  const replacement = (await d.until('a replacement starting', () => meantToRun('hc').find((r) => r.id !== first.id && /^Starting/.test(r.state))))!;
  writeFileSync(ready, '');
  await d.until('the replacement running', () => ps('hc').find((r) => r.id === replacement.id && /^Running/.test(r.state)));
  d.ok('service', 'rm', 'hc');
});

test('--no-healthcheck and a service without a check go straight to Running', async () => {
  d.ok('service', 'create', '-d', '--name', 'plain', '--no-healthcheck', 'busybox', 'sleep', '3600');
  await d.until('running', () => /^Running/.test(meantToRun('plain')[0]?.state ?? ''));
  d.ok('service', 'rm', 'plain');
});

test('a probe killed on timeout takes its whole process group with it; output is kept up to the cap', async () => {
  const abort = new AbortController();
  // A child holding the output pipe would keep a probe "running" after its shell was killed.
  const marker = join(dir, 'probe-started');
  const probe = execCapture(['/bin/sh', '-c', `echo started; sleep 300 & touch ${marker}; wait`], { signal: abort.signal, maxBytes: 4 });
  await d.until('the probe running', () => existsSync(marker));
  abort.abort();
  const r = await probe;
  assert.equal(r.exitCode, 128 + 9);
  assert.equal(r.output, 'star');
  const plain = await execCapture(['/bin/sh', '-c', 'echo out; echo err >&2; exit 3'], { maxBytes: 4096 });
  assert.equal(plain.exitCode, 3);
  assert.equal(plain.output.split('\n').sort().join(','), ',err,out');
});
