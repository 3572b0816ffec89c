/**
 * The iptables mesh on the real kernel, all inside namespaces this test makes: a "node" namespace holding the
 * ingress bridge (10.0.0.1/24) and the mesh's rules, two "task" namespaces on that bridge each running a TCP
 * server that answers with its name and the address it saw, and a "client" namespace on a veth to the node
 * (192.168.77.2 → node 192.168.77.1). The host's own iptables are never touched.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { FakeClock } from '../../control/base/clock';
import { exec } from '../../control/base/exec';
import { silentLogger } from '../../control/base/log';
import { IptablesApplier } from '../../mesh/iptables/applier';
import { IptablesMesh } from '../../mesh/iptables/iptables-mesh';
import { plan } from '../../mesh/iptables/plan';
import { renderRestore } from '../../mesh/iptables/render';
import type { EndpointTable } from '../../mesh/endpoint-table';
import { requireCommands } from '../lab/require';

const id = randomBytes(3).toString('hex');
const NS = { node: `shl-ipt-node-${id}`, t1: `shl-ipt-t1-${id}`, t2: `shl-ipt-t2-${id}`, client: `shl-ipt-cl-${id}` };
const servers: ChildProcess[] = [];
const sh = (cmd: string) => exec(['sh', '-c', cmd]);
const inNs = (ns: string, cmd: string) => exec(['ip', 'netns', 'exec', ns, 'sh', '-c', cmd]);

const SERVER = `require('net').createServer((c) => c.on('error', () => {}).end(process.env.NAME + ' ' + c.remoteAddress.replace('::ffff:', ''))).listen(80)`;
/** From the client namespace: n connections to NODE:8080, each answer a line. */
const CLIENT = (n: number) =>
  `const net=require('net');(async()=>{for(let i=0;i<${n};i++){await new Promise((res)=>{const c=net.connect(8080,'192.168.77.1');let d='';` +
  `c.setTimeout(2000,()=>{d='timeout';c.destroy();res()});c.on('data',(x)=>d+=x);c.on('end',()=>{console.log(d);res()});c.on('error',(e)=>{console.log('error '+e.code);res()})})}})()`;

async function answers(n: number): Promise<string[]> {
  const r = await exec(['ip', 'netns', 'exec', NS.client, process.execPath, '-e', CLIENT(n)], { timeoutMs: 60_000 });
  return r.stdout.trim().split('\n');
}

const TABLE: EndpointTable = {
  ingressNetworkId: 'ing',
  networks: { ing: { name: 'ingress', subnet: '10.0.0.0/24' } },
  services: [{
    serviceId: 'svc1', serviceName: 'web', mode: 'vip', vips: { ing: '10.0.0.2' }, aliases: {},
    ports: [{ protocol: 'tcp', targetPort: 80, publishedPort: 8080, publishMode: 'ingress' }],
    backends: [
      { taskId: 't1', name: 'web.1.t1', nodeId: 'n1', addrs: { ing: '10.0.0.5' } },
      { taskId: 't2', name: 'web.2.t2', nodeId: 'n1', addrs: { ing: '10.0.0.6' } },
    ],
  }],
};

