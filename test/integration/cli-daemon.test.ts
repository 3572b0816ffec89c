/**
 * swarmctl against a real daemon: an in-process Daemon (store on SQLite in a temp dir, allocator, orchestrator,
 * scheduler, dispatcher, the agent over gRPC on loopback) with the memory executor, whose tasks start at once
 * and run until shut down — so no root, kernel or engine is needed. Commands run in-process through run() and,
 * for exit statuses and the shipped entry point, as `node dist/control/cli/swarmctl.js -H unix://...`. Every
 * check is against real state: the store (read directly) and the executor, before and after. The daemon is
 * stopped and its directory removed in after(), even when a test fails.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../control/cli/swarmctl';
import { Daemon } from '../../control/daemon';
import { MemoryExecutor } from '../../control/agent/memory-executor';
import { createLogger } from '../../control/base/log';
import { systemClock } from '../../control/base/clock';
import { loadOrCreateNodeId } from '../../control/node-identity';
import type { Service, Task } from '../../control/api/types';

const SWARMCTL = join(__dirname, '..', '..', 'control', 'cli', 'swarmctl.js');
const HOSTNAME = 'vm';
const WAIT_MS = 30_000;
/** The CLI waits for convergence without a deadline, as docker does; a test that waits longer fails. */
const CONVERGE_MS = 60_000;

let dir: string;
let host: string;
let nodeId: string;
let daemon: Daemon | undefined;
let executor: MemoryExecutor;
const daemonLog: string[] = [];

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'shoal-cli-daemon-'));
  host = `unix://${join(dir, 'swarmd.sock')}`;
  const dataDir = join(dir, 'data');
  nodeId = loadOrCreateNodeId(dataDir);
  executor = new MemoryExecutor({ hostname: HOSTNAME });
  const d = new Daemon({
    host,
    dataDir,
    nodeId,
    executor,
    listenAddr: '127.0.0.1:0',
    clock: systemClock,
    log: createLogger('warn', {}, (line) => daemonLog.push(line.trim())),
  });
  await d.start();
  daemon = d;
});

after(async () => {
  try {
    if (daemon?.active()) await daemon.leave(true).catch(() => undefined);
    await daemon?.stop();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

interface CliResult {
  code: number;
  out: string;
  err: string;
}

/** The real swarmctl, in this process. */
async function cli(...argv: string[]): Promise<CliResult> {
  let out = '';
  let err = '';
  const code = await run(argv, { out: (s) => (out += s), err: (s) => (err += s), tty: false, env: (n) => (n === 'SWARMD_HOST' ? host : undefined) });
  return { code, out, err };
}

/** The real swarmctl, as the shipped binary in a child process (asynchronous: the daemon shares this loop). */
function cliProcess(...argv: string[]): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SWARMCTL, '-H', host, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), WAIT_MS);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, out, err });
    });
  });
}

/** Like cli() but fails with both outputs unless the command succeeded. */
async function ok(...argv: string[]): Promise<string> {
  const r = await cli(...argv);
  assert.equal(r.code, 0, `swarmctl ${argv.join(' ')} exited ${r.code}\nstdout: ${r.out}\nstderr: ${r.err}\ndaemon:\n${daemonLog.slice(-20).join('\n')}`);
  return r.out;
}

function store() {
  assert.ok(daemon, 'the daemon did not start');
  return daemon.stateStore;
}

/** Everything the store holds, as JSON: what a refused command must leave unchanged. */
function snapshot(): string {
  return JSON.stringify(store().view((tx) => ({ cluster: tx.list('cluster'), node: tx.list('node'), network: tx.list('network'), service: tx.list('service'), task: tx.list('task') })));
}

const serviceNamed = (name: string): Service | undefined => store().view((tx) => tx.byName('service', name));
const tasksOf = (name: string): Task[] => {
  const s = serviceNamed(name);
  return s ? store().view((tx) => tx.tasksByService(s.ID)) : [];
};
const runningTasks = (name: string): Task[] => tasksOf(name).filter((t) => t.DesiredState === 'running' && t.Status.State === 'running');

