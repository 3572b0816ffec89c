/**
 * The docker executor against a real engine: the private dockerd of scripts/dockerd.sh and the shoal-busybox
 * images of scripts/busybox-image.sh. The test never starts dockerd itself, and without one it fails (it must
 * not pass by skipping). Networking goes to a recording fake plumber, which still checks that the namespace
 * path it is given exists; the real bridge plumber has integration tests of its own.
 *
 * Every container made here carries a node ID unique to this run; after() removes them all, even on failure.
 */
import { after, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import Docker from 'dockerode';
import { requireEngine } from '../lab/docker-engine';
import { newId } from '../../control/api/ids';
import type { Network, Task } from '../../control/api/types';
import { silentLogger } from '../../control/base/log';
import { DockerExecutor } from '../../control/agent/docker-executor';
import { LABEL } from '../../control/agent/docker-spec';
import type { LogLine } from '../../control/agent/executor';
import { RecordingPlumber } from '../fakes/recording-plumber';

const HOST = process.env.DOCKER_HOST ?? 'unix:///run/shoal-docker.sock';
const SOCKET = HOST.replace(/^unix:\/\//, '');
const IMAGE = 'shoal-busybox:1';
const NODE = `e2e${newId().slice(0, 12)}`;
const RFC3339_NANO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z$/;

const docker = new Docker({ socketPath: SOCKET });
const plumber = new RecordingPlumber();
const executor = new DockerExecutor({ docker: SOCKET, plumber, log: silentLogger, nodeId: NODE });

const network: Network = {
  ID: 'net1', Name: 'backend', Created: '', Scope: 'swarm', Driver: 'overlay', EnableIPv6: false,
  IPAM: { Driver: 'default', Options: null, Config: [{ Subnet: '10.0.9.0/24', Gateway: '10.0.9.1' }] },
  Internal: false, Attachable: false, Ingress: false, ConfigFrom: { Network: '' }, ConfigOnly: false,
  Containers: null, Options: {}, Labels: {}, VNI: 4101,
};

function task(service: string, args: string[], more: Partial<Task> = {}, spec: Partial<Task['Spec']['ContainerSpec']> = {}): Task {
  return {
    ID: newId(),
    Version: { Index: 1 },
    CreatedAt: '',
    UpdatedAt: '',
    Labels: {},
    ServiceID: `svc-${service}`,
    ServiceAnnotations: { Name: service },
    Slot: 1,
    NodeID: NODE,
    Spec: { ContainerSpec: { Image: IMAGE, Args: args, ...spec } },
    Status: { Timestamp: '', State: 'assigned', Message: '' },
    DesiredState: 'running',
    ...more,
  };
}

async function collect(it: AsyncIterable<LogLine>): Promise<LogLine[]> {
  const out: LogLine[] = [];
  for await (const l of it) out.push(l);
  return out;
}

/**
 * Every test first awaits the engine check, so a missing engine shows as failed tests with the fix in the message
 * (a failing before() hook would only mark them cancelled, which a "# fail N" count does not see).
 */
let engine: Promise<void> | undefined;
function needEngine(): Promise<void> {
  engine ??= (async () => {
    await requireEngine(docker, IMAGE, HOST);
  })();
  return engine;
}

after(async () => {
  const left = await docker.listContainers({ all: true, filters: { label: [`${LABEL.nodeId}=${NODE}`] } }).catch(() => []);
  await Promise.all(left.map((c) => docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined)));
  await executor.close();
});

describe('docker executor', () => {
  beforeEach(needEngine);
  const sleeper = task('web', ['sleep', '3600'], { NetworksAttachments: [{ Network: network, Addresses: ['10.0.9.5/24'] }] });

  test('creates the container with swarm name and labels, starts it, plumbs /proc/PID/ns/net', async (t) => {
    const c = executor.controller(sleeper);
    const t0 = process.hrtime.bigint();
    await c.prepare();
    const t1 = process.hrtime.bigint();
    await c.start();
    const t2 = process.hrtime.bigint();
    t.diagnostic(`prepare ${Number(t1 - t0) / 1e6} ms, start+plumb ${Number(t2 - t1) / 1e6} ms`);

    const name = `web.1.${sleeper.ID}`;
    const info = await docker.getContainer(name).inspect();
    assert.equal(info.Name, `/${name}`);
    assert.deepEqual(info.Config.Labels, {
      [LABEL.serviceId]: 'svc-web',
      [LABEL.serviceName]: 'web',
      [LABEL.task]: '',
      [LABEL.taskId]: sleeper.ID,
      [LABEL.taskName]: name,
      [LABEL.nodeId]: NODE,
    });
    assert.deepEqual(info.Config.Cmd, ['sleep', '3600']);
    assert.equal(info.HostConfig.NetworkMode, 'none');
    assert.equal(await c.isRunning(), true);

    const [attach] = plumber.of('attach');
    assert.equal(attach.taskId, sleeper.ID);
    assert.equal(attach.netnsPath, `/proc/${info.State.Pid}/ns/net`);
    assert.deepEqual(attach.ifaces, [
      { network: { id: 'net1', name: 'backend', subnet: '10.0.9.0/24', gateway: '10.0.9.1', vni: 4101 }, address: '10.0.9.5/24' },
    ]);
    assert.deepEqual(plumber.of('ensureNetwork').map((e) => e.net.id), ['net1']);

    // Idempotent: preparing and starting again changes nothing.
    await c.prepare();
    await c.start();
    assert.equal((await docker.getContainer(name).inspect()).Id, info.Id);
  });

  test('a restarted executor lists the running task and adopts it by ID alone', async () => {
    const again = new DockerExecutor({ docker, plumber, log: silentLogger, nodeId: NODE });
    assert.ok((await again.listTaskIds()).includes(sleeper.ID));
    // The agent removes strays with a stub that has only the ID: no service name, no slot.
    const stub = { ID: sleeper.ID, Spec: { ContainerSpec: { Image: '' } } } as unknown as Task;
    const adopted = again.controller(stub);
    assert.equal(await adopted.isRunning(), true);
    const exited = adopted.wait();

    // sleep as PID 1 ignores SIGTERM, so the stop must come from SIGKILL once the grace period is over.
    const start = Date.now();
    await adopted.shutdown(1000);
    const took = Date.now() - start;
    assert.equal(await adopted.isRunning(), false);
    assert.ok(took >= 900 && took < 10_000, `shutdown took ${took} ms for a 1 s grace period`);
    assert.deepEqual(await exited, { exitCode: 137, message: 'task: non-zero exit (137)' });
    await adopted.shutdown(1000); // already stopped: a no-op

    await adopted.remove();
    await adopted.remove(); // idempotent
    await assert.rejects(docker.getContainer(`web.1.${sleeper.ID}`).inspect(), /no such container/i);
    assert.deepEqual(plumber.of('detach').map((d) => d.taskId), [sleeper.ID, sleeper.ID]);
    assert.ok(!(await executor.listTaskIds()).includes(sleeper.ID));
  });

  test('a global task is named SERVICE.NODEID.TASKID and reports its exit code', async () => {
    const t = task('once', ['sh', '-c', 'exit 3'], { Slot: undefined, NodeID: NODE });
    const c = executor.controller(t);
    await c.prepare();
    await c.start(); // exits at once: nothing to plumb, and no error for it
    assert.deepEqual(await c.wait(), { exitCode: 3, message: 'task: non-zero exit (3)' });
    assert.equal((await docker.getContainer(`once.${NODE}.${t.ID}`).inspect()).State.ExitCode, 3);
    await c.remove();
  });

  test('a missing image rejects prepare() with the engine\'s message, and creates nothing', async () => {
    const t = task('nope', ['true'], {}, { Image: 'shoal-busybox:nope' });
    const c = executor.controller(t);
    await assert.rejects(c.prepare(), /No such image: shoal-busybox:nope/);
    assert.equal(await c.isRunning(), false);
    assert.ok(!(await executor.listTaskIds()).includes(t.ID));
  });

  test('logs() returns both streams, demultiplexed, with timestamps; tail and follow work', async () => {
    const t = task('talk', ['sh', '-c', 'echo hello-out; echo hello-err >&2; echo bye'], { Slot: 2 });
    const c = executor.controller(t);
    await c.prepare();
    await c.start();
    assert.equal((await c.wait()).exitCode, 0);
    const lines = await collect(c.logs({}));
    assert.deepEqual(
      lines.map((l) => [l.stream, l.line]).sort(),
      [['stderr', 'hello-err'], ['stdout', 'bye'], ['stdout', 'hello-out']],
    );
    for (const l of lines) assert.match(l.timestamp, RFC3339_NANO);
    assert.deepEqual((await collect(c.logs({ tail: 1 }))).length, 1);
    await c.remove();

    // follow: lines arrive while the task runs; the abort ends the iteration quietly.
    const f = task('follow', ['sh', '-c', 'echo first; sleep 3600'], { Slot: 1 });
    const fc = executor.controller(f);
    await fc.prepare();
    await fc.start();
    const ac = new AbortController();
    const seen: string[] = [];
    for await (const l of fc.logs({ follow: true, signal: ac.signal })) {
      seen.push(l.line);
      ac.abort();
    }
    assert.deepEqual(seen, ['first']);
    await fc.remove();
  });

  test('the container spec maps to Docker: entrypoint, env, user, dir, hostname, DNS, hosts, mounts, limits', async () => {
    const t = task('conf', ['-c', 'hostname; id -u; pwd; echo $GREETING; cat /etc/resolv.conf; grep db /etc/hosts; cat /VERSION; ls -d /scratch'], {}, {
      Command: ['/bin/sh'],
      Env: ['GREETING=hi'],
      User: '65534',
      Dir: '/tmp',
      Hostname: 'conf-host',
      Init: true,
      ReadOnly: true,
      Labels: { team: 'blue' },
      DNSConfig: { Nameservers: ['10.0.9.2'], Search: ['svc.shoal'], Options: ['ndots:1'] },
      Hosts: ['10.0.9.7 db'],
      Mounts: [{ Type: 'tmpfs', Target: '/scratch' }],
    });
    t.Spec.Resources = { Limits: { NanoCPUs: 5e8, MemoryBytes: 64 * 1024 * 1024, Pids: 50 } };
    const c = executor.controller(t);
    await c.prepare();
    await c.start();
    const exit = await c.wait();
    const out = (await collect(c.logs({}))).map((l) => l.line);
    assert.equal(exit.exitCode, 0, out.join('\n'));
    assert.deepEqual(out, [
      'conf-host', '65534', '/tmp', 'hi',
      'search svc.shoal', 'nameserver 10.0.9.2', 'options ndots:1',
      '10.0.9.7\tdb', '1', '/scratch',
    ]);
    const info = await docker.getContainer(`conf.1.${t.ID}`).inspect();
    assert.equal(info.Config.Labels.team, 'blue');
    assert.equal(info.HostConfig.NanoCpus, 5e8);
    assert.equal(info.HostConfig.Memory, 64 * 1024 * 1024);
    assert.equal(info.HostConfig.PidsLimit, 50);
    assert.equal(info.HostConfig.ReadonlyRootfs, true);
    assert.equal(info.HostConfig.Init, true);
    await c.remove();
  });

  test('describe() reports the engine\'s facts', async () => {
    const f = await executor.describe();
    assert.equal(f.os, 'linux');
    assert.ok(f.hostname.length > 0);
    assert.ok(f.nanoCPUs >= 1e9 && f.nanoCPUs % 1e9 === 0);
    assert.ok(f.memoryBytes > 0);
    assert.match(f.engineVersion, /^\d+\.\d+/);
  });
});
