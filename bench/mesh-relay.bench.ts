/**
 * The userspace TCP relay alone, for comparing relay variants where bench/mesh's lab is too noisy: CPU time the
 * relay process spends per request (its own utime + stime from /proc over a wrk run, divided by the requests),
 * which other work on the machine disturbs far less than req/s. Everything runs in a throw-away network namespace
 * on its loopback: one nginx (one worker, a fixed 200 answer), one relay child per variant
 * (bench/support/relay-child.ts loading the native relay or Node's handles from that variant's build), and `wrk -t1 -cN`, kept alive and
 * one connection per request. Variants take turns (A B A B ...) so a change in the machine's load hits them alike;
 * req/s and p99 are printed too but are only comparable inside one round. The variant `haproxy` (no build) is the
 * anchor: Debian's HAProxy in TCP mode with nbthread 1 in the relay's place, measured the same way.
 *
 * Run: `node dist/bench/mesh-relay.bench.js [--variants native=dist:native,handles=dist:handles,haproxy,old=/tmp/old/dist] [--rounds 3] [--duration 8]
 *       [--connections 32] [--modes keep-alive,close]`; SHOAL_BENCH_CPU_PROF=DIR profiles each relay child into DIR/LABEL. An older build: `git archive COMMIT | tar -x -C /tmp/old && ln -s $PWD/node_modules
 *       /tmp/old/ && (cd /tmp/old && npx tsc -p .)`. Needs root, nginx (nginx-light), wrk, haproxy for its variant.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { exec } from '../control/base/exec';
import { haproxyTcpConfig } from './support/haproxy-config';
import { NsProcess } from './support/ns-process';
import { processCpuSeconds } from './support/procfs';
import { runBench, type Cleanup } from './support/run-bench';
import { printTable } from './support/table';
import { waitTcpInNs } from './support/wait-tcp';
import { runWrk, type ConnectionMode } from './support/wrk';

function option(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1] : fallback;
}

const VARIANTS = option('variants', `native=${join(__dirname, '..')}:native,handles=${join(__dirname, '..')}:handles,haproxy`)
  .split(',')
  .map((v) => {
    if (v === 'haproxy') return { label: v, dist: undefined, kind: undefined };
    const [label, where] = v.split('=');
    const [dist, kind] = (where ?? '').split(':');
    if (!label || !dist || (kind && kind !== 'native' && kind !== 'handles')) throw new Error(`--variants: "${v}" is neither LABEL=DIST_DIR[:native|handles] nor haproxy`);
    return { label, dist, kind };
  });
const ROUNDS = Number(option('rounds', '3'));
const SECONDS = Number(option('duration', '8'));
const CONNECTIONS = Number(option('connections', '32'));
const MODES = option('modes', 'keep-alive,close').split(',') as ConnectionMode[];
const BACKEND_PORT = 18180;
const RELAY_PORT = 18181;
const RELAY_CHILD = join(__dirname, 'support', 'relay-child.js');

const cleanups: Cleanup[] = [];
const ns = `shb-relay-${randomBytes(3).toString('hex')}`;
const dir = mkdtempSync(join(tmpdir(), 'shoal-bench-relay-'));

function nginxConfig(): string {
  const path = join(dir, 'nginx.conf');
  writeFileSync(
    path,
    `daemon off;
master_process off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/nginx.err warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  server {
    listen 127.0.0.1:${BACKEND_PORT} backlog=4096;
    location / { return 200 "task\\n"; }
  }
}
`,
  );
  return path;
}

function haproxyConfig(): string {
  const path = join(dir, 'haproxy.cfg');
  writeFileSync(path, haproxyTcpConfig({ threads: 1, bind: `127.0.0.1:${RELAY_PORT}`, servers: [`127.0.0.1:${BACKEND_PORT}`] }));
  return path;
}

interface Row {
  round: number;
  variant: string;
  mode: ConnectionMode;
  reqPerSec: number;
  p99Ms: number;
  errors: number;
  cpuUsPerReq: number;
}

async function main(): Promise<void> {
  const needed = ['nginx', 'wrk', ...(VARIANTS.some((v) => !v.dist) ? ['haproxy'] : [])];
  for (const c of needed) if (await exec(['sh', '-c', `command -v ${c}`]).then(() => false, () => true)) throw new Error(`missing ${c}: apt-get install ${c === 'nginx' ? 'nginx-light' : c}`);
  await exec(['ip', 'netns', 'add', ns]);
  cleanups.push(async () => {
    await exec(['ip', 'netns', 'del', ns]).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });
  await exec(['ip', 'netns', 'exec', ns, 'sh', '-c', 'ip link set lo up && sysctl -q -w net.ipv4.ip_local_port_range="10000 65000" net.ipv4.tcp_tw_reuse=1 net.core.somaxconn=4096']);
  const nginx = new NsProcess('nginx', ns, ['nginx', '-c', nginxConfig(), '-e', join(dir, 'nginx.err')]);
  cleanups.push(() => nginx.stop());
  const load0 = loadavg()[0];
  const rows: Row[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    for (const v of VARIANTS) {
      const prof = process.env.SHOAL_BENCH_CPU_PROF;
      const profArgs = prof ? ['--cpu-prof', '--cpu-prof-dir', join(prof, v.label)] : [];
      const relay = v.dist
        ? new NsProcess(`relay ${v.label}`, ns, [process.execPath, ...profArgs, RELAY_CHILD, v.dist, String(RELAY_PORT), String(BACKEND_PORT), ...(v.kind ? [v.kind] : [])])
        : new NsProcess('haproxy', ns, ['haproxy', '-db', '-f', haproxyConfig()]);
      const stop = () => relay.stop();
      cleanups.push(stop);
      try {
        await (v.dist ? relay.waitForLine(/^ready$/) : waitTcpInNs(ns, '127.0.0.1', RELAY_PORT)); // HAProxy prints no ready line
        const url = `http://127.0.0.1:${RELAY_PORT}/`;
        await runWrk(ns, url, { seconds: 1, connections: CONNECTIONS, mode: 'keep-alive' }); // warm-up (JIT)
        for (const mode of MODES) {
          const cpu0 = processCpuSeconds(relay.pid);
          const r = await runWrk(ns, url, { seconds: SECONDS, connections: CONNECTIONS, mode });
          const cpu = processCpuSeconds(relay.pid) - cpu0;
          rows.push({ round, variant: v.label, mode, reqPerSec: r.reqPerSec, p99Ms: r.p99Ms, errors: r.errors, cpuUsPerReq: (cpu * 1e6) / r.requests });
          process.stderr.write(`round ${round} ${v.label} ${mode}: ${Math.round(r.reqPerSec)} req/s, p99 ${r.p99Ms.toFixed(2)} ms, ${((cpu * 1e6) / r.requests).toFixed(1)} µs CPU/request\n`);
        }
      } finally {
        cleanups.splice(cleanups.indexOf(stop), 1);
        await stop();
      }
    }
  }
  const load1 = loadavg()[0];
  for (const mode of MODES) {
    console.log(`\nrelay alone, wrk -t1 -c${CONNECTIONS} -d${SECONDS}s on loopback, ${mode === 'close' ? 'one connection per request' : 'keep-alive'}`);
    printTable(
      ['round', 'variant', 'req/s', 'p99 ms', 'errors', 'relay CPU µs/request'],
      rows.filter((r) => r.mode === mode).map((r) => [r.round, r.variant, Math.round(r.reqPerSec).toLocaleString('en-US'), r.p99Ms.toFixed(2), r.errors, r.cpuUsPerReq.toFixed(1)]),
    );
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
    console.log(`medians: ${VARIANTS.map((v) => {
      const mine = rows.filter((r) => r.mode === mode && r.variant === v.label);
      return `${v.label} ${median(mine.map((r) => r.cpuUsPerReq)).toFixed(1)} µs/request, ${Math.round(median(mine.map((r) => r.reqPerSec))).toLocaleString('en-US')} req/s`;
    }).join('; ')}`);
  }
  console.log(`\nload average (1 min) before ${load0.toFixed(2)}, after ${load1.toFixed(2)}`);
}

runBench('mesh-relay', main, cleanups);