/** Resolves once pred holds, checked now and after every store commit. */
function until(what: string, pred: () => boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    if (pred()) return resolve();
    const timer = setTimeout(() => {
      stop();
      reject(new Error(`timed out after ${WAIT_MS / 1000} s waiting for ${what}\ndaemon:\n${daemonLog.slice(-20).join('\n')}`));
    }, WAIT_MS);
    const stop = store().watch(() => {
      if (!pred()) return;
      clearTimeout(timer);
      stop();
      resolve();
    });
  });
}

test('before swarm init the daemon refuses, in its own words', async () => {
  const r = await cli('service', 'ls');
  assert.equal(r.code, 1);
  assert.equal(r.out, '');
  assert.equal(r.err, 'Error response from daemon: This node is not a swarm manager. Use "swarmctl swarm init" or "docker swarm init" to create a swarm on this node.\n');
});

test('swarm init prints the join command with the stored token and the real cluster port', async () => {
  const out = await ok('swarm', 'init', '--advertise-addr', '127.0.0.1');
  const cluster = store().view((tx) => tx.list('cluster'))[0];
  const self = store().view((tx) => tx.get('node', nodeId));
  assert.ok(cluster && self, 'swarm init stored no cluster or node');
  assert.match(self.ManagerStatus?.Addr ?? '', /^127\.0\.0\.1:[1-9]\d*$/);
  assert.equal(
    out,
    `Swarm initialized: current node (${nodeId}) is now a manager.\n\n` +
      `To add a worker to this swarm, run the following command:\n\n    swarmctl swarm join --token ${cluster.JoinTokens.Worker} ${self.ManagerStatus?.Addr}\n\n` +
      "To add a manager to this swarm, run 'swarmctl swarm join-token manager' and follow the instructions.\n\n",
  );
  assert.equal(await ok('swarm', 'join-token', '-q', 'manager'), `${cluster.JoinTokens.Manager}\n`);
  assert.equal(await ok('swarm', 'join-token', '-q', 'worker'), `${cluster.JoinTokens.Worker}\n`);
  const again = await cli('swarm', 'init');
  assert.equal(again.code, 1);
  assert.match(again.err, /^Error response from daemon: This node is already part of a swarm\./);
});

test('swarm join-token --rotate stores a new token and prints it; the other role keeps its own', async () => {
  const before = store().view((tx) => tx.list('cluster'))[0].JoinTokens;
  const out = await ok('swarm', 'join-token', '--rotate', 'worker');
  const mid = store().view((tx) => tx.list('cluster'))[0].JoinTokens;
  assert.notEqual(mid.Worker, before.Worker);
  assert.equal(mid.Manager, before.Manager);
  assert.match(mid.Worker, /^SWMTKN-1-[0-9a-z]{50}-[0-9a-z]{25}$/);
  assert.equal(mid.Worker.slice(0, 59), before.Worker.slice(0, 59), 'the CA digest part stays');
  const addr = store().view((tx) => tx.get('node', nodeId))?.ManagerStatus?.Addr;
  assert.equal(out, `Successfully rotated worker join token.\n\nTo add a worker to this swarm, run the following command:\n\n    swarmctl swarm join --token ${mid.Worker} ${addr}\n\n`);
  const q = await ok('swarm', 'join-token', '-q', '--rotate', 'manager');
  const last = store().view((tx) => tx.list('cluster'))[0].JoinTokens;
  assert.notEqual(last.Manager, before.Manager);
  assert.equal(last.Worker, mid.Worker);
  assert.equal(q, `${last.Manager}\n`);
});

