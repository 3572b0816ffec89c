/**
 * The node's process shim on the real kernel: what happens when the shim itself dies (the task lives on, loses no
 * output, and a new shim adopts it), that many tasks started at once share one shim and batched namespaces, and
 * that the shim leaves when no task is left. after() removes every task, namespace and shim the tests made, even
 * when a test fails.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { commandExists, exec } from '../../control/base/exec';
import { silentLogger } from '../../control/base/log';
import type { Task } from '../../control/api/types';
import type { Controller, LogLine } from '../../control/agent/executor';
import { ProcessExecutor } from '../../control/agent/process-executor';
import { isAlive } from '../../control/agent/process-task-files';
import { BridgePlumber } from '../../overlay/bridge-plumber';
import { fakeAssignedTask } from '../fakes/objects';
import { taskRef } from '../../control/agent/executor';

const RUN = Math.random().toString(36).slice(2, 8).padEnd(6, '0');
let dataDir = '';
let scratch = '';
let executor: ProcessExecutor;
const plumber = new BridgePlumber({ log: silentLogger });
const taskIds: string[] = [];
let seq = 0;
let problems: string[] = [];

function makeTask(cmd: string[]): Task {
  const id = `s${RUN}${String(++seq).padStart(3, '0')}yyyyyyyyyyyyyyyy`;
  taskIds.push(id);
  return fakeAssignedTask(id, { Image: 'busybox:latest', Command: cmd });
}

const stub = taskRef;

function state(id: string): { pid: number; startTime: string; supervisorPid: number; supervisorStartTime: string } {
  return JSON.parse(readFileSync(join(dataDir, 'tasks', id, 'state.json'), 'utf8'));
}

function shimPid(): { pid: number; startTime: string } | undefined {
  try {
    return JSON.parse(readFileSync(join(dataDir, 'shim.pid'), 'utf8'));
  } catch {
    return undefined;
  }
}

async function eventually(what: string, fn: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function untilLine(c: Controller, want: string): Promise<LogLine[]> {
  const ac = new AbortController();
  const seen: LogLine[] = [];
  for await (const l of c.logs({ follow: true, signal: ac.signal })) {
    seen.push(l);
    if (l.line === want) {
      ac.abort();
      return seen;
    }
  }
  return assert.fail(`the task never printed "${want}"`);
}

before(async () => {
  if (process.getuid?.() !== 0) problems.push('run as root (network namespaces need CAP_NET_ADMIN)');
  for (const tool of ['ip', 'unshare', 'hostname', 'mkfifo', 'sh']) if (!(await commandExists(tool))) problems.push(`"${tool}" is missing`);
  dataDir = mkdtempSync(join(tmpdir(), 'shoal-shim-'));
  scratch = mkdtempSync(join(tmpdir(), 'shoal-shim-scratch-'));
  executor = new ProcessExecutor({ dataDir, plumber, log: silentLogger });
});

after(async () => {
  const ex = new ProcessExecutor({ dataDir, plumber, log: silentLogger });
  for (const id of taskIds) {
    const s = existsSync(join(dataDir, 'tasks', id, 'state.json')) ? state(id) : undefined;
    if (s && isAlive(s.pid, s.startTime)) process.kill(-s.pid, 'SIGKILL');
    await ex.controller(stub(id)).remove().catch(() => undefined);
    await exec(['ip', 'netns', 'del', `shoal-${id}`]).catch(() => undefined);
  }
  await ex.close();
  await executor.close();
  const shim = shimPid();
  if (shim && isAlive(shim.pid, shim.startTime)) process.kill(shim.pid, 'SIGKILL');
  rmSync(dataDir, { recursive: true, force: true });
  rmSync(scratch, { recursive: true, force: true });
});

test('when the shim dies the task lives on, blocks rather than dies of SIGPIPE, and a new shim adopts it without losing output', { timeout: 60_000 }, async () => {
  assert.deepEqual(problems, []);
  const go = join(scratch, 'go');
  // 20,000 lines (~200 KB) are more than a pipe holds (64 KiB): with no shim reading, the task must block on write.
  const task = makeTask(['sh', '-c', `echo ready; while [ ! -e ${go} ]; do sleep 0.05; done; i=0; while [ $i -lt 20000 ]; do i=$((i+1)); echo "line $i"; done; echo finished; sleep 300`]);
  const c = executor.controller(task);
  await c.prepare();
  await c.start();
  await untilLine(c, 'ready');
  const before = state(task.ID);
  const shim = shimPid();
  assert.ok(shim && shim.pid === before.supervisorPid, 'state.json names the shim as the supervisor');

  process.kill(shim.pid, 'SIGKILL');
  await eventually('the shim to die', () => !isAlive(shim.pid, shim.startTime));
  writeFileSync(go, '');
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(isAlive(before.pid, before.startTime), true, 'the task survives its shim (no SIGPIPE)');
  assert.equal(existsSync(join(dataDir, 'tasks', task.ID, 'exit.json')), false);

  // A restarted swarmd: waiting on the task brings up a new shim, which adopts the task and drains its pipes.
  const restarted = new ProcessExecutor({ dataDir, plumber, log: silentLogger });
  const c2 = restarted.controller(stub(task.ID));
  assert.equal(await c2.isRunning(), true);
  const waited = c2.wait();
  await eventually('a new shim to adopt the task', () => {
    const s = state(task.ID);
    return s.supervisorPid !== shim.pid && isAlive(s.supervisorPid, s.supervisorStartTime);
  });
  const lines = (await untilLine(c2, 'finished')).filter((l) => l.line.startsWith('line ')).map((l) => l.line);
  assert.equal(lines.length, 20000, 'every line the task wrote while no shim ran is in output.log');
  assert.equal(lines[19999], 'line 20000');
  assert.ok(lines.every((l, i) => l === `line ${i + 1}`), 'in order');

  // The documented trade-off: a task adopted by a new shim is not its child, so its exit code is unknown.
  process.kill(before.pid, 'SIGTERM');
  assert.deepEqual(await waited, { exitCode: 255, message: 'task process ended while its supervisor was gone: exit status unknown' });
  await c2.remove();
  assert.equal(existsSync(`/run/netns/shoal-${task.ID}`), false);
  await restarted.close();
});

test('twenty tasks started at once share one shim and batched namespaces; the shim leaves after the last one', { timeout: 60_000 }, async () => {
  assert.deepEqual(problems, []);
  const tasks = Array.from({ length: 20 }, (_, i) => makeTask(['sh', '-c', `echo "hello ${i}"; exec sleep 300`]));
  const controllers = tasks.map((t) => executor.controller(t));
  await Promise.all(controllers.map(async (c) => (await c.prepare(), await c.start())));
  const states = tasks.map((t) => state(t.ID));
  assert.equal(new Set(states.map((s) => s.supervisorPid)).size, 1, 'one shim for all');
  assert.equal(new Set(states.map((s) => s.pid)).size, 20);
  for (const [i, t] of tasks.entries()) {
    const { stdout } = await exec(['ip', 'netns', 'identify', String(states[i].pid)]);
    assert.equal(stdout.trim(), `shoal-${t.ID}`);
    await untilLine(controllers[i], `hello ${i}`);
  }
  const shim = shimPid()!;
  // Exact exit codes from the shim's own children: SIGTERM → 143.
  const waits = controllers.map((c) => c.wait());
  await Promise.all(controllers.map((c) => c.shutdown(5000)));
  for (const w of await Promise.all(waits)) assert.deepEqual(w, { exitCode: 143, message: 'task: killed by SIGTERM' });
  await Promise.all(controllers.map((c) => c.remove()));
  for (const t of tasks) assert.equal(existsSync(`/run/netns/shoal-${t.ID}`), false);
  assert.deepEqual(await executor.listTaskIds(), []);
  await eventually('the idle shim to leave', () => !isAlive(shim.pid, shim.startTime));
  assert.equal(existsSync(join(dataDir, 'shim.sock')), false);
});
