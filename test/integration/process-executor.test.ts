/**
 * The process executor and the bridge plumber on the real kernel: namespaces, a bridge, veths and real processes.
 * Names carry a per-run suffix and subnets sit in 10.213.0.0/16, so nothing collides with a developer's own
 * networks; after() removes every namespace, veth, bridge, process and directory the tests made, even when a
 * test fails. A missing tool makes the tests fail with the package to install, never pass silently.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { commandExists, exec } from '../../control/base/exec';
import { silentLogger } from '../../control/base/log';
import type { Network, Task } from '../../control/api/types';
import type { Controller, LogLine } from '../../control/agent/executor';
import { ProcessExecutor } from '../../control/agent/process-executor';
import { BridgePlumber } from '../../overlay/bridge-plumber';
import { bridgeName, hostVethName } from '../../overlay/bridge-plan';
import { fakeAssignedTask } from '../fakes/objects';

const TOOLS: Record<string, string> = {
  ip: 'iproute2',
  unshare: 'util-linux',
  nsenter: 'util-linux',
  hostname: 'hostname',
  ping: 'iputils-ping',
  sleep: 'coreutils',
  sh: 'dash',
};

const RUN = Math.random().toString(36).slice(2, 8).padEnd(6, '0');
const OCTET = 100 + Math.floor(Math.random() * 150);
const SUBNET = `10.213.${OCTET}.0/24`;
const GATEWAY = `10.213.${OCTET}.1`;
const NET_ID = `n${RUN}xxxxxxxxxxxxxxxxxx`;
const network: Network = {
  ID: NET_ID,
  Name: `shoal-test-${RUN}`,
  Created: new Date().toISOString(),
  Scope: 'swarm',
  Driver: 'overlay',
  EnableIPv6: false,
  IPAM: { Driver: 'default', Options: null, Config: [{ Subnet: SUBNET, Gateway: GATEWAY }] },
  Internal: false,
  Attachable: false,
  Ingress: false,
  ConfigFrom: { Network: '' },
  ConfigOnly: false,
  Containers: null,
  Options: {},
  Labels: {},
};

let problems: string[] = [];
let dataDir = '';
let executor: ProcessExecutor;
const plumber = new BridgePlumber({ log: silentLogger });
const taskIds: string[] = [];
const cleanups: (() => Promise<unknown>)[] = [];
let taskSeq = 0;

function makeTask(cmd: string[] | undefined, opts: { address?: string; extra?: Partial<Task['Spec']['ContainerSpec']> } = {}): Task {
  const id = `t${RUN}${String(++taskSeq).padStart(2, '0')}zzzzzzzzzzzzzzzz`;
  taskIds.push(id);
  return fakeAssignedTask(
    id,
    { Image: 'busybox:latest', Command: cmd, ...opts.extra },
    opts.address ? [{ Network: network, Addresses: [opts.address] }] : [],
  );
}

async function run(task: Task, ex: ProcessExecutor = executor): Promise<Controller> {
  const c = ex.controller(task);
  await c.prepare();
  await c.start();
  return c;
}

function pidOf(taskId: string): number {
  return (JSON.parse(readFileSync(join(dataDir, 'tasks', taskId, 'state.json'), 'utf8')) as { pid: number }).pid;
}

async function collect(it: AsyncIterable<LogLine>): Promise<LogLine[]> {
  const out: LogLine[] = [];
  for await (const l of it) out.push(l);
  return out;
}

/** Follows the task's output until a line equals `want`. */
async function untilLine(c: Controller, want: string): Promise<void> {
  const ac = new AbortController();
  for await (const l of c.logs({ follow: true, signal: ac.signal })) {
    if (l.line === want) return ac.abort();
  }
  assert.fail(`the task never printed "${want}"`);
}

function requireTools(): void {
  assert.deepEqual(problems, [], `cannot run the process executor tests: ${problems.join('; ')}`);
}

before(async () => {
  if (process.getuid?.() !== 0) problems.push('run as root (network namespaces and veths need CAP_NET_ADMIN)');
  for (const [tool, pkg] of Object.entries(TOOLS)) {
    if (!(await commandExists(tool))) problems.push(`"${tool}" is missing: apt-get install ${pkg}`);
  }
  dataDir = mkdtempSync(join(tmpdir(), 'shoal-procexec-'));
  executor = new ProcessExecutor({ dataDir, plumber, log: silentLogger, hostname: 'node-under-test' });
});

