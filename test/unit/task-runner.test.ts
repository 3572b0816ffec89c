import { test } from 'node:test';
import assert from 'node:assert/strict';
import { silentLogger } from '../../control/base/log';
import { TaskRunner } from '../../control/agent/task-runner';
import { expand, expandTask, templateValues, containerName } from '../../control/agent/templates';
import type { Controller, ExitStatus } from '../../control/agent/executor';
import type { HealthFeed, HealthStatus } from '../../control/agent/health-monitor';
import type { Task, TaskState, TaskStatus } from '../../control/api/types';
import { fakeService, fakeTask } from '../fakes/objects';

/** A controller whose steps succeed or fail as told, and whose process exits when the test says so. */
class ScriptedController implements Controller {
  calls: string[] = [];
  exit?: (s: ExitStatus) => void;
  running = false;
  constructor(private readonly fail: { prepare?: string; start?: string } = {}) {}
  async prepare() {
    this.calls.push('prepare');
    if (this.fail.prepare) throw new Error(this.fail.prepare);
  }
  async start() {
    this.calls.push('start');
    if (this.fail.start) throw new Error(this.fail.start);
    this.running = true;
  }
  wait() {
    this.calls.push('wait');
    return new Promise<ExitStatus>((r) => (this.exit = r));
  }
  async shutdown() {
    this.calls.push('shutdown');
    this.running = false;
    this.exit?.({ exitCode: 143 });
  }
  async remove() {
    this.calls.push('remove');
  }
  async isRunning() {
    return this.running;
  }
  async *logs() {}
}

const settle = () => new Promise((r) => setTimeout(r, 5));

function run(desired: TaskState, c: ScriptedController, state: TaskState = 'assigned') {
  const task: Task = { ...fakeTask(fakeService(), { state, desired, nodeId: 'n1' }) };
  const reports: TaskStatus[] = [];
  const runner = new TaskRunner(task, c, (_id, s) => reports.push(s), silentLogger);
  return { task, runner, reports, states: () => reports.map((r) => r.State) };
}

test('a task walks ASSIGNED → ACCEPTED → PREPARING → READY → STARTING → RUNNING, then COMPLETE on exit 0', async () => {
  const c = new ScriptedController();
  const r = run('running', c);
  await r.runner.pump();
  assert.deepEqual(r.states(), ['accepted', 'preparing', 'ready', 'starting', 'running']);
  assert.deepEqual(r.reports.map((s) => s.Message), ['accepted', 'preparing', 'prepared', 'starting', 'started']);
  assert.ok(r.reports.every((s) => !isNaN(Date.parse(s.Timestamp))));
  c.exit!({ exitCode: 0 });
  await settle();
  assert.equal(r.states().at(-1), 'complete');
  assert.equal(r.reports.at(-1)!.ContainerStatus?.ExitCode, 0);
});

test('a non-zero exit is FAILED with the exit code and message', async () => {
  const c = new ScriptedController();
  const r = run('running', c);
  await r.runner.pump();
  c.exit!({ exitCode: 3, message: 'task: non-zero exit (3)' });
  await settle();
  assert.equal(r.reports.at(-1)!.State, 'failed');
  assert.equal(r.reports.at(-1)!.Err, 'task: non-zero exit (3)');
});

test('an error while preparing is REJECTED, while starting FAILED', async () => {
  const a = run('running', new ScriptedController({ prepare: 'No such image: x' }));
  await a.runner.pump();
  assert.deepEqual(a.states(), ['accepted', 'preparing', 'rejected']);
  assert.equal(a.reports.at(-1)!.Err, 'No such image: x');
  const b = run('running', new ScriptedController({ start: 'exec failed' }));
  await b.runner.pump();
  assert.deepEqual(b.states(), ['accepted', 'preparing', 'ready', 'starting', 'failed']);
});