test('service create -d prints the ID and stores what the flags say, with the daemon filling in the rest', async () => {
  const r = await cli('service', 'create', '-d', '--replicas', '1', '--name', 'helloworld', '--update-delay', '10s', 'alpine', 'ping', 'docker.com');
  assert.equal(r.code, 0, r.err);
  assert.equal(r.err, '');
  const svc = serviceNamed('helloworld');
  assert.ok(svc, 'no service helloworld in the store');
  assert.equal(r.out, `${svc.ID}\n`);
  assert.match(svc.ID, /^[0-9a-z]{25}$/);
  assert.equal(svc.Spec.TaskTemplate.ContainerSpec?.Image, 'alpine');
  assert.deepEqual(svc.Spec.TaskTemplate.ContainerSpec?.Args, ['ping', 'docker.com']);
  assert.deepEqual(svc.Spec.Mode, { Replicated: { Replicas: 1 } });
  // Docker's other defaults, filled in by the daemon; Parallelism is checked in the test below.
  const { Parallelism: _, ...rest } = svc.Spec.UpdateConfig ?? {};
  assert.deepEqual(rest, { Delay: 10e9, FailureAction: 'pause', Monitor: 5e9, MaxFailureRatio: 0, Order: 'stop-first' });
  await until('helloworld.1 running', () => runningTasks('helloworld').length === 1);
  assert.equal(runningTasks('helloworld')[0].NodeID, nodeId);
});

// docker service create sends the whole UpdateConfig from its flag defaults, so `--update-delay 10s` alone keeps
// Parallelism 1; the daemon, like Docker's API, takes a given config literally (0 would mean all at once).
test('service create --update-delay keeps the default --update-parallelism 1', () => {
  assert.equal(serviceNamed('helloworld')?.Spec.UpdateConfig?.Parallelism, 1);
});

test('service create without -d follows progress until the service has converged', { timeout: CONVERGE_MS }, async () => {
  const r = await cli('service', 'create', '--name', 'web', 'alpine');
  assert.equal(r.code, 0, r.err);
  const svc = serviceNamed('web');
  assert.ok(svc);
  assert.ok(r.out.startsWith(`${svc.ID}\n`), r.out);
  assert.match(r.out, /overall progress: 1 out of 1 tasks\n/);
  assert.match(r.out, /1\/1: running\s+\[=+>\]\n/);
  assert.match(r.out, /verify: Service converged\n$/);
  // Converged means it: the task runs, in the store and in the executor.
  const running = runningTasks('web');
  assert.equal(running.length, 1);
  assert.equal(running[0].Slot, 1);
});

test('bad flags print Error:, exit 1 and change nothing', async () => {
  const before = snapshot();
  const held = executor.heldCount();
  for (const argv of [
    ['service', 'create', '--replicas', 'x', 'alpine'],
    ['service', 'create', '--publish', '8080:http', 'alpine'],
    ['service', 'create', '--limit-memory', '1q', 'alpine'],
    ['service', 'update', '--update-delay', 'soon', 'web'],
    ['service', 'update', '--rollback', '--image', 'x', 'web'],
    ['service', 'scale', 'web=many'],
    ['node', 'update', '--availability', 'off', HOSTNAME],
    ['service', 'create', '--frobnicate', 'alpine'],
  ]) {
    const r = await cli(...argv);
    assert.equal(r.code, 1, argv.join(' '));
    assert.match(r.err, /^Error: /, argv.join(' '));
    assert.equal(r.out, '', argv.join(' '));
  }
  const r = await cli('service', 'create', '--replicas', '-2', 'alpine');
  assert.equal(r.err, `Error: invalid argument "-2" for "--replicas" flag: must be a non-negative integer, like 3\nSee 'swarmctl service create --help'.\n`);
  const child = await cliProcess('service', 'update', '--update-delay', 'soon', 'web');
  assert.equal(child.code, 1);
  assert.match(child.err, /^Error: /);
  assert.equal(snapshot(), before);
  assert.equal(executor.heldCount(), held);
});