after(async () => {
  for (const id of taskIds) {
    await executor
      .controller({ ...makeTaskStub(id) })
      .remove()
      .catch(() => undefined);
    await exec(['ip', 'netns', 'del', `shoal-${id}`]).catch(() => undefined);
  }
  for (const fn of cleanups.reverse()) await fn().catch(() => undefined);
  await plumber.removeNetwork(NET_ID).catch(() => undefined);
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

function makeTaskStub(id: string): Task {
  return { ID: id, Spec: { ContainerSpec: { Image: '' } } } as unknown as Task;
}

/**
 * A node where dockerd ran has br_netfilter on and FORWARD's policy at DROP, which drops traffic between two ports
 * of any bridge; this test network is then let through for the test's duration (the mesh owns this in swarmd).
 */
async function allowBridgeForwarding(): Promise<void> {
  if (!(await commandExists('iptables'))) return;
  const { stdout } = await exec(['iptables', '-S', 'FORWARD']);
  if (!/^-P FORWARD (DROP|REJECT)/m.test(stdout)) return;
  const rule = ['FORWARD', '-i', bridgeName(NET_ID), '-o', bridgeName(NET_ID), '-j', 'ACCEPT'];
  await exec(['iptables', '-I', ...rule]);
  cleanups.push(() => exec(['iptables', '-D', ...rule]));
}

test('a task runs inside its own namespace, with its address on eth0 and its own hostname', { timeout: 30_000 }, async () => {
  requireTools();
  const task = makeTask(['sleep', '300'], { address: `10.213.${OCTET}.5/24`, extra: { Hostname: 'web-1' } });
  const c = await run(task);
  assert.equal(await c.isRunning(), true);
  const pid = pidOf(task.ID);
  const { stdout: ns } = await exec(['ip', 'netns', 'identify', String(pid)]);
  assert.equal(ns.trim(), `shoal-${task.ID}`);
  const { stdout: addr } = await exec(['nsenter', `--net=/proc/${pid}/ns/net`, 'ip', '-o', '-4', 'addr', 'show', 'dev', 'eth0']);
  assert.match(addr, new RegExp(`inet 10\\.213\\.${OCTET}\\.5/24`));
  const { stdout: route } = await exec(['ip', '-n', `shoal-${task.ID}`, 'route', 'show', 'default']);
  assert.match(route, new RegExp(`default via ${GATEWAY.replace(/\./g, '\\.')} dev eth0`));
  // The launch shell sets the hostname just after the process starts: look until it has (or 5 s pass).
  let host = '';
  for (let i = 0; i < 50 && host !== 'web-1'; i++) {
    host = (await exec(['nsenter', '-t', String(pid), '-u', 'hostname'])).stdout.trim();
    if (host !== 'web-1') await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(host, 'web-1');
  assert.notEqual((await exec(['hostname'])).stdout.trim(), 'web-1');
  // prepare and start again are no-ops on a running task.
  await c.prepare();
  await c.start();
  assert.equal(pidOf(task.ID), pid);
});

test('two tasks on one network reach each other and the gateway', { timeout: 30_000 }, async () => {
  requireTools();
  await allowBridgeForwarding();
  const a = makeTask(['sleep', '300'], { address: `10.213.${OCTET}.11/24` });
  const b = makeTask(['sleep', '300'], { address: `10.213.${OCTET}.12/24` });
  await run(a);
  await run(b);
  const ping = (from: Task, to: string) => exec(['ip', 'netns', 'exec', `shoal-${from.ID}`, 'ping', '-c1', '-W2', to]);
  await ping(a, `10.213.${OCTET}.12`);
  await ping(b, `10.213.${OCTET}.11`);
  await ping(a, GATEWAY);
});

test('the exit code comes back from wait(), and logs() returns stdout and stderr with timestamps', { timeout: 30_000 }, async () => {
  requireTools();
  const task = makeTask(['sh', '-c', 'echo "out $GREETING"; echo err-line >&2; printf no-newline; exit 3'], {
    extra: { Env: ['GREETING=hello'] },
  });
  const c = await run(task);
  const exit = await c.wait();
  assert.equal(exit.exitCode, 3);
  assert.match(exit.message ?? '', /non-zero exit \(3\)/);
  const lines = await collect(c.logs({}));
  const byStream = (s: string) => lines.filter((l) => l.stream === s).map((l) => l.line);
  assert.deepEqual(byStream('stdout'), ['out hello', 'no-newline']);
  assert.deepEqual(byStream('stderr'), ['err-line']);
  for (const l of lines) assert.match(l.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
  assert.equal((await collect(c.logs({ tail: 1 }))).length, 1);
});

test('DNSConfig becomes the task\'s resolv.conf; Dir and Env are honoured', { timeout: 30_000 }, async () => {
  requireTools();
  const task = makeTask(['sh', '-c', 'cat /etc/resolv.conf; pwd; echo "path=$PATH home=$HOME host=$HOSTNAME"'], {
    extra: { DNSConfig: { Nameservers: ['10.213.0.53'], Search: ['svc.example'], Options: ['ndots:0'] }, Dir: '/tmp', Hostname: 'h1' },
  });
  const c = await run(task);
  assert.equal((await c.wait()).exitCode, 0);
  const lines = (await collect(c.logs({}))).map((l) => l.line);
  assert.deepEqual(lines, [
    'nameserver 10.213.0.53',
    'search svc.example',
    'options ndots:0',
    '/tmp',
    'path=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin home=/root host=h1',
  ]);
  await c.remove();
  await assert.rejects(exec(['ls', `/etc/netns/shoal-${task.ID}`]));
});

test('a task whose PATH lacks the helpers still starts (they are run by absolute path)', { timeout: 30_000 }, async () => {
  requireTools();
  const c = await run(makeTask(['/bin/sh', '-c', 'echo "$PATH"'], { extra: { Env: ['PATH=/nowhere'] } }));
  assert.equal((await c.wait()).exitCode, 0);
  assert.deepEqual((await collect(c.logs({}))).map((l) => l.line), ['/nowhere']);
});

test('logs() with follow yields lines as they are written until aborted', { timeout: 30_000 }, async () => {
  requireTools();
  const task = makeTask(['sh', '-c', 'echo one; sleep 0.5; echo two; sleep 300']);
  const c = await run(task);
  const ac = new AbortController();
  const seen: string[] = [];
  for await (const l of c.logs({ follow: true, signal: ac.signal })) {
    seen.push(l.line);
    if (seen.length === 2) ac.abort();
  }
  assert.deepEqual(seen, ['one', 'two']);
  await c.shutdown(1000);
});

test('shutdown kills a process that ignores SIGTERM once the grace period ends', { timeout: 30_000 }, async () => {
  requireTools();
  const task = makeTask(['sh', '-c', 'trap "" TERM; echo ready; while :; do sleep 0.1; done']);
  const c = await run(task);
  await untilLine(c, 'ready'); // the trap is set only once the shell has run that far
  const waited = c.wait();
  await c.shutdown(500);
  assert.equal(await c.isRunning(), false);
  // 137 = killed by SIGKILL: the TERM was ignored.
  assert.equal((await waited).exitCode, 137);
});

test('shutdown sends the stop signal first: a process that honours it exits by it', { timeout: 30_000 }, async () => {
  requireTools();
  const task = makeTask(['sleep', '300'], { extra: { StopSignal: 'SIGINT' } });
  const c = await run(task);
  await c.shutdown(10_000);
  assert.equal((await c.wait()).exitCode, 128 + 2);
});

test('a restarted swarmd (a new executor over the same dataDir) lists and adopts a running task', { timeout: 30_000 }, async () => {
  requireTools();
  const task = makeTask(['sleep', '300'], { address: `10.213.${OCTET}.21/24` });
  // Started by another Node process that then exits, as a swarmd that stops while its tasks run on.
  const script = `
    const { ProcessExecutor } = require(${JSON.stringify(join(__dirname, '../../control/agent/process-executor.js'))});
    const { BridgePlumber } = require(${JSON.stringify(join(__dirname, '../../overlay/bridge-plumber.js'))});
    const { silentLogger } = require(${JSON.stringify(join(__dirname, '../../control/base/log.js'))});
    const ex = new ProcessExecutor({ dataDir: ${JSON.stringify(dataDir)}, plumber: new BridgePlumber({ log: silentLogger }), log: silentLogger });
    const c = ex.controller(${JSON.stringify(task)});
    c.prepare().then(() => c.start()).then(() => process.exit(0), (e) => { console.error(e.message); process.exit(1); });`;
  await exec([process.execPath, '-e', script]);

  const restarted = new ProcessExecutor({ dataDir, plumber, log: silentLogger });
  assert.ok((await restarted.listTaskIds()).includes(task.ID));
  const c = restarted.controller(makeTaskStub(task.ID));
  assert.equal(await c.isRunning(), true);
  const pid = pidOf(task.ID);
  const waited = c.wait();
  process.kill(pid, 'SIGTERM');
  assert.deepEqual(await waited, { exitCode: 143, message: 'task: killed by SIGTERM' });
  assert.equal(await c.isRunning(), false);
  await c.remove();
  assert.ok(!(await restarted.listTaskIds()).includes(task.ID));
  assert.doesNotMatch((await exec(['ip', 'netns', 'list'])).stdout, new RegExp(`shoal-${task.ID}`));
  assert.doesNotMatch((await exec(['ip', '-o', 'link', 'show'])).stdout, new RegExp(hostVethName(task.ID, 0)));
});

test('a task with no command is refused with the reason and the fix', { timeout: 10_000 }, async () => {
  requireTools();
  const c = executor.controller(makeTask(undefined));
  await assert.rejects(c.prepare(), {
    message:
      "task has no command: the process executor runs the service's command from the host filesystem " +
      '(image busybox:latest is not unpacked); give one, e.g. swarmctl service create busybox:latest sleep 3600',
  });
});

test('a command missing from the node is refused by name', { timeout: 10_000 }, async () => {
  requireTools();
  const c = executor.controller(makeTask(['no-such-command-shoal', 'x']));
  await assert.rejects(c.prepare(), /command "no-such-command-shoal" not found in PATH/);
});

test('describe() reports the node as Docker would', async () => {
  const facts = await executor.describe();
  assert.equal(facts.hostname, 'node-under-test');
  assert.equal(facts.os, 'linux');
  assert.equal(facts.architecture, process.arch === 'x64' ? 'x86_64' : process.arch === 'arm64' ? 'aarch64' : process.arch);
  assert.ok(facts.nanoCPUs >= 1e9 && facts.nanoCPUs % 1e9 === 0);
  assert.ok(facts.memoryBytes > 0);
  assert.equal(facts.engineVersion, 'shoal-process');
});
