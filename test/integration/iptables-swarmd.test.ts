/**
 * swarmd --mesh iptables, for real, in a lab: the node is a network namespace of its own (so the rules are the
 * namespace's, never the host's) with a client namespace beside it on a veth. A published port answers the
 * client from both tasks, the tasks see the client's real address (Docker's mesh hides it: moby#25526), and
 * leaving the swarm removes every chain swarmd made.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SwarmdProcess } from '../lab/swarmd-process';
import { requireCommands } from '../lab/require';
import { makeTwoHosts, removeNamespaces } from '../lab/two-hosts';

const NODE_NS = `shl-lab-node-${process.pid}`;
const CLIENT_NS = `shl-lab-cli-${process.pid}`;
const NODE_IP = '192.168.213.1';
const CLIENT_IP = '192.168.213.2';
const www = mkdtempSync(join(tmpdir(), 'shoal-www-'));
let d: SwarmdProcess;

/** A tiny HTTP client for the client namespace: prints the body, fails on errors or after 2 s. */
const GET = `require('http').get(process.argv[1], { timeout: 2000 }, (r) => { let b = ''; r.on('data', (c) => (b += c)); r.on('end', () => process.stdout.write(b)); }).on('error', () => process.exit(1)).on('timeout', () => process.exit(1));`;

const inNs = (ns: string, ...argv: string[]) => execFileSync('ip', ['netns', 'exec', ns, ...argv], { encoding: 'utf8', timeout: 10_000 });

before(async () => {
  requireCommands(['ip', 'iptables', 'busybox']);
  makeTwoHosts({ nodeNs: NODE_NS, clientNs: CLIENT_NS, nodeIp: NODE_IP, clientIp: CLIENT_IP, nodeDev: 'shlabn0', clientDev: 'shlabc0' });
  d = new SwarmdProcess(['--mesh', 'iptables'], { netns: NODE_NS });
  await d.start();
  d.ok('swarm', 'init', '--advertise-addr', NODE_IP);
  // Each task serves a page naming its own hostname, and logs every request with the client's address (-v).
  const cmd = `mkdir -p ${www}/$(hostname) && hostname > ${www}/$(hostname)/index.html && exec busybox httpd -f -v -p 80 -h ${www}/$(hostname)`;
  d.ok('service', 'create', '--name', 'web', '--replicas', '2', '--hostname', 'web-{{.Task.Slot}}', '-p', '8080:80', 'busybox', 'sh', '-c', cmd);
});

after(async () => {
  try {
    await d?.destroy();
  } finally {
    removeNamespaces(NODE_NS, CLIENT_NS);
    rmSync(www, { recursive: true, force: true });
  }
});

test('a published port answers a client on another host from both tasks', async () => {
  const seen = new Set<string>();
  await d.until('both tasks answer', () => {
    try {
      seen.add(inNs(CLIENT_NS, process.execPath, '-e', GET, `http://${NODE_IP}:8080/`).trim());
    } catch {
      /* rules or tasks not ready yet */
    }
    return seen.has('web-1') && seen.has('web-2');
  });
  assert.deepEqual([...seen].sort(), ['web-1', 'web-2']);
  assert.match(inNs(NODE_NS, 'iptables-save', '-t', 'nat'), /SHOAL-INGRESS/);
});

test('the task sees the client\'s real address', async () => {
  // busybox httpd -v logs each request's peer address (on stderr, which service logs keeps on stderr).
  await d.until('the client address in the task logs', () => d.cli('service', 'logs', 'web').stderr.includes(CLIENT_IP), 10_000);
});

test('leaving the swarm removes every chain swarmd made', async () => {
  d.ok('swarm', 'leave', '--force');
  await d.until('no SHOAL chains', () => !/SHOAL-/.test(inNs(NODE_NS, 'iptables-save')));
});
