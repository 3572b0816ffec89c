/**
 * The docker side end to end: a real swarmd with the docker executor on the private engine of
 * scripts/dockerd.sh, driven by the REAL docker CLI (Debian's 20.10 client) pointed at swarmd's socket, and the
 * engine's own `docker ps` view checked underneath. The test never starts dockerd; without one every test fails
 * with the fix in its message (never skips). after() leaves the swarm, removes every container labelled with this
 * run's node ID, stops swarmd and deletes its files, even when a test failed.
 *
 * Steps share one swarm and run in order, each building on the last (init → create → scale → drain → restart → rm).
 * The web service uses --stop-grace-period 1s: `sleep` as PID 1 ignores SIGTERM, so Docker's default 10 s grace
 * would only slow every scale-down, drain and removal.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Docker from 'dockerode';
import { LABEL_NODE, leaveAndSweep, requireEngine } from '../lab/docker-engine';
import { Agent, request } from 'undici';
import { SwarmdProcess, sleep, type CliResult } from '../lab/swarmd-process';

const ENGINE = 'unix:///run/shoal-docker.sock';
const DOCKER = '/usr/bin/docker'; // Debian's docker.io client (20.10); /usr/local/bin/docker may be a newer one
const NEW_DOCKER = '/usr/local/bin/docker';
const IMAGE = 'shoal-busybox:1';
const LABEL_SERVICE = 'com.docker.swarm.service.name';

const engine = new Docker({ socketPath: ENGINE.slice('unix://'.length) });
const d = new SwarmdProcess([], { executor: 'docker', dockerHost: ENGINE });
let nodeId = '';

/** Every test awaits this first: a failing before() would only cancel the tests, which "# fail N" does not count. */
let ready: Promise<void> | undefined;
function needSwarmd(): Promise<void> {
  ready ??= (async () => {
    if (!existsSync(DOCKER)) throw new Error(`no docker client at ${DOCKER}: install Debian's docker.io (apt-get install docker.io)`);
    await requireEngine(engine, IMAGE, ENGINE);
    mkdirSync(join(d.dir, 'docker-config'), { recursive: true });
    await d.start();
  })();
  return ready;
}

/** The docker CLI against swarmd's socket, with a config dir of its own and no inherited DOCKER_HOST/context. */
function docker(...args: string[]): CliResult {
  return run(DOCKER, ['-H', d.host, ...args]);
}

function run(bin: string, args: string[]): CliResult {
  const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_CONFIG: join(d.dir, 'docker-config'), DOCKER_CLI_HINTS: 'false' };
  delete env.DOCKER_HOST;
  delete env.DOCKER_CONTEXT;
  const r = spawnSync(bin, args, { encoding: 'utf8', timeout: 120_000, env });
  return { code: r.status ?? -1, stdout: r.stdout ?? '', stderr: (r.stderr ?? '') + (r.error ? String(r.error) : '') };
}

function ok(...args: string[]): string {
  const r = docker(...args);
  if (r.code !== 0) {
    throw new Error(`docker ${args.join(' ')} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}\nswarmd:\n${d.logs(30)}`);
  }
  return r.stdout;
}