test('service scale prints "scaled to" and converges to the new count', { timeout: CONVERGE_MS }, async () => {
  const version = serviceNamed('helloworld')!.Version.Index;
  const r = await cli('service', 'scale', 'helloworld=5');
  assert.equal(r.code, 0, r.err);
  assert.ok(r.out.startsWith('helloworld scaled to 5\n'), r.out);
  assert.match(r.out, /overall progress: 5 out of 5 tasks\n/);
  assert.match(r.out, /verify: Service converged\n$/);
  const svc = serviceNamed('helloworld')!;
  assert.ok(svc.Version.Index > version, 'the update was stored');
  assert.deepEqual(svc.Spec.Mode, { Replicated: { Replicas: 5 } });
  assert.deepEqual(runningTasks('helloworld').map((t) => t.Slot).sort(), [1, 2, 3, 4, 5]);
  assert.equal(await ok('service', 'scale', '-d', 'helloworld=5'), 'helloworld scaled to 5\n');
});

test('service ls and ps render the real services and tasks', async () => {
  const hello = serviceNamed('helloworld')!;
  const web = serviceNamed('web')!;
  const ls = await ok('service', 'ls');
  assert.match(ls, /^ID\s+NAME\s+MODE\s+REPLICAS\s+IMAGE\s+PORTS\n/);
  assert.match(ls, new RegExp(`^${hello.ID.slice(0, 12)}\\s+helloworld\\s+replicated\\s+5/5\\s+alpine\\s*$`, 'm'));
  assert.match(ls, new RegExp(`^${web.ID.slice(0, 12)}\\s+web\\s+replicated\\s+1/1\\s+alpine\\s*$`, 'm'));
  const ps = await ok('service', 'ps', 'helloworld');
  const lines = ps.trimEnd().split('\n');
  assert.match(lines[0], /^ID\s+NAME\s+IMAGE\s+NODE\s+DESIRED STATE\s+CURRENT STATE\s+ERROR\s+PORTS/);
  for (const t of runningTasks('helloworld')) {
    assert.match(ps, new RegExp(`^${t.ID.slice(0, 12)}\\s+helloworld\\.${t.Slot}\\s+alpine\\s+${HOSTNAME}\\s+Running\\s+Running (Less than a second|\\d+ seconds?) ago`, 'm'));
  }
  assert.equal(lines.length, 1 + tasksOf('helloworld').length);
  const child = await cliProcess('service', 'ls', '-q');
  assert.equal(child.code, 0, child.err);
  assert.deepEqual(child.out.trim().split('\n').sort(), [hello.ID, web.ID].map((id) => id.slice(0, 12)).sort());
});

test('inspect of a missing service prints [] then the error; --format reads the stored object', async () => {
  const r = await cli('service', 'inspect', 'nosuch');
  assert.equal(r.code, 1);
  assert.equal(r.out, '[]\n');
  assert.equal(r.err, 'Error: no such service: nosuch\n');
  const child = await cliProcess('service', 'inspect', 'nosuch');
  assert.deepEqual(child, { code: 1, out: '[]\n', err: 'Error: no such service: nosuch\n' });
  const svc = serviceNamed('helloworld')!;
  assert.equal(await ok('service', 'inspect', '--format', '{{.Spec.Name}} {{.Version.Index}}', 'helloworld'), `helloworld ${svc.Version.Index}\n`);
  const json = JSON.parse(await ok('service', 'inspect', svc.ID.slice(0, 6))) as Service[];
  assert.equal(json.length, 1);
  assert.equal(json[0].ID, svc.ID);
  const bad = await cli('service', 'inspect', '--format={{json.Endpoint.Spec.Ports}}', 'helloworld');
  assert.equal(bad.code, 1);
  assert.equal(bad.err, 'template parsing error: template: :1:2: executing "" at <json>: wrong number of args for json: want 1 got 0\n');
});

test('daemon refusals print "Error response from daemon" and change nothing', async () => {
  const before = snapshot();
  const r = await cli('service', 'create', '-d', '--name', 'web', 'alpine');
  assert.equal(r.code, 1);
  assert.equal(r.out, '');
  assert.match(r.err, /^Error response from daemon: .*name conflicts with an existing object: service web already exists\n$/);
  assert.equal(snapshot(), before);
  const child = await cliProcess('service', 'create', '-d', '--name', 'web', 'alpine');
  assert.deepEqual(child, { code: 1, out: '', err: r.err });
  assert.equal(snapshot(), before);
});

