/**
 * The routing mesh end to end, in both modes, in a lab: swarmd runs in a "node" network namespace (so rules,
 * VIPs and listeners are the namespace's, never the host's) with a client namespace beside it on a veth. Tasks are
 * process-executor commands answering with their hostname (web-SLOT). For each mode:
 *   - a published TCP port answers the client from every task;
 *   - a UDP published port echoes through the mesh;
 *   - a task reaches another service by its VIP on a shared network;
 *   - scaling 1 → 5 → 2 while the client loops costs zero failed requests during the scale-down (tasks leave the
 *     mesh before they are stopped);
 *   - (iptables) a swarmd killed with SIGKILL and restarted leaves exactly one set of rules and VIPs;
 *   - (userspace with --mesh-workers 2) all of the above with the TCP relay in two worker processes, children of
 *     swarmd, which are gone once swarmd is.
 */
import { test, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, readFileSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SwarmdProcess } from '../lab/swarmd-process';
import { requireCommands } from '../lab/require';
import { makeTwoHosts, removeNamespaces } from '../lab/two-hosts';
import { GET_SCRIPT as GET, LOOP_SCRIPT as LOOP } from '../lab/http-client';

const inNs = (ns: string, ...argv: string[]) => execFileSync('ip', ['netns', 'exec', ns, ...argv], { encoding: 'utf8', timeout: 10_000 });

/** A UDP exchange: sends each argument as a datagram, prints the replies; exits 1 without a reply in 2 s. */
const UDP = `const s = require('dgram').createSocket('udp4'); const [host, port, ...msgs] = process.argv.slice(1); const got = [];
s.on('message', (m) => { got.push(String(m)); if (got.length === msgs.length) { process.stdout.write(got.join('\\n')); process.exit(0); } });
for (const m of msgs) s.send(m, Number(port), host); setTimeout(() => process.exit(got.length ? 0 : 1), 2000);`;
/** The task side of the UDP test: echoes "HOSTNAME:message". */
const ECHO = `const os = require('os'); const s = require('dgram').createSocket('udp4'); s.on('message', (m, r) => s.send(os.hostname() + ':' + m, r.port, r.address)); s.bind(5353);`;

/** Processes running the mesh worker script whose parent is the process whose command line mentions `dir`. */
function meshWorkersUnder(dir: string): number[] {
  const cmdline = (pid: string) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      return '';
    }
  };
  return readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p) && cmdline(p).includes('mesh-worker.js'))
    .filter((p) => {
      const ppid = /^PPid:\s+(\d+)/m.exec(readFileSync(`/proc/${p}/status`, 'utf8'))?.[1];
      return ppid !== undefined && cmdline(ppid).includes(dir);
    })
    .map(Number);
}

const alive = (pid: number): boolean => existsSync(`/proc/${pid}`) && !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));