test('desired READY stops at READY; moving desired to RUNNING starts it; SHUTDOWN stops it', async () => {
  const c = new ScriptedController();
  const r = run('ready', c);
  await r.runner.pump();
  assert.deepEqual(r.states(), ['accepted', 'preparing', 'ready']);
  r.runner.update({ ...r.task, DesiredState: 'running' });
  await settle();
  assert.equal(r.states().at(-1), 'running');
  r.runner.update({ ...r.task, DesiredState: 'shutdown' });
  await settle();
  assert.equal(r.states().at(-1), 'shutdown');
  assert.ok(c.calls.includes('shutdown'));
  // Desired state never moves back: a stale copy saying running changes nothing.
  r.runner.update({ ...r.task, DesiredState: 'running' });
  await settle();
  assert.equal(r.states().at(-1), 'shutdown');
});

test('an adopted RUNNING task is waited on, not started again', async () => {
  const c = new ScriptedController();
  const r = run('running', c, 'running');
  await r.runner.pump();
  assert.deepEqual(c.calls, ['wait']);
  assert.deepEqual(r.states(), []);
});

/** A health feed the test moves by hand, as an executor's monitor (or Docker's engine) would. */
class FakeFeed implements HealthFeed {
  status: HealthStatus = 'starting';
  closed = false;
  private fns = new Set<(s: HealthStatus) => void>();
  onChange(fn: (s: HealthStatus) => void) {
    this.fns.add(fn);
    return () => this.fns.delete(fn);
  }
  set(s: HealthStatus) {
    this.status = s;
    for (const fn of this.fns) fn(s);
  }
  close() {
    this.closed = true;
  }
}

class CheckedController extends ScriptedController {
  constructor(readonly feed: FakeFeed) {
    super();
  }
  async health() {
    this.calls.push('health');
    return this.feed;
  }
}

test('with a health check, a started task stays STARTING until its first healthy result, then RUNNING', async () => {
  const c = new CheckedController(new FakeFeed());
  const r = run('running', c);
  await r.runner.pump();
  assert.deepEqual(r.states(), ['accepted', 'preparing', 'ready', 'starting']);
  await r.runner.pump(); // nothing to do but wait: start() is not called again
  assert.equal(c.calls.filter((x) => x === 'start').length, 1);
  c.feed.set('healthy');
  assert.deepEqual(r.states().at(-1), 'running');
  assert.equal(r.reports.at(-1)!.Message, 'started');
  // Later flaps to healthy again change nothing; the exit still ends it.
  c.exit!({ exitCode: 0 });
  await settle();
  assert.equal(r.states().at(-1), 'complete');
  assert.equal(c.feed.closed, true, 'the feed is closed once the task ended');
});

test('unhealthy before RUNNING: the task is stopped and FAILED with Docker\'s "unhealthy container" error', async () => {
  const c = new CheckedController(new FakeFeed());
  const r = run('running', c);
  await r.runner.pump();
  c.feed.set('unhealthy');
  await settle();
  assert.deepEqual(r.states(), ['accepted', 'preparing', 'ready', 'starting', 'failed']);
  assert.ok(c.calls.includes('shutdown'));
  const last = r.reports.at(-1)!;
  assert.equal(last.Err, 'task: non-zero exit (143): dockerexec: unhealthy container');
  assert.equal(last.ContainerStatus?.ExitCode, 143);
});

test('unhealthy after RUNNING: stopped and FAILED the same way', async () => {
  const c = new CheckedController(new FakeFeed());
  const r = run('running', c);
  await r.runner.pump();
  c.feed.set('healthy');
  c.feed.set('unhealthy');
  await settle();
  assert.deepEqual(r.states().slice(-2), ['running', 'failed']);
  assert.equal(r.reports.at(-1)!.Err, 'task: non-zero exit (143): dockerexec: unhealthy container');
});

test('an exit while still waiting for health ends the task with that exit', async () => {
  const c = new CheckedController(new FakeFeed());
  const r = run('running', c);
  await r.runner.pump();
  c.exit!({ exitCode: 2, message: 'task: non-zero exit (2)' });
  await settle();
  assert.deepEqual(r.states().slice(-2), ['starting', 'failed']);
  assert.equal(r.reports.at(-1)!.Err, 'task: non-zero exit (2)');
});