test('node ls marks this node with *; node inspect self', async () => {
  const ls = await ok('node', 'ls');
  assert.match(ls, /^ID\s+HOSTNAME\s+STATUS\s+AVAILABILITY\s+MANAGER STATUS\s+ENGINE VERSION\n/);
  assert.match(ls, new RegExp(`^${nodeId} \\*\\s+${HOSTNAME}\\s+Ready\\s+Active\\s+Leader\\s+shoal-memory\\s*$`, 'm'));
  assert.equal(await ok('node', 'inspect', '--format', '{{.Description.Hostname}}', 'self'), `${HOSTNAME}\n`);
  assert.equal(await ok('node', 'inspect', '--format', '{{.ID}}', HOSTNAME), `${nodeId}\n`);
});

test('node update --label-add is stored and shown by node inspect --format', async () => {
  const out = await ok('node', 'update', '--label-add', 'zone=a', '--label-add', 'ssd', 'self');
  assert.equal(out, 'self\n');
  assert.deepEqual(store().view((tx) => tx.get('node', nodeId))?.Spec.Labels, { zone: 'a', ssd: '' });
  const json = await ok('node', 'inspect', '--format', '{{json .Spec.Labels}}', 'self');
  assert.deepEqual(JSON.parse(json), { zone: 'a', ssd: '' });
  assert.ok(json.endsWith('}\n'));
});

// Go's json sorts a map's keys, so docker prints labels in key order whatever the order they were added in.
test('{{json .Spec.Labels}} prints keys sorted, as Go does', async () => {
  assert.equal(await ok('node', 'inspect', '--format', '{{json .Spec.Labels}}', 'self'), '{"ssd":"","zone":"a"}\n');
});

test('service logs of a memory-executor service and task end cleanly with nothing printed', async () => {
  const r = await cli('service', 'logs', 'helloworld');
  assert.deepEqual(r, { code: 0, out: '', err: '' });
  const task = runningTasks('helloworld')[0];
  const t = await cli('service', 'logs', '--timestamps', task.ID);
  assert.deepEqual(t, { code: 0, out: '', err: '' });
  const missing = await cli('service', 'logs', 'nosuch');
  assert.equal(missing.code, 1);
  assert.match(missing.err, /^Error response from daemon: /);
});

test('network create, ls, inspect and rm', async () => {
  const id = (await ok('network', 'create', '--subnet', '10.0.9.0/24', '--label', 'team=a', 'backend')).trim();
  const net = store().view((tx) => tx.byName('network', 'backend'));
  assert.ok(net, 'no network backend in the store');
  assert.equal(id, net.ID);
  assert.equal(net.Driver, 'overlay');
  assert.deepEqual(net.IPAM?.Config?.map((c) => c.Subnet), ['10.0.9.0/24']);
  const ls = await ok('network', 'ls');
  assert.match(ls, /^NETWORK ID\s+NAME\s+DRIVER\s+SCOPE\n/);
  assert.match(ls, new RegExp(`^${id.slice(0, 12)}\\s+backend\\s+overlay\\s+swarm\\s*$`, 'm'));
  assert.match(ls, /\s+ingress\s+overlay\s+swarm\s*$/m);
  assert.equal(await ok('network', 'inspect', '--format', '{{.Name}} {{.Driver}} {{.Scope}} {{json .Labels}}', 'backend'), 'backend overlay swarm {"team":"a"}\n');
  const dup = await cli('network', 'create', 'backend');
  assert.equal(dup.code, 1);
  assert.match(dup.err, /^Error response from daemon: /);
  assert.equal(await ok('network', 'rm', 'backend'), 'backend\n');
  assert.equal(store().view((tx) => tx.byName('network', 'backend')), undefined);
  const gone = await cli('network', 'inspect', 'backend');
  assert.deepEqual(gone, { code: 1, out: '[]\n', err: 'Error: no such network: backend\n' });
});