for (const mode of ['iptables', 'userspace', 'userspace-workers'] as const) {
  describe(`mesh lab, --mesh ${mode === 'userspace-workers' ? 'userspace --mesh-workers 2' : mode}`, () => {
    const tag = `${mode[0]}${mode === 'userspace-workers' ? 'w' : ''}${process.pid % 10000}`;
    let workerPids: number[] = [];
    const NODE_NS = `shl-mesh-n-${tag}`;
    const CLIENT_NS = `shl-mesh-c-${tag}`;
    const NODE_IP = '192.168.214.1';
    const CLIENT_IP = '192.168.214.2';
    const dir = mkdtempSync(join(tmpdir(), 'shoal-mesh-'));
    let d: SwarmdProcess;
    const httpd = (name: string) => `mkdir -p ${dir}/$(hostname) && hostname > ${dir}/$(hostname)/index.html && exec busybox httpd -f -p 80 -h ${dir}/$(hostname)`;
    const running = (svc: string) => d.ok('service', 'ps', svc, '--filter', 'desired-state=running', '--format', '{{.CurrentState}}').split('\n').filter((l) => l.startsWith('Running')).length;
    const get = (url: string): string | undefined => {
      try {
        return inNs(CLIENT_NS, process.execPath, '-e', GET, url).trim();
      } catch {
        return undefined;
      }
    };

    /** Every test awaits this first: a failure here fails the tests (a failed before() would only cancel them). */
    let ready: Promise<void> | undefined;
    const lab = () => (ready ??= setUp());
    async function setUp(): Promise<void> {
      requireCommands(['ip', 'iptables', 'busybox']);
      makeTwoHosts({ nodeNs: NODE_NS, clientNs: CLIENT_NS, nodeIp: NODE_IP, clientIp: CLIENT_IP, nodeDev: `shm${tag}n`, clientDev: `shm${tag}c` });
      d = new SwarmdProcess(mode === 'userspace-workers' ? ['--mesh', 'userspace', '--mesh-workers', '2'] : ['--mesh', mode], { netns: NODE_NS });
      await d.start();
      d.ok('swarm', 'init', '--advertise-addr', NODE_IP);
      d.ok('network', 'create', '-d', 'overlay', 'app');
      d.ok('service', 'create', '--name', 'web', '--network', 'app', '--replicas', '2', '--hostname', 'web-{{.Task.Slot}}', '-p', '8080:80', 'busybox', 'sh', '-c', httpd('web'));
      await d.until('2 web tasks running', () => running('web') === 2, 30_000);
    }

    after(async () => {
      try {
        await d?.destroy();
      } finally {
        removeNamespaces(NODE_NS, CLIENT_NS);
        rmSync(dir, { recursive: true, force: true });
        // The workers exit when their IPC channel to swarmd closes, a moment after swarmd itself.
        for (let i = 0; i < 100 && workerPids.some(alive); i++) await new Promise((r) => setTimeout(r, 50));
        const left = workerPids.filter(alive);
        for (const pid of left) process.kill(pid, 'SIGKILL');
        assert.deepEqual(left, [], 'mesh worker processes left after swarmd stopped');
      }
    });

    if (mode === 'userspace-workers') {
      test('swarmd runs two mesh worker processes', async () => {
        await lab();
        workerPids = (await d.until('2 mesh workers', () => {
          const pids = meshWorkersUnder(d.dir);
          return pids.length === 2 ? pids : undefined;
        }))!;
      });
    }

    test('a published port answers a client on another host from every task', async () => {
      await lab();
      const seen = new Set<string>();
      await d.until('both tasks answer', () => {
        const body = get(`http://${NODE_IP}:8080/`);
        if (body) seen.add(body);
        return seen.size === 2;
      });
      assert.deepEqual([...seen].sort(), ['web-1', 'web-2']);
    });

    test('a UDP published port echoes through the mesh', async () => {
      await lab();
      d.ok('service', 'create', '--name', 'echo', '--replicas', '2', '--hostname', 'echo-{{.Task.Slot}}', '-p', '5353:5353/udp', 'busybox', process.execPath, '-e', ECHO);
      await d.until('2 echo tasks running', () => running('echo') === 2, 30_000);
      const reply = await d.until('an echo through the mesh', () => {
        try {
          return inNs(CLIENT_NS, process.execPath, '-e', UDP, NODE_IP, '5353', 'ping').trim();
        } catch {
          return '';
        }
      });
      assert.match(reply, /^echo-[12]:ping$/);
      d.ok('service', 'rm', 'echo');
    });

    test('a task reaches another service by its VIP', async () => {
      await lab();
      const appId = d.ok('network', 'inspect', 'app', '--format', '{{.Id}}').trim();
      const vips = JSON.parse(d.ok('service', 'inspect', 'web', '--format', '{{json .Endpoint.VirtualIPs}}')) as { NetworkID: string; Addr: string }[];
      const vip = vips.find((v) => v.NetworkID === appId)!.Addr.split('/')[0];
      const out = join(dir, 'client-out');
      // The client task asks the VIP until it has heard both web tasks (busybox wget, from inside its namespace).
      const script = `while true; do busybox wget -q -O - http://${vip}/ >> ${out}.tmp 2>/dev/null; if grep -q web-1 ${out}.tmp && grep -q web-2 ${out}.tmp; then mv ${out}.tmp ${out}; sleep 1000; fi; sleep 0.2; done`;
      d.ok('service', 'create', '--name', 'client', '--network', 'app', 'busybox', 'sh', '-c', script);
      await d.until('the client heard both web tasks through the VIP', () => existsSync(out), 30_000);
      assert.deepEqual([...new Set(readFileSync(out, 'utf8').trim().split('\n'))].sort(), ['web-1', 'web-2']);
      d.ok('service', 'rm', 'client');
    });

    test('scaling 1 → 5 → 2 while a client loops: no failed request during the scale-down', async () => {
      await lab();
      d.ok('service', 'scale', 'web=1', '-d');
      await d.until('1 web task', () => running('web') === 1 && get(`http://${NODE_IP}:8080/`) !== undefined, 30_000);
      d.ok('service', 'scale', 'web=5', '-d');
      await d.until('5 web tasks answer', () => {
        const seen = new Set<string>();
        for (let i = 0; i < 20; i++) seen.add(get(`http://${NODE_IP}:8080/`) ?? '');
        return running('web') === 5 && seen.size >= 5;
      }, 40_000);
      const stop = join(dir, `stop-${mode}`);
      const loop = spawn('ip', ['netns', 'exec', CLIENT_NS, process.execPath, '-e', LOOP, `http://${NODE_IP}:8080/`, stop], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      loop.stdout.on('data', (c) => (out += c));
      const done = new Promise<void>((r) => loop.once('exit', () => r()));
      try {
        await new Promise((r) => setTimeout(r, 1000));
        d.ok('service', 'scale', 'web=2', '-d');
        await d.until('2 web tasks left', () => d.ok('service', 'ps', 'web', '--format', '{{.CurrentState}}').trim().split('\n').filter((l) => !/^(Shutdown|Complete|Remove)/.test(l)).length === 2, 30_000);
        await new Promise((r) => setTimeout(r, 2000));
      } finally {
        execFileSync('touch', [stop]);
        await done;
      }
      const result = JSON.parse(out) as { ok: number; failed: number; errors: string[]; seen: Record<string, number> };
      assert.ok(result.ok > 20, `the loop made too few requests to mean anything: ${out}`);
      assert.equal(result.failed, 0, `failed requests during scale-down: ${out}`);
    });

    test('--publish-add / --publish-rm apply live, in ingress and mode=host, without restarting tasks', async () => {
      await lab();
      const before = d.ok('service', 'ps', 'web', '-q', '--filter', 'desired-state=running').trim().split('\n').sort();
      d.ok('service', 'update', '-d', '--publish-add', 'published=8081,target=80,mode=host', '--publish-add', '8082:80', 'web');
      await d.until('8081 (host) and 8082 (ingress) answer', () => get(`http://${NODE_IP}:8081/`) !== undefined && get(`http://${NODE_IP}:8082/`) !== undefined);
      const ports = JSON.parse(d.ok('service', 'inspect', 'web', '--format', '{{json .Endpoint.Ports}}')) as { PublishedPort: number; PublishMode: string }[];
      assert.deepEqual(ports.map((p) => `${p.PublishedPort}/${p.PublishMode}`).sort(), ['8080/ingress', '8081/host', '8082/ingress']);
      d.ok('service', 'update', '-d', '--publish-rm', 'target=80,mode=host', 'web');
      await d.until('8081 closed', () => get(`http://${NODE_IP}:8081/`) === undefined);
      assert.ok(get(`http://${NODE_IP}:8080/`), `8080 still answers; ports now ${d.ok('service', 'inspect', 'web', '--format', '{{json .Endpoint.Ports}}')}`);
      assert.deepEqual(d.ok('service', 'ps', 'web', '-q', '--filter', 'desired-state=running').trim().split('\n').sort(), before, 'no task was replaced');
    });

    if (mode === 'iptables') {
      test('a crash and a restart leave exactly one set of rules and VIPs', async () => {
        await lab();
        await d.kill();
        await d.start();
        await d.until('web answers again', () => get(`http://${NODE_IP}:8080/`) !== undefined, 30_000);
        const nat = inNs(NODE_NS, 'iptables-save', '-t', 'nat');
        const filter = inNs(NODE_NS, 'iptables-save', '-t', 'filter');
        for (const [text, jump] of [[nat, '-A PREROUTING -j SHOAL-SERVICES'], [nat, '-A OUTPUT -j SHOAL-SERVICES'], [nat, '-A POSTROUTING -j SHOAL-POSTROUTING'], [filter, '-A FORWARD -j SHOAL-USER']]) {
          assert.equal(text.split('\n').filter((l) => l === jump).length, 1, `${jump} once:\n${text}`);
        }
        const vips = inNs(NODE_NS, 'ip', '-o', '-4', 'addr', 'show', 'dev', 'lo', 'label', 'lo:shoal').trim().split('\n');
        assert.equal(new Set(vips.map((l) => l.split(/\s+/)[3])).size, vips.length, `no duplicate VIP:\n${vips.join('\n')}`);
        d.ok('swarm', 'leave', '--force');
        await d.until('no SHOAL chains and no VIPs', () => !/SHOAL-/.test(inNs(NODE_NS, 'iptables-save')) && !inNs(NODE_NS, 'ip', '-o', 'addr', 'show', 'dev', 'lo').includes('lo:shoal'));
      });
    }
  });
}
