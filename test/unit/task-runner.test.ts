import { test } from 'node:test';
import assert from 'node:assert/strict';
import { silentLogger } from '../../control/base/log';
import { TaskRunner } from '../../control/agent/task-runner';
import { expand, expandTask, templateValues, containerName } from '../../control/agent/templates';
import type { Controller, ExitStatus } from '../../control/agent/executor';
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