test('service update --image replaces the tasks; service rollback brings the previous image back', { timeout: CONVERGE_MS }, async () => {
  const oldTask = runningTasks('web')[0];
  const r = await cli('service', 'update', '--image', 'alpine:3.19', 'web');
  assert.equal(r.code, 0, r.err);
  assert.ok(r.out.startsWith('web\n'), r.out);
  assert.match(r.out, /verify: Service converged\n$/);
  assert.equal(serviceNamed('web')!.Spec.TaskTemplate.ContainerSpec?.Image, 'alpine:3.19');
  const now = runningTasks('web');
  assert.equal(now.length, 1);
  assert.notEqual(now[0].ID, oldTask.ID);
  assert.equal(now[0].Spec.ContainerSpec?.Image, 'alpine:3.19');
  const old = tasksOf('web').find((t) => t.ID === oldTask.ID);
  assert.equal(old?.DesiredState, 'shutdown');
  assert.equal(old?.Status.State, 'shutdown');

  const rb = await cli('service', 'rollback', 'web');
  assert.equal(rb.code, 0, `stdout: ${rb.out}\nstderr: ${rb.err}`);
  assert.ok(rb.out.startsWith('web\n'), rb.out);
  assert.match(rb.out, /rollback: manually requested rollback\n/);
  assert.match(rb.out, /verify: Service converged\n$/);
  const svc = serviceNamed('web')!;
  assert.equal(svc.Spec.TaskTemplate.ContainerSpec?.Image, 'alpine');
  const back = runningTasks('web');
  assert.equal(back.length, 1);
  assert.equal(back[0].Spec.ContainerSpec?.Image, 'alpine');
  assert.ok(![oldTask.ID, now[0].ID].includes(back[0].ID), 'rollback started a new task');
});

test('service ps --filter desired-state=running shows only the tasks meant to run', async () => {
  const all = tasksOf('web');
  assert.ok(all.length > 1, 'web has history after update and rollback');
  const want = all.filter((t) => t.DesiredState === 'running').map((t) => t.ID.slice(0, 12));
  const q = await ok('service', 'ps', '-q', '--filter', 'desired-state=running', 'web');
  assert.deepEqual(q.trim().split('\n'), want);
  const qAll = await ok('service', 'ps', '-q', 'web');
  assert.deepEqual(qAll.trim().split('\n').sort(), all.map((t) => t.ID.slice(0, 12)).sort());
  const table = await ok('service', 'ps', '--filter', 'desired-state=running', 'web');
  assert.equal(table.trimEnd().split('\n').length, 2, table);
  assert.match(table, /\sweb\.1\s+alpine\s+vm\s+Running\s+Running /);
});

test('service rm prints each name and the tasks go away', async () => {
  const r = await cli('service', 'rm', 'helloworld', 'web', 'nosuch');
  assert.equal(r.code, 1);
  assert.equal(r.out, 'helloworld\nweb\n');
  assert.match(r.err, /^Error response from daemon: .*nosuch/);
  assert.deepEqual(store().view((tx) => tx.list('service')), []);
  await until('every task removed', () => store().view((tx) => tx.list('task')).length === 0);
  assert.equal(executor.runningCount(), 0);
  assert.equal((await ok('service', 'ls', '-q')), '');
});

test('unknown commands and --help', async () => {
  const unknown = await cli('service', 'frob');
  assert.equal(unknown.code, 1);
  assert.equal(unknown.err, `Error: unknown command "frob" for "swarmctl service"\nRun 'swarmctl service --help' for usage.\n`);
  const top = await cliProcess('frob');
  assert.equal(top.code, 1);
  assert.equal(top.err, `Error: unknown command "frob" for "swarmctl"\nRun 'swarmctl --help' for usage.\n`);
  const help = await cliProcess('service', 'create', '--help');
  assert.equal(help.code, 0);
  assert.match(help.out, /Usage:  swarmctl service create \[OPTIONS\] IMAGE \[COMMAND\] \[ARG\.\.\.\]/);
  assert.match(help.out, /--update-delay duration/);
  const version = await cliProcess('version');
  assert.equal(version.code, 0, version.err);
  assert.match(version.out, /\nServer:\n Engine:\n  Version: +\S+\n  API version: +1\.41\n/);
});
