/**
 * Rolling updates and rollbacks against a real swarmd with the process executor and the real swarmctl: the
 * seed's redis tutorial (3 replicas, an update delay, parallelism 1 then 2), an update to a command that exits 1
 * pausing with Docker's message, an automatic rollback ending rollback_completed, `service rollback`, and
 * start-first keeping the old task until the new one runs. Tasks are host processes (`sleep`, `sh -c 'exit 1'`);
 * the "image" is only a label to the process executor, which makes it a handy marker of each task's spec.
 *
 * Orderings are read from the tasks themselves (when each was created, when it reached its last state), never
 * from how long anything took. Delays and monitor periods are 1 s to keep the file short.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, request } from 'undici';
import { SwarmdProcess } from '../lab/swarmd-process';
import { requireCommands } from '../lab/require';
import type { Service, Task } from '../../control/api/types';

// No embedded DNS: these tasks need none, and other test runs on this host may hold its default address.
const d = new SwarmdProcess(['--dns-addr', '']);
let dispatcher: Agent;

before(async () => {
  requireCommands(['ip', 'sleep', 'sh']);
  await d.start();
  d.ok('swarm', 'init', '--advertise-addr', '127.0.0.1');
  dispatcher = new Agent({ connect: { socketPath: d.socket } });
});
after(async () => {
  await dispatcher?.close();
  await d.destroy();
});

const service = (name: string): Service => JSON.parse(d.ok('service', 'inspect', name))[0];
/** Every task of the service, history included, as the API serves them. */
const tasks = async (name: string): Promise<Task[]> => {
  const filters = encodeURIComponent(JSON.stringify({ service: [name] }));
  const r = await request(`http://swarmd/v1.41/tasks?filters=${filters}`, { dispatcher, reset: true });
  return (await r.body.json()) as Task[];
};
const image = (t: Task) => t.Spec.ContainerSpec.Image;
const at = (iso: string) => Date.parse(iso);
/** The CLI returns once tasks have run for Monitor; the updater marks the update done after its own Delay + Monitor. */
const completed = (name: string) => d.until(`${name} update completed`, () => service(name).UpdateStatus?.State === 'completed');
/** Per slot, the task of this image that runs now. */
const current = async (name: string, img: string): Promise<Task[]> =>
  (await tasks(name))
    .filter((t) => image(t) === img && t.DesiredState === 'running')
    .sort((a, b) => a.Slot! - b.Slot!);

test('the seed\'s tutorial: redis:3.0.6 → 3.0.7 one slot at a time, then 3.0.8 two at a time', async () => {
  d.ok('service', 'create', '--replicas', '3', '--name', 'redis', '--update-delay', '1s', '--update-monitor', '1s', 'redis:3.0.6', 'sleep', '1000');
  const pretty = d.ok('service', 'inspect', '--pretty', 'redis');
  assert.match(pretty, /^UpdateConfig:\n Parallelism:\t1\n Delay:\t\t1s\n On failure:\tpause\n Monitoring Period: 1s\n/m);

  const out = d.ok('service', 'update', '--image', 'redis:3.0.7', 'redis');
  assert.match(out, /^redis\n/);
  assert.match(out, /overall progress: 3 out of 3 tasks/);
  await completed('redis');
  let s = service('redis');
  assert.equal(s.UpdateStatus?.Message, 'update completed');
  const v7 = await current('redis', 'redis:3.0.7');
  assert.deepEqual(v7.map((t) => [t.Slot, t.Status.State]), [[1, 'running'], [2, 'running'], [3, 'running']]);
  // Parallelism 1: each slot's new task was made only after the previous slot's new task was running.
  for (let i = 1; i < 3; i++) assert.ok(at(v7[i].CreatedAt) >= at(v7[i - 1].Status.Timestamp), `slot ${i + 1} waited for slot ${i}`);
  // Stop-first: each old task had stopped before its successor was running.
  const history = await tasks('redis');
  for (const t of v7) {
    const old = history.find((o) => o.Slot === t.Slot && image(o) === 'redis:3.0.6')!;
    assert.equal(old.Status.State, 'shutdown');
    assert.ok(at(old.Status.Timestamp) <= at(t.Status.Timestamp), `slot ${t.Slot}: old stopped before the new one ran`);
  }
  const ps = d.ok('service', 'ps', 'redis');
  for (let slot = 1; slot <= 3; slot++) {
    assert.match(ps, new RegExp(`^\\w{12}\\s+redis\\.${slot}\\s+redis:3\\.0\\.7\\s+\\S+\\s+Running\\s+Running .* ago\\s*$`, 'm'));
    assert.match(ps, new RegExp(`^\\w{12}\\s+\\\\_ redis\\.${slot}\\s+redis:3\\.0\\.6\\s+\\S+\\s+Shutdown\\s+Shutdown .* ago\\s*$`, 'm'));
  }

  d.ok('service', 'update', '--update-parallelism', '2', '--image', 'redis:3.0.8', 'redis');
  const v8 = await current('redis', 'redis:3.0.8');
  assert.equal(v8.length, 3);
  // Parallelism 2: slots 1 and 2 in one batch — each was made before the other was running (an order, not a time).
  assert.ok(at(v8[1].CreatedAt) <= at(v8[0].Status.Timestamp) && at(v8[0].CreatedAt) <= at(v8[1].Status.Timestamp), 'slots 1 and 2 in one batch');
  assert.ok(at(v8[2].CreatedAt) >= Math.min(at(v8[0].Status.Timestamp), at(v8[1].Status.Timestamp)), 'slot 3 once a worker was free');
  await completed('redis');
});