/** The engine's own view: `docker -H <engine> ps` of this node's containers of a service. */
function enginePs(service: string, all = false): { id: string; name: string; taskId: string; serviceId: string; node: string }[] {
  const fmt = `{{.ID}} {{.Names}} {{.Label "com.docker.swarm.task.id"}} {{.Label "com.docker.swarm.service.id"}} {{.Label "${LABEL_NODE}"}}`;
  const args = ['-H', ENGINE, 'ps', '--no-trunc', ...(all ? ['-a'] : []), '--filter', `label=${LABEL_SERVICE}=${service}`, '--filter', `label=${LABEL_NODE}=${nodeId}`, '--format', fmt];
  const r = run(DOCKER, args);
  if (r.code !== 0) throw new Error(`docker ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [id, name, taskId, serviceId, node] = l.split(' ');
      return { id, name, taskId, serviceId, node };
    });
}

async function running(service: string): Promise<string[]> {
  const list = await engine.listContainers({ filters: { label: [`${LABEL_SERVICE}=${service}`, `${LABEL_NODE}=${nodeId}`] } });
  return list.map((c) => c.Id).sort();
}

/** Rows of a docker table (header dropped), split on runs of 2+ spaces. */
function rows(table: string): string[][] {
  return table
    .split('\n')
    .slice(1)
    .filter((l) => l.trim())
    .map((l) => l.trim().split(/\s{2,}/));
}

/** docker service ps through --format: name, node, desired state, current state, error per task. */
function servicePs(...args: string[]): { name: string; node: string; desired: string; current: string; error: string }[] {
  const out = ok('service', 'ps', '--format', '{{.Name}}|{{.Node}}|{{.DesiredState}}|{{.CurrentState}}|{{.Error}}', ...args);
  return out
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [name, node, desired, current, error] = l.split('|');
      return { name: name.trim(), node, desired, current, error };
    });
}

/** The REPLICAS column of docker service ls for one service. */
function replicas(name: string): string | undefined {
  return rows(ok('service', 'ls')).find((r) => r[1] === name)?.[3];
}

function infoLine(info: string, key: string): string | undefined {
  const m = new RegExp(`^\\s*${key}:\\s*(.*)$`, 'm').exec(info);
  return m?.[1].trim();
}

after(() => leaveAndSweep(d, engine, nodeId));

describe('the docker CLI against swarmd with the docker executor', () => {
  test('docker info says Swarm: inactive before init', async () => {
    await needSwarmd();
    const info = ok('info');
    assert.equal(infoLine(info, 'Swarm'), 'inactive', info);
    assert.match(info, /Operating System: Shoal \(docker executor\)/);
    assert.match(ok('version'), /API version:\s+1\.41/);
  });

  test('docker swarm init, then docker info shows the swarm', async () => {
    await needSwarmd();
    const out = ok('swarm', 'init');
    const m = /Swarm initialized: current node \(([0-9a-z]{25})\) is now a manager/.exec(out);
    assert.ok(m, out);
    nodeId = m[1];
    assert.match(out, /docker swarm join --token SWMTKN-1-[0-9a-z]{50}-[0-9a-z]{25} /);
    const info = ok('info');
    assert.equal(infoLine(info, 'Swarm'), 'active', info);
    assert.equal(infoLine(info, 'NodeID'), nodeId);
    assert.equal(infoLine(info, 'Is Manager'), 'true');
    assert.equal(infoLine(info, 'Managers'), '1');
    assert.equal(infoLine(info, 'Nodes'), '1');
    assert.equal(infoLine(info, 'Task History Retention Limit'), '5');
  });

  test('docker swarm update and docker swarm join-token --rotate (POST /swarm/update)', async () => {
    await needSwarmd();
    assert.match(ok('swarm', 'update', '--task-history-limit', '3'), /Swarm updated/);
    assert.equal(infoLine(ok('info'), 'Task History Retention Limit'), '3');
    const before = ok('swarm', 'join-token', '-q', 'worker').trim();
    const rotated = ok('swarm', 'join-token', '--rotate', '-q', 'worker').trim();
    assert.notEqual(rotated, before);
    assert.equal(rotated.slice(0, -25), before.slice(0, -25), 'the CA digest part stays');
    assert.equal(ok('swarm', 'join-token', '-q', 'worker').trim(), rotated);
    const bad = docker('swarm', 'update', '--cert-expiry', '10m');
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /minimum certificate expiry time is: 1h0m0s/);
    ok('swarm', 'update', '--task-history-limit', '5');
  });

  test('docker service create (waiting for convergence) runs 3 containers named web.N.<task> with swarm labels', async () => {
    await needSwarmd();
    const out = ok('service', 'create', '--name', 'web', '--replicas', '3', '--stop-grace-period', '1s', IMAGE, 'sleep', '3600');
    const serviceId = out.split('\n')[0].trim();
    assert.match(serviceId, /^[0-9a-z]{25}$/, out);
    assert.match(out, /verify: Service converged/, out);

    const ls = rows(ok('service', 'ls'));
    assert.deepEqual(ls.map((r) => r.slice(1, 5)), [['web', 'replicated', '3/3', IMAGE]]);
    assert.equal(ls[0][0], serviceId.slice(0, 12));

    const table = ok('service', 'ps', 'web');
    assert.match(table.split('\n')[0], /^ID\s+NAME\s+IMAGE\s+NODE\s+DESIRED STATE\s+CURRENT STATE\s+ERROR\s+PORTS$/);
    assert.equal(rows(table).length, 3, table);
    const ps = servicePs('web');
    assert.deepEqual(ps.map((t) => t.name).sort(), ['web.1', 'web.2', 'web.3']);
    for (const t of ps) {
      assert.equal(t.desired, 'Running');
      assert.match(t.current, /^Running /);
      assert.equal(t.error, '');
    }

    const containers = enginePs('web');
    assert.equal(containers.length, 3, JSON.stringify(containers));
    for (const c of containers) {
      assert.match(c.name, /^web\.[123]\.[0-9a-z]{25}$/);
      assert.equal(c.name.split('.')[2], c.taskId);
      assert.equal(c.serviceId, serviceId);
      assert.equal(c.node, nodeId);
    }
    const psIds = ok('service', 'ps', '--no-trunc', '-q', 'web').split('\n').filter(Boolean).sort();
    assert.deepEqual(containers.map((c) => c.taskId).sort(), psIds);
  });

  test('docker service inspect (JSON and --pretty)', async () => {
    await needSwarmd();
    const [svc] = JSON.parse(ok('service', 'inspect', 'web'));
    assert.equal(svc.Spec.Name, 'web');
    assert.equal(svc.Spec.Mode.Replicated.Replicas, 3);
    assert.equal(svc.Spec.TaskTemplate.ContainerSpec.Image, IMAGE);
    assert.deepEqual(svc.Spec.TaskTemplate.ContainerSpec.Args, ['sleep', '3600']);
    assert.equal(svc.Spec.TaskTemplate.ContainerSpec.StopGracePeriod, 1e9);
    const pretty = ok('service', 'inspect', '--pretty', 'web');
    assert.match(pretty, /^Name:\s+web$/m);
    assert.match(pretty, /^Service Mode:\s+Replicated$/m);
    assert.match(pretty, /^ Replicas:\s+3$/m);
    assert.match(pretty, /^ Image:\s+shoal-busybox:1$/m);
    assert.match(pretty, /^ Args:\s+sleep 3600\s*$/m);
  });

  test('docker service scale web=5 adds containers; scale -d web=2 removes them', async () => {
    await needSwarmd();
    assert.match(ok('service', 'scale', 'web=5'), /web scaled to 5/);
    assert.equal((await running('web')).length, 5);
    assert.equal(replicas('web'), '5/5');

    const out = ok('service', 'scale', '-d', 'web=2');
    assert.match(out, /web scaled to 2/);
    await d.until('2 web containers', async () => (await running('web')).length === 2, 30_000);
    const names = enginePs('web').map((c) => c.name.split('.').slice(0, 2).join('.')).sort();
    assert.deepEqual(names, ['web.1', 'web.2']);
    // Removed tasks' containers are gone from the engine too, not just stopped.
    await d.until('stopped web containers removed', () => enginePs('web', true).length === 2, 30_000);
    await d.until('service ls 2/2', () => replicas('web') === '2/2');
  });

  test('docker service update --image between two local tags replaces the containers one at a time, and rollback returns', async () => {
    await needSwarmd();
    const before = await running('web');
    const out = ok('service', 'update', '--image', 'shoal-busybox:2', '--update-parallelism', '1', '--update-monitor', '1s', 'web');
    assert.match(out, /verify: Service converged/, out);
    const images = async () => (await engine.listContainers({ filters: { label: [`${LABEL_SERVICE}=web`, `${LABEL_NODE}=${nodeId}`] } })).map((c) => c.Image).sort();
    assert.deepEqual(await images(), ['shoal-busybox:2', 'shoal-busybox:2']);
    assert.equal((await running('web')).filter((id) => before.includes(id)).length, 0, 'every container was replaced');
    const history = servicePs('web');
    // Each slot keeps its old task as history (--format drops the table's "\\_" prefix).
    for (const slot of ['web.1', 'web.2']) assert.ok(history.some((t) => t.name === slot && t.desired === 'Shutdown' && /^Shutdown /.test(t.current)), JSON.stringify(history));
    assert.match(ok('service', 'rollback', 'web'), /rollback: manually requested rollback/);
    await d.until('back on shoal-busybox:1', async () => JSON.stringify(await images()) === JSON.stringify([IMAGE, IMAGE]), 60_000);
    const [svc] = JSON.parse(ok('service', 'inspect', 'web'));
    assert.equal(svc.Spec.TaskTemplate.ContainerSpec.Image, IMAGE);
    await d.until('rollback completed', () => JSON.parse(ok('service', 'inspect', 'web'))[0].UpdateStatus?.State === 'rollback_completed', 30_000);
  });

  test('docker node ls / inspect self / update --availability drain, then active', async () => {
    await needSwarmd();
    const nodes = rows(ok('node', 'ls'));
    assert.equal(nodes.length, 1);
    assert.equal(nodes[0][0], `${nodeId} *`);
    assert.deepEqual(nodes[0].slice(2, 5), ['Ready', 'Active', 'Leader']);

    const [self] = JSON.parse(ok('node', 'inspect', 'self'));
    assert.equal(self.ID, nodeId);
    assert.equal(self.Spec.Role, 'manager');
    assert.equal(self.Spec.Availability, 'active');
    assert.equal(self.Status.State, 'ready');
    assert.equal(self.ManagerStatus.Leader, true);
    assert.match(ok('node', 'inspect', '--pretty', 'self'), /^ Availability:\s+Active$/m);

    ok('node', 'update', '--availability', 'drain', nodeId);
    try {
      await drained();
    } finally {
      ok('node', 'update', '--availability', 'active', nodeId); // the next steps need the node, even after a failure
    }
    await d.until('web back on the node', async () => (await running('web')).length === 2, 30_000);
    await d.until('service ls 2/2', () => replicas('web') === '2/2');
  });

  async function drained(): Promise<void> {
    assert.equal(rows(ok('node', 'ls'))[0][3], 'Drain');
    await d.until('web drained off the only node', async () => (await running('web')).length === 0, 30_000);
    const pending = servicePs('--no-trunc', '--filter', 'desired-state=running', 'web');
    assert.equal(pending.length, 2, JSON.stringify(pending));
    for (const t of pending) {
      assert.match(t.current, /^Pending /);
      assert.equal(t.error, '"no suitable node (1 node not available for new tasks)"'); // the CLI quotes errors
    }
  }

  test('docker network create -d overlay appnet / network ls / inspect / rm', async () => {
    await needSwarmd();
    const id = ok('network', 'create', '-d', 'overlay', 'appnet').trim();
    assert.match(id, /^[0-9a-z]{25}$/);
    const ls = rows(ok('network', 'ls'));
    assert.deepEqual(ls.find((r) => r[1] === 'appnet'), [id.slice(0, 12), 'appnet', 'overlay', 'swarm']);
    assert.ok(ls.find((r) => r[1] === 'ingress'), ls.join('\n'));
    assert.deepEqual(rows(ok('network', 'ls', '--filter', 'name=appnet')).map((r) => r[1]), ['appnet']);
    const [net] = JSON.parse(ok('network', 'inspect', 'appnet'));
    assert.equal(net.Name, 'appnet');
    assert.equal(net.Driver, 'overlay');
    assert.match(net.IPAM.Config[0].Subnet, /^10\.\d+\.\d+\.0\/24$/);
    assert.match(ok('network', 'rm', 'appnet'), /appnet/);
    assert.equal(rows(ok('network', 'ls')).find((r) => r[1] === 'appnet'), undefined);
  });

  test('a missing image: service create -d returns at once, the task is Rejected with the engine\'s "No such image"', async () => {
    await needSwarmd();
    const out = ok('service', 'create', '-d', '--name', 'bad', 'shoal-busybox:nope', 'sleep', '1');
    assert.match(out.trim(), /^[0-9a-z]{25}$/); // -d: only the ID, no progress
    const ps = await d.until('a rejected bad task', () => {
      const t = ok('service', 'ps', '--no-trunc', 'bad');
      return /Rejected/.test(t) && /No such image: shoal-busybox:nope/.test(t) ? t : '';
    });
    ok('service', 'rm', 'bad'); // first: a rejected task is replaced at once, so history piles up while it exists
    assert.match(ps.split('\n')[0], /^ID\s+NAME\s+IMAGE\s+NODE\s+DESIRED STATE\s+CURRENT STATE\s+ERROR\s+PORTS$/);
    const rejected = ps.split('\n').find((l) => /\sRejected .*No such image: shoal-busybox:nope/.test(l));
    assert.ok(rejected, ps);
    assert.match(rejected, /^[0-9a-z]{25}\s+(\\_ )?bad\.1\s+shoal-busybox:nope\s/);
    assert.deepEqual(enginePs('bad', true), []);
  });

  test('a swarmd restart adopts the running containers (same IDs, no new ones)', async () => {
    await needSwarmd();
    const before = await running('web');
    assert.equal(before.length, 2);
    // Drained tasks' containers stay, stopped, as Docker keeps them for the task history: count all of them.
    const allBefore = enginePs('web', true).map((c) => c.id).sort();
    await d.stop();
    assert.deepEqual(await running('web'), before, 'containers keep running while swarmd is down');
    await d.start();
    await d.until('service ls 2/2 after restart', () => replicas('web') === '2/2');
    await sleep(3000); // give a wrong reconciliation the time to replace them
    assert.deepEqual(await running('web'), before);
    assert.deepEqual(enginePs('web', true).map((c) => c.id).sort(), allBefore, 'no container created or removed');
    const ps = servicePs('web');
    assert.equal(ps.filter((t) => t.desired === 'Running' && /^Running /.test(t.current)).length, 2, JSON.stringify(ps));
  });

  test('measure: service create --replicas 10 to 10 running containers', async (t) => {
    await needSwarmd();
    const t0 = process.hrtime.bigint();
    ok('service', 'create', '-d', '--name', 'ten', '--replicas', '10', '--stop-grace-period', '1s', IMAGE, 'sleep', '3600');
    const t1 = process.hrtime.bigint();
    await d.until('10 running containers', async () => (await running('ten')).length === 10, 60_000);
    const t2 = process.hrtime.bigint();
    const msg = `service create --replicas 10 -> 10 running containers: ${(Number(t2 - t0) / 1e9).toFixed(2)} s (the CLI call itself ${(Number(t1 - t0) / 1e9).toFixed(2)} s)`;
    t.diagnostic(msg);
    console.log(`# ${msg}`);
    ok('service', 'rm', 'ten');
    await d.until('ten containers removed', () => enginePs('ten', true).length === 0, 30_000);
  });

  test('docker service rm web removes its containers', async () => {
    await needSwarmd();
    assert.match(ok('service', 'rm', 'web'), /^web$/m);
    assert.deepEqual(rows(ok('service', 'ls')), []);
    await d.until('web containers removed', () => enginePs('web', true).length === 0, 30_000);
  });

  test('the newer docker client (/usr/local/bin/docker) negotiates down to 1.41 and reads the same views', async (t) => {
    await needSwarmd();
    if (!existsSync(NEW_DOCKER)) {
      t.diagnostic(`${NEW_DOCKER} absent: nothing to compare`);
      return;
    }
    const info = run(NEW_DOCKER, ['-H', d.host, 'info']);
    assert.equal(info.code, 0, info.stderr);
    assert.equal(infoLine(info.stdout, 'Swarm'), 'active');
    const nodes = run(NEW_DOCKER, ['-H', d.host, 'node', 'ls']);
    assert.equal(nodes.code, 0, nodes.stderr);
    assert.match(nodes.stdout, new RegExp(`^${nodeId} \\*`, 'm'));
    const ls = run(NEW_DOCKER, ['-H', d.host, 'service', 'ls']);
    assert.equal(ls.code, 0, ls.stderr);
  });

  test('docker swarm leave --force removes the node\'s containers and makes the swarm inactive', async () => {
    await needSwarmd();
    ok('service', 'create', '-d', '--name', 'last', '--stop-grace-period', '1s', IMAGE, 'sleep', '3600');
    await d.until('last running', async () => (await running('last')).length === 1);
    assert.match(ok('swarm', 'leave', '--force'), /Node left the swarm/);
    assert.deepEqual(await engine.listContainers({ all: true, filters: { label: [`${LABEL_NODE}=${nodeId}`] } }), []);
    assert.equal(infoLine(ok('info'), 'Swarm'), 'inactive');
  });
});
