/**
 * The seed's external load balancer recipe, for real: Debian's HAProxy on a host of its own, configured as the
 * guide shows (a frontend with a stats page, a round-robin backend whose servers are the swarm nodes' addresses
 * on the published port, with health checks), in front of a swarmd node; the routing mesh behind the published
 * port spreads HAProxy's requests over the service's tasks. Run once per mesh backend, since the recipe must hold
 * whichever one a node picks.
 *
 * Lab: the node is a network namespace (swarmd and the mesh's rules live there, never on the host), the load
 * balancer another one on a veth beside it; the test's requests go to HAProxy's frontend from inside the load
 * balancer's namespace. Ports are unusual ones (published 18090, frontend 18091) so nothing collides.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SwarmdProcess } from '../lab/swarmd-process';
import { requireCommands } from '../lab/require';

const NODE_NS = `shl-hap-node-${process.pid}`;
const LB_NS = `shl-hap-lb-${process.pid}`;
const NODE_IP = '192.168.216.1';
const LB_IP = '192.168.216.2';
const PUBLISHED = 18090;
const FRONTEND = 18091;
const dir = mkdtempSync(join(tmpdir(), 'shoal-haproxy-'));
const www = join(dir, 'www');

/** A tiny HTTP client: prints the body, exits non-zero on an error, a non-200 answer or after 2 s. */
const GET = `require('http').get(process.argv[1], { timeout: 2000 }, (r) => { let b = ''; r.on('data', (c) => (b += c)); r.on('end', () => { process.stdout.write(b); process.exitCode = r.statusCode === 200 ? 0 : 1; }); }).on('error', () => process.exit(1)).on('timeout', () => process.exit(1));`;

const ip = (...args: string[]) => execFileSync('ip', args, { encoding: 'utf8' });
const inNs = (ns: string, ...argv: string[]) => execFileSync('ip', ['netns', 'exec', ns, ...argv], { encoding: 'utf8', timeout: 10_000 });
const get = (url: string) => inNs(LB_NS, process.execPath, '-e', GET, url).trim();

/**
 * The seed's haproxy.cfg: its global/defaults are Debian's packaged ones (the guide's "...snip..."), less what
 * only a system service needs (daemon, chroot, user, the admin socket under /run/haproxy) and syslog, which a
 * test has no /dev/log for. frontend and backend are the guide's, with this lab's node and ports.
 */
function haproxyConfig(): string {
  return `global
        maxconn 256

defaults
        mode    http
        option  dontlognull
        timeout connect 5000
        timeout client  50000
        timeout server  50000

# Configure HAProxy to listen on port ${FRONTEND}
frontend http_front
   bind *:${FRONTEND}
   stats uri /haproxy?stats
   default_backend http_back

# Configure HAProxy to route requests to swarm nodes on port ${PUBLISHED}
backend http_back
   balance roundrobin
   server node1 ${NODE_IP}:${PUBLISHED} check inter 500
`;
}

before(() => {
  requireCommands(['ip', 'iptables', 'busybox', 'haproxy']);
  ip('netns', 'add', NODE_NS);
  ip('netns', 'add', LB_NS);
  ip('link', 'add', 'shhapn0', 'netns', NODE_NS, 'type', 'veth', 'peer', 'name', 'shhapl0', 'netns', LB_NS);
  ip('-n', NODE_NS, 'addr', 'add', `${NODE_IP}/24`, 'dev', 'shhapn0');
  ip('-n', LB_NS, 'addr', 'add', `${LB_IP}/24`, 'dev', 'shhapl0');
  for (const [ns, dev] of [[NODE_NS, 'shhapn0'], [LB_NS, 'shhapl0']]) {
    ip('-n', ns, 'link', 'set', 'lo', 'up');
    ip('-n', ns, 'link', 'set', dev, 'up');
  }
  writeFileSync(join(dir, 'haproxy.cfg'), haproxyConfig());
});

after(() => {
  for (const ns of [NODE_NS, LB_NS]) {
    try {
      ip('netns', 'del', ns);
    } catch {
      /* already gone */
    }
  }
  rmSync(dir, { recursive: true, force: true });
});

/** HAProxy in the foreground (-db) in the load balancer's namespace; stopped (and awaited) by the returned function. */
function startHaproxy(): { proc: ChildProcess; output: () => string; stop: () => Promise<void> } {
  const proc = spawn('ip', ['netns', 'exec', LB_NS, 'haproxy', '-db', '-f', join(dir, 'haproxy.cfg')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  return {
    proc,
    output: () => out,
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      await exited;
    },
  };
}

for (const mesh of ['iptables', 'userspace'] as const) {
  test(`HAProxy in front of the node balances to the published port (--mesh ${mesh}) and reaches both tasks`, async () => {
    const d = new SwarmdProcess(['--mesh', mesh], { netns: NODE_NS });
    const haproxy = startHaproxy();
    try {
      await d.start();
      d.ok('swarm', 'init', '--advertise-addr', NODE_IP);
      // Each task serves a page naming its own hostname (web-SLOT).
      const root = join(www, mesh);
      const cmd = `mkdir -p ${root}/$(hostname) && hostname > ${root}/$(hostname)/index.html && exec busybox httpd -f -p 80 -h ${root}/$(hostname)`;
      d.ok('service', 'create', '--name', 'web', '--replicas', '2', '--hostname', 'web-{{.Task.Slot}}', '-p', `${PUBLISHED}:80`, 'busybox', 'sh', '-c', cmd);

      const seen = new Set<string>();
      await d.until('both tasks answer through HAProxy', () => {
        assert.equal(haproxy.proc.exitCode, null, `haproxy exited: ${haproxy.output()}`);
        try {
          seen.add(get(`http://${LB_IP}:${FRONTEND}/`));
        } catch {
          /* tasks not running yet, or HAProxy's health check has not marked the node up yet */
        }
        return seen.has('web-1') && seen.has('web-2');
      }, 30_000).catch((e: Error) => Promise.reject(new Error(`${e.message}\nseen: ${[...seen].join(', ')}\nhaproxy: ${haproxy.output()}`)));
      assert.deepEqual([...seen].sort(), ['web-1', 'web-2']);

      // Once both run, every request through HAProxy is answered by one of them, none fails.
      const answers = Array.from({ length: 10 }, () => get(`http://${LB_IP}:${FRONTEND}/`));
      assert.ok(answers.every((a) => a === 'web-1' || a === 'web-2'), answers.join(', '));
      // The guide's stats page shows the node's server as up (its health check goes through the mesh too).
      assert.match(get(`http://${LB_IP}:${FRONTEND}/haproxy?stats;csv`), /^http_back,node1,.*,UP,/m);
    } finally {
      await haproxy.stop();
      await d.destroy();
    }
  });
}