test('an update to a command that exits 1 pauses; the CLI says so and exits non-zero', async () => {
  // A long delay, so the failure is seen before the next slot is due however slowly the task reports.
  const r = d.cli('service', 'update', '--update-parallelism', '1', '--update-delay', '20s', '--update-monitor', '3s', '--args', "sh -c 'exit 1'", 'redis');
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /service update paused: update paused due to failure or early termination of task [0-9a-z]{25}/);
  const s = service('redis');
  assert.equal(s.UpdateStatus?.State, 'paused');
  assert.match(s.UpdateStatus!.Message!, /^update paused due to failure or early termination of task /);
  // Only slot 1 was touched: slots 2 and 3 still run the previous spec.
  const all = await tasks('redis');
  const live = all.filter((t) => t.DesiredState === 'running' && t.Status.State === 'running');
  assert.deepEqual(
    live.filter((t) => t.Slot !== 1).map((t) => t.Spec.ContainerSpec.Args),
    [['sleep', '1000'], ['sleep', '1000']],
    JSON.stringify(all.map((t) => [t.ID, t.Slot, t.Spec.ContainerSpec.Args, t.DesiredState, t.Status.State, t.CreatedAt, t.Status.Timestamp])),
  );
  const pretty = d.ok('service', 'inspect', '--pretty', 'redis');
  assert.match(pretty, /^UpdateStatus:\n State:\t\tpaused\n Started:\t.* ago\n Message:\tupdate paused due to failure/m);

  // Fixing the spec with another update resumes (the seed: `docker service update` restarts a paused update).
  d.ok('service', 'update', '--update-delay', '1s', '--args', 'sleep 1001', 'redis');
  await completed('redis');
  assert.equal((await current('redis', 'redis:3.0.8')).filter((t) => t.Spec.ContainerSpec.Args?.[1] === '1001').length, 3);
});

test('--update-failure-action rollback rolls back to the previous spec and ends rollback_completed', async () => {
  const r = d.cli('service', 'update', '--update-failure-action', 'rollback', '--update-monitor', '3s', '--rollback-parallelism', '0', '--rollback-monitor', '1s', '--args', "sh -c 'exit 1'", 'redis');
  assert.notEqual(r.code, 0, `a rolled-back update is not a success:\n${r.stdout}`);
  assert.match(r.stdout, /^rollback: update rolled back due to failure or early termination of task [0-9a-z]{25}$/m);
  assert.match(r.stderr, /service rolled back: update rolled back due to failure or early termination of task [0-9a-z]{25}/);
  await d.until('rollback_completed', () => service('redis').UpdateStatus?.State === 'rollback_completed');
  const s = service('redis');
  assert.equal(s.UpdateStatus?.Message, 'rollback completed');
  assert.deepEqual(s.Spec.TaskTemplate.ContainerSpec.Args, ['sleep', '1001']);
  assert.equal(s.Spec.UpdateConfig?.FailureAction, 'pause', 'the whole previous spec came back');
  await d.until('three tasks of the previous spec run', async () =>
    (await tasks('redis')).filter((t) => t.DesiredState === 'running' && t.Status.State === 'running' && t.Spec.ContainerSpec.Args?.[1] === '1001').length === 3,
  );
  const again = d.cli('service', 'rollback', 'redis');
  assert.notEqual(again.code, 0);
  assert.match(again.stderr, /service redis does not have a previous spec/);
});

test('service rollback restores the previous spec with RollbackConfig', async () => {
  d.ok('service', 'update', '--rollback-monitor', '1s', '--image', 'redis:3.0.9', 'redis');
  assert.equal((await current('redis', 'redis:3.0.9')).length, 3);
  const out = d.ok('service', 'rollback', 'redis');
  assert.match(out, /^redis\n/);
  assert.match(out, /rollback: manually requested rollback/);
  assert.match(out, /overall progress: rolling back update: 3 out of 3 tasks/);
  await d.until('rollback_completed', () => service('redis').UpdateStatus?.State === 'rollback_completed');
  const s = service('redis');
  assert.equal(s.Spec.TaskTemplate.ContainerSpec.Image, 'redis:3.0.8');
  assert.equal((await current('redis', 'redis:3.0.8')).length, 3);
  d.ok('service', 'rm', 'redis');
});

test('start-first keeps the old task running until the new one runs', async () => {
  d.ok('service', 'create', '--name', 'web', '--update-order', 'start-first', '--update-monitor', '1s', 'web:1', 'sleep', '1000');
  d.ok('service', 'update', '--image', 'web:2', 'web');
  const all = await tasks('web');
  const fresh = all.find((t) => image(t) === 'web:2')!;
  const old = all.find((t) => image(t) === 'web:1')!;
  assert.equal(fresh.Status.State, 'running');
  assert.equal(old.Status.State, 'shutdown');
  assert.ok(at(old.Status.Timestamp) >= at(fresh.Status.Timestamp), 'the old task stopped only after the new one was running');
  d.ok('service', 'rm', 'web');
});
