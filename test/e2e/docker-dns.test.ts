/**
 * Service discovery in containers: a real swarmd with the docker executor on the private engine of
 * scripts/dockerd.sh; a container task (busybox nslookup in shoal-busybox:1, run with `docker exec`) resolves
 * another service's name to its VIP and tasks.NAME to every running task, through the node's resolver, which the
 * executor wrote into the container's resolv.conf. The resolver listens on an address of this test's own
 * (--dns-addr), not the default one another swarmd on this machine may hold. Without an engine or the image every
 * test fails with the fix in its message. after() leaves the swarm, removes this run's containers and stops swarmd.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import Docker from 'dockerode';
import { LABEL_NODE, leaveAndSweep, requireEngine } from '../lab/docker-engine';
import { Agent, request } from 'undici';
import { SwarmdProcess } from '../lab/swarmd-process';

const ENGINE = 'unix:///run/shoal-docker.sock';
const IMAGE = 'shoal-busybox:1';
const DNS_ADDR = '169.254.53.87';
const LABEL_SERVICE = 'com.docker.swarm.service.name';

const engine = new Docker({ socketPath: ENGINE.slice('unix://'.length) });
const d = new SwarmdProcess(['--dns-addr', DNS_ADDR], { executor: 'docker', dockerHost: ENGINE });
let nodeId = '';

let ready: Promise<void> | undefined;
function needSwarm(): Promise<void> {
  ready ??= (async () => {
    await requireEngine(engine, IMAGE, ENGINE);
    await d.start();
    d.ok('swarm', 'init', '--advertise-addr', '127.0.0.1');
    nodeId = d.ok('node', 'ls', '-q').trim().split('\n')[0];
    d.ok('network', 'create', '--subnet', '10.213.97.0/24', 'dnsnet');
    d.ok('service', 'create', '--name', 'web', '--replicas', '2', '--network', 'dnsnet', '--stop-grace-period', '1s', IMAGE, 'sleep', '3600');
    d.ok('service', 'create', '--name', 'client', '--network', 'dnsnet', '--stop-grace-period', '1s', IMAGE, 'sleep', '3600');
    await d.until('3 running containers', async () => (await containers('web')).length === 2 && (await containers('client')).length === 1, 60_000);
  })();
  return ready;
}

after(() => leaveAndSweep(d, engine, nodeId));

async function containers(service: string): Promise<Docker.ContainerInfo[]> {
  return engine.listContainers({ filters: { label: [`${LABEL_SERVICE}=${service}`, `${LABEL_NODE}=${nodeId}`] } });
}

/** Runs a command in the client container; returns its output (stdout and stderr). */
async function inClient(cmd: string[]): Promise<string> {
  const [c] = await containers('client');
  assert.ok(c, 'no client container');
  const exec = await engine.getContainer(c.Id).exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true });
  const stream = await exec.start({ hijack: true, stdin: false });
  const chunks: Buffer[] = [];
  await new Promise<void>((resolve, reject) => {
    stream.on('data', (b: Buffer) => chunks.push(b));
    stream.on('end', () => resolve());
    stream.on('error', reject);
  });
  // Multiplexed frames: an 8-byte header (stream, 0, 0, 0, length) before each payload.
  const all = Buffer.concat(chunks);
  let out = '';
  for (let o = 0; o + 8 <= all.length; ) {
    const n = all.readUInt32BE(o + 4);
    out += all.toString('utf8', o + 8, o + 8 + n);
    o += 8 + n;
  }
  return out;
}

/** The IPv4 addresses busybox nslookup prints in its answer section for a name, asked inside the client. */
async function lookup(name: string): Promise<string[]> {
  const out = await inClient(['nslookup', name]);
  const answer = out.split(/\n\n/).slice(1).join('\n');
  return [...new Set([...answer.matchAll(/Address:\s+(\d+\.\d+\.\d+\.\d+)/g)].map((m) => m[1]))].sort();
}

/** Each running task's address on dnsnet, from the cluster API (the allocator's view). */
async function taskAddrs(service: string): Promise<string[]> {
  const filters = encodeURIComponent(JSON.stringify({ service: [service], 'desired-state': ['running'] }));
  const r = await request(`http://swarmd/tasks?filters=${filters}`, { dispatcher: new Agent({ connect: { socketPath: d.socket } }) });
  const tasks = (await r.body.json()) as { NetworksAttachments?: { Network: { Name: string }; Addresses: string[] }[] }[];
  return tasks
    .flatMap((t) =>
      (t.NetworksAttachments ?? []).filter((a) => a.Network.Name === 'dnsnet').flatMap((a) => a.Addresses.map((x) => x.split('/')[0])),
    )
    .sort();
}

test('the container resolv.conf names the node resolver', async () => {
  await needSwarm();
  const conf = await inClient(['cat', '/etc/resolv.conf']);
  assert.match(conf, new RegExp(`^nameserver ${DNS_ADDR.replace(/\./g, '\\.')}$`, 'm'), conf);
});

test('a container resolves another service to its VIP and tasks.NAME to every running task', async () => {
  await needSwarm();
  const [svc] = JSON.parse(d.ok('service', 'inspect', 'web'));
  const vip = svc.Endpoint.VirtualIPs.find((v: { Addr: string }) => v.Addr.startsWith('10.213.97.')).Addr.split('/')[0];
  assert.deepEqual(await lookup('web'), [vip], await inClient(['nslookup', 'web']));
  const tasks = await taskAddrs('web');
  assert.equal(tasks.length, 2, JSON.stringify(tasks));
  assert.deepEqual(await lookup('tasks.web'), tasks, await inClient(['nslookup', 'tasks.web']));
});
