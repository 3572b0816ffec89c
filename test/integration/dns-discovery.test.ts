/**
 * Service discovery from inside real tasks (process executor, busybox nslookup in the task's namespace): the
 * service name gives its VIP, tasks.NAME every running task, answers follow a scale within the short TTL, a task
 * on another network does not see the name, and other names are forwarded to the upstream swarmd was given
 * (here a small DNS server of the test's own on loopback).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import * as dgram from 'node:dgram';
import * as packet from 'dns-packet';
import { SwarmdProcess } from '../lab/swarmd-process';
import { requireCommands } from '../lab/require';

let upstream: dgram.Socket;
let d: SwarmdProcess;

/** An upstream resolver that knows one name. */
async function startUpstream(): Promise<number> {
  upstream = dgram.createSocket('udp4');
  upstream.on('message', (msg, rinfo) => {
    const q = packet.decode(msg);
    const name = q.questions?.[0]?.name ?? '';
    const answers = name === 'outside.example.test' ? [{ type: 'A' as const, name, ttl: 60, data: '192.0.2.7' }] : [];
    const reply = packet.encode({ id: q.id, type: 'response', flags: packet.RECURSION_DESIRED | packet.RECURSION_AVAILABLE, questions: q.questions, answers, rcode: answers.length ? 'NOERROR' : 'NXDOMAIN' } as any);
    upstream.send(reply, rinfo.port, rinfo.address);
  });
  await new Promise<void>((r) => upstream.bind(0, '127.0.0.1', () => r()));
  return (upstream.address() as { port: number }).port;
}

before(async () => {
  requireCommands(['ip', 'busybox', 'sleep']);
  const port = await startUpstream();
  d = new SwarmdProcess(['--dns-upstream', `127.0.0.1:${port}`]);
  await d.start();
  d.ok('swarm', 'init', '--advertise-addr', '127.0.0.1');
  d.ok('network', 'create', '--subnet', '10.213.91.0/24', 'appnet');
  d.ok('network', 'create', '--subnet', '10.213.92.0/24', 'othernet');
  d.ok('service', 'create', '--name', 'web', '--replicas', '2', '--network', 'appnet', 'busybox', 'sleep', '3600');
  d.ok('service', 'create', '--name', 'client', '--network', 'appnet', 'busybox', 'sleep', '3600');
  d.ok('service', 'create', '--name', 'stranger', '--network', 'othernet', 'busybox', 'sleep', '3600');
});
after(async () => {
  await d?.destroy();
  upstream?.close();
});

const taskOf = (service: string) => d.ok('service', 'ps', '-q', '--no-trunc', '--filter', 'desired-state=running', service).trim().split('\n')[0];

/**
 * The IPv4 addresses busybox nslookup prints for a name, asked from inside a task of `service`. Asynchronous, so
 * the test's own upstream resolver (in this process) can answer meanwhile.
 */
async function lookup(service: string, name: string): Promise<string[]> {
  let out = '';
  try {
    out = (await promisify(execFile)('ip', ['netns', 'exec', `shoal-${taskOf(service)}`, 'busybox', 'nslookup', name], { encoding: 'utf8', timeout: 10_000 })).stdout;
  } catch (e) {
    out = String((e as { stdout?: string }).stdout ?? '');
  }
  const answer = out.split(/\n\n/).slice(1).join('\n');
  return [...new Set([...answer.matchAll(/Address:\s+(\d+\.\d+\.\d+\.\d+)/g)].map((m) => m[1]))].sort();
}

const appnetAddrs = (service: string): string[] => {
  const ids = d.ok('service', 'ps', '-q', '--no-trunc', '--filter', 'desired-state=running', service).trim().split('\n');
  return ids
    .map((id) => /inet (10\.213\.91\.\d+)/.exec(execFileSync('ip', ['-n', `shoal-${id}`, '-o', '-4', 'addr'], { encoding: 'utf8' }))?.[1] ?? '')
    .sort();
};

test('a task resolves a service to its VIP and tasks.SERVICE to every running task', async () => {
  const [svc] = JSON.parse(d.ok('service', 'inspect', 'web'));
  const vip = svc.Endpoint.VirtualIPs[0].Addr.split('/')[0];
  assert.deepEqual(await lookup('client', 'web'), [vip]);
  assert.deepEqual(await lookup('client', 'tasks.web'), appnetAddrs('web'));
  assert.equal((await lookup('client', 'tasks.web')).length, 2);
});

test('answers follow a scale within the short TTL', async () => {
  d.ok('service', 'scale', 'web=3');
  await d.until('three task addresses', async () => (await lookup('client', 'tasks.web')).length === 3, 10_000);
  assert.deepEqual(await lookup('client', 'tasks.web'), appnetAddrs('web'));
});

test('a task on another network does not see the name', async () => {
  assert.deepEqual(await lookup('stranger', 'web'), []);
  assert.deepEqual(await lookup('stranger', 'tasks.web'), []);
});

test('other names are forwarded to the upstream', async () => {
  assert.deepEqual(await lookup('client', 'outside.example.test'), ['192.0.2.7']);
});