before(async () => {
  requireCommands(['ip', 'iptables', 'conntrack']);
  for (const ns of Object.values(NS)) await exec(['ip', 'netns', 'add', ns]);
  await inNs(NS.node, 'ip link set lo up && ip link add br-ing type bridge && ip addr add 10.0.0.1/24 dev br-ing && ip link set br-ing up');
  for (const [i, t] of [[5, NS.t1], [6, NS.t2]] as const) {
    await sh(`ip -n ${NS.node} link add vh${i}${id} type veth peer name eth0 netns ${t}`);
    await inNs(NS.node, `ip link set vh${i}${id} master br-ing && ip link set vh${i}${id} up`);
    await inNs(t, `ip link set lo up && ip addr add 10.0.0.${i}/24 dev eth0 && ip link set eth0 up && ip route add default via 10.0.0.1`);
    const name = t === NS.t1 ? 't1' : 't2';
    const child = spawn('ip', ['netns', 'exec', t, 'env', `NAME=${name}`, process.execPath, '-e', SERVER], { stdio: 'ignore' });
    servers.push(child);
  }
  await sh(`ip -n ${NS.node} link add up0 type veth peer name eth0 netns ${NS.client}`);
  await inNs(NS.node, 'ip addr add 192.168.77.1/24 dev up0 && ip link set up0 up');
  await inNs(NS.client, 'ip link set lo up && ip addr add 192.168.77.2/24 dev eth0 && ip link set eth0 up && ip route add default via 192.168.77.1');
  // Wait for both servers (direct, no mesh involved).
  for (const ip of ['10.0.0.5', '10.0.0.6']) {
    for (let i = 0; ; i++) {
      try {
        await exec(['ip', 'netns', 'exec', NS.node, process.execPath, '-e', `require('net').connect(80,'${ip}').on('connect',()=>process.exit(0)).on('error',()=>process.exit(1))`]);
        break;
      } catch (e) {
        if (i > 50) throw e;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }
});

after(async () => {
  if (process.env.KEEP_IPT_LAB) return;
  for (const s of servers) if (s.pid) try { process.kill(s.pid); } catch { /* already gone */ }
  for (const ns of Object.values(NS)) await exec(['ip', 'netns', 'del', ns]).catch(() => undefined);
});

test('published port through the iptables mesh: both backends, real client address, drift repair, full cleanup', async () => {
  const clock = new FakeClock();
  const mesh = new IptablesMesh({ nodeId: 'n1', addresses: () => ['192.168.77.1'], logger: silentLogger, clock, netns: NS.node, bridgeName: () => 'br-ing', minSyncIntervalMs: 0, resyncIntervalMs: 30_000 });
  try {
    await mesh.start();
    mesh.apply(TABLE);
    await mesh.settled();
    assert.equal(mesh.counters().failures, 0);

    const seen = await answers(30);
    const names = new Set(seen.map((l) => l.split(' ')[0]));
    assert.deepEqual([...names].sort(), ['t1', 't2'], seen.join('\n'));
    // Ingress to a task on the node that took the connection keeps the client's address (Docker: moby#25526).
    assert.ok(seen.every((l) => l.endsWith(' 192.168.77.2')), seen.join('\n'));
    // The planner writes rules exactly as iptables-save prints them (probabilities included), so a full sync
    // over this kernel — a restarted swarmd — finds every chain equal and has nothing to write.
    const node = { nodeId: 'n1', addresses: ['192.168.77.1'], bridgeName: () => 'br-ing' };
    const kernel = await new IptablesApplier({ exec, netns: NS.node }).readKernel();
    assert.equal(renderRestore(plan(TABLE, node), { kernel }), '');

    // Someone flushes a service chain by hand: the connection fails, the periodic resync repairs it.
    const save = (await exec(['ip', 'netns', 'exec', NS.node, 'iptables-save', '-t', 'nat'])).stdout;
    const svcChain = /:(SHOAL-SVC-\w+)/.exec(save)![1];
    await exec(['ip', 'netns', 'exec', NS.node, 'iptables', '-w', '-t', 'nat', '-F', svcChain]);
    clock.advance(30_000);
    await mesh.settled();
    assert.equal(mesh.counters().driftRepairs, 1);
    const again = new Set((await answers(20)).map((l) => l.split(' ')[0]));
    assert.deepEqual([...again].sort(), ['t1', 't2']);

    // One backend goes: a partial sync, and only t1 answers.
    mesh.apply({ ...TABLE, services: [{ ...TABLE.services[0], backends: [TABLE.services[0].backends[0]] }] });
    await mesh.settled();
    assert.ok(mesh.counters().partialSyncs >= 1);
    assert.deepEqual([...new Set(await answers(10))], ['t1 192.168.77.2']);
  } finally {
    if (!process.env.KEEP_IPT_LAB) await mesh.stop();
  }
  const left = (await exec(['ip', 'netns', 'exec', NS.node, 'iptables-save'])).stdout;
  assert.doesNotMatch(left, /SHOAL-/, left);
});

test('shoal.mesh.accounting=bytes: the kernel counts what clients sent and got back, per entry point, in iptables-save\'s own form', async () => {
  const clock = new FakeClock();
  const counted: EndpointTable = { ...TABLE, services: [{ ...TABLE.services[0], accounting: true }] };
  const mesh = new IptablesMesh({ nodeId: 'n1', addresses: () => ['192.168.77.1'], logger: silentLogger, clock, netns: NS.node, bridgeName: () => 'br-ing', minSyncIntervalMs: 0 });
  try {
    await mesh.start();
    mesh.apply(counted);
    await mesh.settled();
    const node = { nodeId: 'n1', addresses: ['192.168.77.1'], bridgeName: () => 'br-ing' };
    const kernel = await new IptablesApplier({ exec, netns: NS.node }).readKernel();
    assert.equal(renderRestore(plan(counted, node), { kernel }), '', 'the accounting rules and marks are written as the kernel prints them');

    const seen = await answers(10);
    assert.equal(seen.length, 10);
    // Each answer is "tN 192.168.77.2" (16 bytes of payload) over its own connection: the reply direction carries
    // at least the payloads plus the handshake and teardown packets' headers.
    clock.advance(60_000);
    const rows = await mesh.entryPointCounts();
    const ingress = rows.find((r) => r.entry === 'ingress')!;
    assert.ok(ingress.connections >= 10, `connections ${ingress.connections}`);
    assert.ok((ingress.bytesOut ?? 0) >= 10 * (16 + 3 * 40), `sent ${ingress.bytesOut}`);
    assert.ok((ingress.bytesIn ?? 0) >= 10 * 3 * 40, `received ${ingress.bytesIn}`);
    // The VIP entry point took no traffic: counted, and zero.
    const vip = rows.find((r) => r.entry === 'vip')!;
    assert.deepEqual([vip.bytesIn, vip.bytesOut], [0, 0]);
  } finally {
    await mesh.stop();
  }
  const left = (await exec(['ip', 'netns', 'exec', NS.node, 'iptables-save'])).stdout;
  assert.doesNotMatch(left, /SHOAL-/, left);
});
