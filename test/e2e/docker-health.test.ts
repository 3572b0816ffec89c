/**
 * Health checks with the docker executor on the private engine of scripts/dockerd.sh: the engine runs the
 * probes, Shoal follows State.Health. A service with --health-cmd stays Starting until the container is healthy,
 * then Running; a container that turns unhealthy is stopped, its task FAILED "dockerexec: unhealthy container",
 * and replaced. An image's own HEALTHCHECK gates the task the same way, and --no-healthcheck turns it off.
 * The test never starts dockerd; without one (or without the images) every test fails with the fix. after()
 * leaves the swarm, removes this run's containers and its derived image, stops swarmd, even when a test failed.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import Docker from 'dockerode';
import { LABEL_NODE, requireEngine } from '../lab/docker-engine';
import { newId } from '../../control/api/ids';
import { SwarmdProcess } from '../lab/swarmd-process';

const ENGINE = 'unix:///run/shoal-docker.sock';
const IMAGE = 'shoal-busybox:1';
/** Derived from IMAGE with a HEALTHCHECK of its own; unique to this run. */
const CHECKED_IMAGE = `shoal-busybox:health-${newId().slice(0, 8).toLowerCase()}`;
const LABEL_TASK = 'com.docker.swarm.task.id';

const engine = new Docker({ socketPath: ENGINE.slice('unix://'.length) });
// No embedded DNS: these tasks need none, and its host-wide address may be taken by another run.
const d = new SwarmdProcess(['--dns-addr', ''], { executor: 'docker', dockerHost: ENGINE });
let nodeId = '';

let ready: Promise<void> | undefined;
/** Every test awaits this first: a failing before() would only cancel the tests, which "# fail N" does not count. */
function needSwarm(): Promise<void> {
  ready ??= (async () => {
    await requireEngine(engine, IMAGE, ENGINE);
    await d.start();
    d.ok('swarm', 'init', '--advertise-addr', '127.0.0.1');
    nodeId = d.ok('node', 'ls', '-q').trim();
  })();
  return ready;
}

after(async () => {
  try {
    await d.destroy();
  } finally {
    if (nodeId) {
      const left = await engine.listContainers({ all: true, filters: { label: [`${LABEL_NODE}=${nodeId}`] } }).catch(() => []);
      await Promise.all(left.map((c) => engine.getContainer(c.Id).remove({ force: true }).catch(() => undefined)));
    }
    await engine.getImage(CHECKED_IMAGE).remove({ force: true }).catch(() => undefined);
  }
});

interface Row {
  id: string;
  state: string;
  desired: string;
  error: string;
}

function ps(service: string): Row[] {
  return d
    .ok('service', 'ps', '--no-trunc', '--format', '{{.ID}}|{{.CurrentState}}|{{.DesiredState}}|{{.Error}}', service)
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [id, state, desired, error] = l.split('|');
      return { id, state, desired, error };
    });
}

const current = (service: string) => ps(service).filter((r) => r.desired === 'Running');

/** The task's container as the engine sees it. */
async function containerOf(taskId: string): Promise<Docker.ContainerInspectInfo> {
  const [c] = await engine.listContainers({ all: true, filters: { label: [`${LABEL_TASK}=${taskId}`] } });
  assert.ok(c, `no container for task ${taskId}`);
  return engine.getContainer(c.Id).inspect();
}

/** Runs a command in the task's container (docker exec) and waits for it to end. */
async function execIn(taskId: string, cmd: string[]): Promise<void> {
  const info = await containerOf(taskId);
  const e = await engine.getContainer(info.Id).exec({ Cmd: cmd });
  const stream = await e.start({});
  await new Promise((resolve) => {
    stream.on('end', resolve);
    stream.resume();
  });
}

/** Waits for the service's one current task to be Starting, and returns it. */
async function startingTask(service: string): Promise<Row> {
  return (await d.until(`${service}: one task starting`, () => {
    const rows = current(service);
    return rows.length === 1 && rows[0].state.startsWith('Starting') ? rows[0] : undefined;
  }, 60_000))!;
}

describe('docker executor health checks', () => {
  test('--health-cmd: Starting until the container is healthy, then Running; unhealthy fails and is replaced', async () => {
    await needSwarm();
    d.ok(
      'service', 'create', '-d', '--name', 'hcd', '--stop-grace-period', '1s',
      '--health-cmd', 'test -f /tmp/ready', '--health-interval', '500ms', '--health-retries', '2', '--health-start-period', '1h',
      IMAGE, 'sleep', '3600',
    );
    const first = await startingTask('hcd');
    const before = await containerOf(first.id);
    assert.deepEqual(before.Config.Healthcheck?.Test, ['CMD-SHELL', 'test -f /tmp/ready']);
    await d.until('the engine has probed', async () => ((await containerOf(first.id)).State as any).Health?.Log?.length > 0);
    assert.match(ps('hcd')[0].state, /^Starting/);

    await execIn(first.id, ['touch', '/tmp/ready']);
    await d.until('running once healthy', () => /^Running/.test(current('hcd')[0]?.state ?? ''), 60_000);
    assert.equal(current('hcd')[0].id, first.id);
    assert.equal(((await containerOf(first.id)).State as any).Health.Status, 'healthy');

    await execIn(first.id, ['rm', '/tmp/ready']);
    const failed = (await d.until('failed as unhealthy', () => ps('hcd').find((r) => r.id === first.id && /^Failed/.test(r.state)), 60_000))!;
    assert.match(failed.error, /^"task: non-zero exit \(\d+\): dockerexec: unhealthy container"$/);
    await d.until('a replacement starting', () => current('hcd').find((r) => r.id !== first.id && /^Starting/.test(r.state)), 60_000);
    d.ok('service', 'rm', 'hcd');
  });

  test('the image\'s own HEALTHCHECK gates the task; --no-healthcheck disables it', async () => {
    await needSwarm();
    // An image with a HEALTHCHECK, committed from a throwaway container of the plain one.
    const base = await engine.createContainer({ Image: IMAGE, Cmd: ['true'], Labels: { [LABEL_NODE]: nodeId } });
    await base.commit({ repo: CHECKED_IMAGE.split(':')[0], tag: CHECKED_IMAGE.split(':')[1], changes: 'HEALTHCHECK --interval=500ms --start-period=1h CMD test -f /tmp/ok' });
    await base.remove({ force: true });

    d.ok('service', 'create', '-d', '--name', 'imghc', '--stop-grace-period', '1s', CHECKED_IMAGE, 'sleep', '3600');
    const t = await startingTask('imghc');
    assert.deepEqual((await containerOf(t.id)).Config.Healthcheck?.Test, ['CMD-SHELL', 'test -f /tmp/ok']);
    await d.until('the engine has probed', async () => ((await containerOf(t.id)).State as any).Health?.Log?.length > 0);
    assert.match(current('imghc')[0].state, /^Starting/);
    await execIn(t.id, ['touch', '/tmp/ok']);
    await d.until('running once healthy', () => /^Running/.test(current('imghc')[0]?.state ?? ''), 60_000);

    d.ok('service', 'create', '-d', '--name', 'nohc', '--stop-grace-period', '1s', '--no-healthcheck', CHECKED_IMAGE, 'sleep', '3600');
    const n = (await d.until('nohc running', () => current('nohc').find((r) => /^Running/.test(r.state)), 60_000))!;
    assert.deepEqual((await containerOf(n.id)).Config.Healthcheck?.Test, ['NONE']);
    d.ok('service', 'rm', 'imghc', 'nohc');
  });
});
