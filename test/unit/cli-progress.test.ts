/**
 * Progress frames: Docker's bars at each state's fraction, replicated slots and global nodes, errors in place of
 * bars, and the two renderings (in place on a terminal, changed lines only otherwise).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Service, Task, TaskState } from '../../control/api/types';
import { bar, Frame, GlobalProgress, ReplicatedProgress, VERIFY_CONVERGED } from '../../control/cli/progress';

const service = (replicas?: number, global = false): Service =>
  ({ ID: 's1', Spec: { Name: 'web', TaskTemplate: { ContainerSpec: { Image: 'x' } }, Mode: global ? { Global: {} } : { Replicated: { Replicas: replicas } } } }) as unknown as Service;
const task = (slot: number, state: TaskState, extra: Partial<Task> = {}): Task =>
  ({ ID: `t${slot}`, ServiceID: 's1', Slot: slot, NodeID: 'n1', DesiredState: 'running', Status: { State: state, Timestamp: '', Message: '' }, ...extra }) as Task;

test('bars fill at docker fractions', () => {
  assert.equal(bar('running'), '[==================================================>]');
  assert.equal(bar('preparing'), `[${'='.repeat(33)}>${' '.repeat(17)}]`);
  assert.equal(bar('starting'), `[${'='.repeat(44)}>${' '.repeat(6)}]`);
  assert.equal(bar('pending'), `[${'='.repeat(16)}>${' '.repeat(34)}]`);
  assert.equal(bar('assigned'), `[${'='.repeat(22)}>${' '.repeat(28)}]`);
});

test('seed: 1 replica converges like the guide shows', () => {
  const p = new ReplicatedProgress();
  const frame = new Frame(() => undefined, false);
  frame.apply(p.update(service(1), [], new Set(['n1']), false).messages);
  assert.equal(frame.snapshot(), 'overall progress: 0 out of 1 tasks\n1/1:  \n');
  frame.apply(p.update(service(1), [task(1, 'preparing')], new Set(['n1']), false).messages);
  assert.equal(frame.snapshot(), `overall progress: 0 out of 1 tasks\n1/1: preparing [${'='.repeat(33)}>${' '.repeat(17)}]\n`);
  const r = p.update(service(1), [task(1, 'running')], new Set(['n1']), false);
  assert.equal(r.converged, true);
  frame.apply(r.messages);
  frame.apply([VERIFY_CONVERGED]);
  assert.equal(frame.snapshot(), 'overall progress: 1 out of 1 tasks\n1/1: running   [==================================================>]\nverify: Service converged\n');
});

test('scale to 5: bars per slot in order, errors replace bars, inactive nodes ignored', () => {
  const p = new ReplicatedProgress();
  const frame = new Frame(() => undefined, false);
  const tasks = [task(1, 'running'), task(2, 'running'), task(3, 'pending', { Status: { State: 'pending', Timestamp: '', Message: '', Err: 'no suitable node (scheduling constraints not satisfied on 1 node)' } }), task(4, 'running', { NodeID: 'gone' }), task(5, 'starting')];
  const r = p.update(service(5), tasks, new Set(['n1']), false);
  frame.apply(r.messages);
  assert.equal(r.converged, false);
  assert.equal(
    frame.snapshot(),
    'overall progress: 2 out of 5 tasks\n' +
      '1/5: running   [==================================================>]\n' +
      '2/5: running   [==================================================>]\n' +
      '3/5: no suitable node (scheduling constraints not satisfied on 1 node)\n' +
      '4/5: starting  [============================================>      ]\n' +
      '5/5:  \n',
  );
});

test('rollback wording and global short node IDs', () => {
  const p = new ReplicatedProgress();
  const r = p.update(service(1), [task(1, 'running')], new Set(['n1']), true);
  assert.deepEqual(r.messages[0], { id: 'overall progress', text: 'rolling back update: 0 out of 1 tasks' });
  const g = new GlobalProgress();
  assert.deepEqual(g.update(service(undefined, true), [], new Set(), false).messages, [{ id: 'overall progress', text: 'waiting for new tasks' }]);
  const tasks = [task(0, 'running', { NodeID: 'v05wa5q12efwguyv511q915lg' }), task(0, 'ready', { NodeID: 'z6ju1d6zpvayt88lcfw388fwg' })];
  const frame = new Frame(() => undefined, false);
  frame.apply(g.update(service(undefined, true), tasks, new Set(['v05wa5q12efwguyv511q915lg', 'z6ju1d6zpvayt88lcfw388fwg']), false).messages);
  assert.equal(
    frame.snapshot(),
    `overall progress: 1 out of 2 tasks\nv05wa5q12efw: running   [==================================================>]\nz6ju1d6zpvay: ready     [${'='.repeat(38)}>${' '.repeat(12)}]\n`,
  );
});

test('terminal redraws in place; pipes get changed lines once', () => {
  const tty: string[] = [];
  const f = new Frame((s) => tty.push(s), true);
  f.apply([{ id: 'overall progress', text: '0 out of 1 tasks' }, { id: '1/1', text: ' ' }]);
  f.apply([{ id: 'overall progress', text: '1 out of 1 tasks' }]);
  f.apply([{ id: 'overall progress', text: '1 out of 1 tasks' }]);
  assert.equal(tty.length, 2);
  assert.ok(tty[1].startsWith('\x1b[2A\x1b[2Koverall progress: 1 out of 1 tasks\n'));
  const plain: string[] = [];
  const g = new Frame((s) => plain.push(s), false);
  g.apply([{ id: 'overall progress', text: '0 out of 1 tasks' }, { id: '1/1', text: ' ' }]);
  g.apply([{ id: 'overall progress', text: '0 out of 1 tasks' }, { id: '1/1', text: 'running' }]);
  assert.deepEqual(plain, ['overall progress: 0 out of 1 tasks\n', '1/1: running\n']);
});