test('a shutdown while waiting for health is a SHUTDOWN, and a late unhealthy result changes nothing', async () => {
  const c = new CheckedController(new FakeFeed());
  const r = run('running', c);
  await r.runner.pump();
  r.runner.update({ ...r.task, DesiredState: 'shutdown' });
  await settle();
  c.feed.set('unhealthy');
  await settle();
  assert.deepEqual(r.states().slice(-2), ['starting', 'shutdown']);
  assert.equal(c.calls.filter((x) => x === 'shutdown').length, 1);
});

test('an adopted RUNNING task follows its health too, and an adopted healthy STARTING one goes RUNNING', async () => {
  const a = new CheckedController(new FakeFeed());
  const ra = run('running', a, 'running');
  await ra.runner.pump();
  assert.deepEqual(a.calls, ['health', 'wait']);
  a.feed.set('unhealthy');
  await settle();
  assert.equal(ra.reports.at(-1)!.Err, 'task: non-zero exit (143): dockerexec: unhealthy container');

  const feed = new FakeFeed();
  feed.status = 'healthy';
  const b = new CheckedController(feed);
  const rb = run('running', b, 'starting');
  await rb.runner.pump();
  assert.deepEqual(rb.states(), ['running']);
});

test('templates expand Docker placeholders and refuse unknown ones', () => {
  const s = fakeService({ id: 'svc1', name: 'web' });
  const t = fakeTask(s, { id: 'task1', slot: 2, nodeId: 'n1' });
  t.Spec = { ContainerSpec: { Image: 'x', Env: ['NAME={{.Service.Name}}-{{.Task.Slot}}', 'HOST={{.Node.Hostname}}'], Hostname: '{{.Task.Name}}' } };
  const node = { id: 'n1', hostname: 'vm', os: 'linux', architecture: 'x86_64' };
  const e = expandTask(t, node);
  assert.deepEqual(e.Spec.ContainerSpec.Env, ['NAME=web-2', 'HOST=vm']);
  assert.equal(e.Spec.ContainerSpec.Hostname, 'web.2.task1');
  assert.equal(containerName(t), 'web.2.task1');
  assert.throws(() => expand('{{.Nope}}', templateValues(t, node)), /unknown placeholder \{\{\.Nope\}\}/);
});

test('remove() waits for a prepare under way, so nothing it creates is left behind, and takes no further step', async () => {
  let finishPrepare!: () => void;
  class SlowPrepare extends ScriptedController {
    override async prepare() {
      this.calls.push('prepare begins');
      await new Promise<void>((r) => (finishPrepare = r));
      this.calls.push('prepare ends');
    }
  }
  const c = new SlowPrepare();
  const r = run('running', c);
  void r.runner.pump();
  await settle();
  const removed = r.runner.remove(1000);
  await settle();
  assert.deepEqual(c.calls, ['prepare begins'], 'nothing is released while the prepare runs');
  finishPrepare();
  await removed;
  assert.deepEqual(c.calls, ['prepare begins', 'prepare ends', 'remove']);
});

test('halt() resolves when the step under way fails at its end (a report on a channel the stopping agent closed)', async () => {
  let finishPrepare!: () => void;
  class SlowPrepare extends ScriptedController {
    override async prepare() {
      await new Promise<void>((r) => (finishPrepare = r));
    }
  }
  const task: Task = { ...fakeTask(fakeService(), { state: 'assigned', desired: 'running', nodeId: 'n1' }) };
  let closed = false;
  // grpc-js throws "Channel has been shut down" synchronously for a call on a closed client.
  const report = () => {
    if (closed) throw new Error('Channel has been shut down');
  };
  const runner = new TaskRunner(task, new SlowPrepare(), report, silentLogger);
  void runner.pump().catch(() => undefined);
  await settle();
  closed = true;
  const halted = runner.halt();
  finishPrepare();
  await halted; // rejected before: the agent's stop, and with it `swarm leave`, failed and left tasks behind
});
