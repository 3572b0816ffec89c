/**
 * DNS throughput: dnsperf with the same query mix (svcN → one address, tasks.svcN → three, a few unknown names
 * forwarded upstream) against three resolvers in one run:
 *   - dnsmasq, loaded with the same records from a hosts file (the anchor, 1.00x);
 *   - Docker's embedded DNS: on the private dockerd, a user-defined network with three containers whose network
 *     aliases give the same names (svcN on one, tasks.svcN on all three), queried at 127.0.0.11 from a fourth
 *     container's namespace (dnsperf runs there via nsenter); skipped with the reason when there is no engine;
 *   - Shoal's resolver with 1..N UDP readers (--readers 0,1: extra reader processes), reading UDP in batches
 *     (recvmmsg/sendmmsg; with extra readers only they read, each from a socket of its own) and with Node's dgram
 *     (--udp-io batch,dgram; dgram's extra readers share the main process's socket).
 * Unknown names go to a local upstream that says NXDOMAIN (dnsmasq and Shoal forward to it; Docker to dnsmasq,
 * its --dns, on the network's gateway address).
 * Then the forwarding cost: names only the upstream (dnsmasq, TTL 0 so nothing is cached) knows, asked of dnsmasq
 * directly and through Shoal; and the same names with a TTL (a second dnsmasq, --local-ttl=60), which Shoal
 * answers from its cache after the first query of each. Prints qps, average latency and ratios. Never asserts speed.
 * The 1-minute load average is printed before and after each section (the machine is shared; read figures with it).
 * Usage: node dist/bench/dns-perf.bench.js [--seconds 8] [--clients 4] [--services 100] [--readers 0,1]
 *        [--udp-io batch,dgram] [--only local|forward]
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { systemClock } from '../control/base/clock';
import { silentLogger } from '../control/base/log';
import { DnsResolver } from '../dns/dns-resolver';
import type { UdpIo } from '../dns/server';
import { FakeUpstream, bigTable } from '../dns/test-kit';
import { docker } from './support/docker-cli';
import { runBench, type Cleanup } from './support/run-bench';
import { printTable, ratio, sleep } from './support/table';

const arg = (name: string, def: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const SECONDS = arg('seconds', 8);
const CLIENTS = arg('clients', 4);
const SERVICES = arg('services', 100);
/** Extra UDP reader processes to measure Shoal with, e.g. --readers 0,1,2 (0: the main process alone). */
const READERS = (() => {
  const i = process.argv.indexOf('--readers');
  return (i > 0 ? process.argv[i + 1] : '0,1').split(',').map(Number);
})();
/** How Shoal reads UDP, each measured with every reader count. */
const UDP_IOS = (() => {
  const i = process.argv.indexOf('--udp-io');
  return (i > 0 ? process.argv[i + 1] : 'batch,dgram').split(',') as UdpIo[];
})();
interface Variant {
  udpIo: UdpIo;
  readers: number;
}
const VARIANTS: Variant[] = UDP_IOS.flatMap((udpIo) => READERS.map((readers) => ({ udpIo, readers })));
/** "batch, 2 readers": the processes reading UDP (batch: the extra readers alone when there are any; dgram: the main one too). */
const variantName = (v: Variant): string => {
  const n = v.udpIo === 'batch' ? Math.max(1, v.readers) : v.readers + 1;
  return `${v.udpIo}, ${n} reader${n > 1 ? 's' : ''}`;
};
/** One section only: 'local' (names we answer) or 'forward' (names only the upstream knows). */
const ONLY = (() => {
  const i = process.argv.indexOf('--only');
  return i > 0 ? process.argv[i + 1] : undefined;
})();
const load = (): string => `load ${os.loadavg()[0].toFixed(2)}`;
const TASKS = 3;
const FORWARDED = 100;
const DNSMASQ = '127.0.0.61';
/** dnsmasq listens on port 53: Docker's --dns takes an address only (it is Docker's upstream too). */
const DNSMASQ_PORT = 53;
/** The same hosts with TTL 60: what Shoal caches (the "cached" rows of the forwarding section). */
const DNSMASQ_TTL = '127.0.0.59';
const RUN = `shoal-dnsperf-${process.pid}`;

for (const bin of ['dnsperf', 'dnsmasq', 'nsenter']) {
  if (spawnSync('sh', ['-c', `command -v ${bin} || test -x /usr/sbin/${bin}`]).status !== 0) {
    console.error(`${bin} is missing: apt-get update && apt-get install -y dnsperf dnsmasq-base util-linux`);
    process.exit(2);
  }
}

interface Perf {
  qps: number;
  latencyMs: number;
  /** dnsperf's standard deviation and maximum of the latency: the tail it reports (it has no percentiles). */
  sdMs: number;
  maxMs: number;
  lost: string;
  completed: number;
}

/**
 * CPU time (µs) used so far by this process (Shoal's main reader lives here; dnsperf and dnsmasq are children
 * that are not counted) and by the given reader processes: per query it is the cost figure that holds up on a
 * busy machine, where queries per second mostly say how much CPU the other tenants left.
 */
function cpuMicros(pids: number[]): number {
  const own = process.cpuUsage();
  let ticks = 0;
  for (const pid of pids) {
    try {
      const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
      ticks += Number(f[11]) + Number(f[12]); // utime, stime (fields 14 and 15 of stat)
    } catch {
      // a reader that is gone has nothing more to count
    }
  }
  return own.user + own.system + (ticks * 1e6) / CLOCK_TICKS;
}
const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

/** dnsperf against one of our resolvers, with the resolver's CPU µs per completed query. */
async function measureShoal(s: DnsResolver, address: string, queryFile: string, oneAtATime = false): Promise<Perf & { cpuUs: number }> {
  const pids = s.readerPids();
  const c0 = cpuMicros(pids);
  const p = await runDnsperf(address, 5353, queryFile, undefined, oneAtATime);
  return { ...p, cpuUs: (cpuMicros(pids) - c0) / p.completed };
}

/** dnsperf as an async child (optionally inside a process's network namespace): Shoal lives in this process. */
function runDnsperf(server: string, port: number, queryFile: string, netnsOfPid?: number, oneAtATime = false): Promise<Perf> {
  const load = oneAtATime ? ['-c', '1', '-q', '1'] : ['-c', String(CLIENTS), '-Q', '500000'];
  const perf = ['dnsperf', '-s', server, '-p', String(port), '-d', queryFile, '-l', String(SECONDS), ...load];
  const argv = netnsOfPid ? ['nsenter', '-t', String(netnsOfPid), '-n', ...perf] : perf;
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1));
    let out = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (out += c));
    child.on('close', () => {
      const qps = Number(/Queries per second:\s+([\d.]+)/.exec(out)?.[1] ?? NaN);
      const latencyMs = Number(/Average Latency \(s\):\s+([\d.]+)/.exec(out)?.[1] ?? NaN) * 1000;
      const maxMs = Number(/Average Latency \(s\):.*max ([\d.]+)\)/.exec(out)?.[1] ?? NaN) * 1000;
      const sdMs = Number(/Latency StdDev \(s\):\s+([\d.]+)/.exec(out)?.[1] ?? NaN) * 1000;
      const lost = /Queries lost:\s+(\d+ \([\d.]+%\))/.exec(out)?.[1] ?? '?';
      const completed = Number(/Queries completed:\s+(\d+)/.exec(out)?.[1] ?? NaN);
      if (Number.isFinite(qps)) resolve({ qps, latencyMs, sdMs, maxMs, lost, completed });
      else reject(new Error(`dnsperf gave no result:\n${out}`));
    });
  });
}

const DOCKER_SUBNET = '172.31.253.0/24';
/** The bridge's address on the host: Docker 20.10 dials upstreams from the container's namespace, so loopback won't do. */
const DOCKER_GATEWAY = '172.31.253.1';
const IMAGE = 'shoal-busybox:1';

/**
 * A user-defined bridge network on the private engine (the embedded DNS exists only there, not on the default
 * bridge or none), made before dnsmasq starts so dnsmasq can listen on its gateway; or why there is none.
 */
async function dockerNetwork(cleanups: Cleanup[]): Promise<string | undefined> {
  try {
    await docker('version', '--format', '{{.Server.Version}}');
  } catch (e) {
    return `no engine (${(e as Error).message.split('\n')[0]}); run scripts/dockerd.sh start`;
  }
  try {
    await docker('image', 'inspect', IMAGE);
  } catch {
    return `no image ${IMAGE}; run scripts/busybox-image.sh`;
  }
  await docker('network', 'create', '--driver', 'bridge', '--subnet', DOCKER_SUBNET, '--gateway', DOCKER_GATEWAY, '--label', `shoal.bench=${RUN}`, RUN);
  cleanups.push(() => docker('network', 'rm', RUN));
  return undefined;
}

/**
 * Docker's embedded DNS with the same names: three containers whose aliases are the names, and a client whose
 * upstream is dnsmasq. Returns the client's PID (dnsperf runs in its namespace against 127.0.0.11).
 */
async function dockerContainers(services: string[], cleanups: Cleanup[]): Promise<number> {
  cleanups.push(() => docker('rm', '-f', ...[0, 1, 2, 3].map((i) => `${RUN}-${i}`)).catch(() => undefined));
  const run = (i: number, aliases: string[], extra: string[] = []): Promise<string> =>
    docker('run', '-d', '--name', `${RUN}-${i}`, '--label', `shoal.bench=${RUN}`, '--network', RUN, ...aliases.flatMap((a) => ['--network-alias', a]), ...extra, IMAGE, 'sleep', '3600');
  const tasks = services.map((s) => `tasks.${s}`);
  await run(0, [...services, ...tasks]);
  await run(1, tasks);
  await run(2, tasks);
  await run(3, [], ['--dns', DOCKER_GATEWAY]);
  return Number((await docker('inspect', '-f', '{{.State.Pid}}', `${RUN}-3`)).trim());
}

async function main(cleanups: Cleanup[]): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'shoal-dns-bench-'));
  cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
  const table = bigTable(SERVICES, TASKS);
  const queries: string[] = [];
  const hosts: string[] = [];
  for (const s of table.services) {
    queries.push(`${s.serviceName} A`, `tasks.${s.serviceName} A`);
    hosts.push(`${s.vips.net} ${s.serviceName}`);
    for (const b of s.backends) hosts.push(`${b.addrs.net} tasks.${s.serviceName}`);
  }
  for (let i = 0; i < 5; i++) queries.push(`unknown${i}.example A`);
  const forwarded: string[] = [];
  for (let i = 0; i < FORWARDED; i++) {
    forwarded.push(`ext${i}.upstream.test A`);
    hosts.push(`192.0.2.${(i % 250) + 1} ext${i}.upstream.test`);
  }
  const queryFile = join(dir, 'queries.txt');
  const forwardFile = join(dir, 'forwarded.txt');
  writeFileSync(queryFile, queries.join('\n') + '\n');
  writeFileSync(forwardFile, forwarded.join('\n') + '\n');
  writeFileSync(join(dir, 'hosts'), hosts.join('\n') + '\n');

  const noDocker = await dockerNetwork(cleanups);
  const upstream = await new FakeUpstream('127.0.0.60', 'nxdomain').start();
  cleanups.push(() => upstream.stop());
  // --local-ttl 0 (the default, said aloud): hosts answers carry TTL 0, so nobody in front of dnsmasq caches them.
  const dnsmasq = spawn('/usr/sbin/dnsmasq', [
    '--keep-in-foreground', '--no-daemon', '--no-resolv', '--no-hosts', `--addn-hosts=${join(dir, 'hosts')}`, '--local-ttl=0',
    `--listen-address=${DNSMASQ}${noDocker ? '' : `,${DOCKER_GATEWAY}`}`, '--bind-interfaces', `--port=${DNSMASQ_PORT}`, '--cache-size=10000', '--user=root',
    `--server=127.0.0.60#${upstream.port}`, '--log-facility=/dev/null',
  ], { stdio: 'ignore' });
  cleanups.push(async () => void dnsmasq.kill());
  const dnsmasqTtl = spawn('/usr/sbin/dnsmasq', [
    '--keep-in-foreground', '--no-daemon', '--no-resolv', '--no-hosts', `--addn-hosts=${join(dir, 'hosts')}`, '--local-ttl=60',
    `--listen-address=${DNSMASQ_TTL}`, '--bind-interfaces', `--port=${DNSMASQ_PORT}`, '--cache-size=10000', '--user=root', '--log-facility=/dev/null',
  ], { stdio: 'ignore' });
  cleanups.push(async () => void dnsmasqTtl.kill());
  const dockerPid = noDocker ?? (await dockerContainers(table.services.map((s) => s.serviceName), cleanups));
  await sleep(500);

  const shoal = async (v: Variant, address: string, upstreams: { host: string; port: number }[]): Promise<DnsResolver> => {
    const s = new DnsResolver({ address, port: 5353, clock: systemClock, logger: silentLogger, upstreams, searchDomains: [], udpReaders: v.readers, udpIo: v.udpIo });
    cleanups.push(() => s.stop());
    await s.start();
    await s.apply(table);
    return s;
  };
  if (ONLY !== 'forward') await local(queryFile, queries.length, typeof dockerPid === 'number' ? dockerPid : undefined, noDocker, upstream, shoal);
  if (ONLY !== 'local') await forwarding(forwardFile, shoal);
}

type MakeShoal = (v: Variant, address: string, upstreams: { host: string; port: number }[]) => Promise<DnsResolver>;

async function local(queryFile: string, names: number, dockerPid: number | undefined, noDocker: string | undefined, upstream: FakeUpstream, shoal: MakeShoal): Promise<void> {
  const before = load();
  const rows: (string | number)[][] = [];
  const notes: string[] = [];
  const d = await runDnsperf(DNSMASQ, DNSMASQ_PORT, queryFile);
  const lat = (p: Perf): string[] => [p.latencyMs.toFixed(3), p.sdMs.toFixed(3), p.maxMs.toFixed(1)];
  rows.push(['dnsmasq', Math.round(d.qps), ...lat(d), d.lost, '1.00x', '', '']);
  let dockerQps = NaN;
  if (dockerPid !== undefined) {
    const k = await runDnsperf('127.0.0.11', 53, queryFile, dockerPid);
    dockerQps = k.qps;
    rows.push(['docker embedded', Math.round(k.qps), ...lat(k), k.lost, ratio(k.qps / d.qps), '1.00x', '']);
  } else {
    notes.push(`docker embedded: not measured: ${noDocker}`);
  }
  for (const [i, v] of VARIANTS.entries()) {
    const address = `127.0.0.${62 + i}`;
    const s = await shoal(v, address, [{ host: upstream.host, port: upstream.port }]);
    const p = await measureShoal(s, address, queryFile);
    rows.push([`shoal ${variantName(v)}`, Math.round(p.qps), ...lat(p), p.lost, ratio(p.qps / d.qps), ratio(p.qps / dockerQps), p.cpuUs.toFixed(1)]);
    await sleep(1100); // extra readers report counters once a second
    const c = s.counters();
    notes.push(`shoal ${variantName(v)}: fast path ${c.fastPath}, forwarded ${c.forwarded}, cache hits ${c.cacheHits}, errors ${c.errors}`);
    await s.stop();
  }
  console.log(`${before} → ${load()}; dnsperf -l ${SECONDS} -c ${CLIENTS}; ${names} names (${SERVICES} svcN, ${SERVICES} tasks.svcN with ${TASKS} addresses, 5 unknown); ${os.availableParallelism()} CPUs; goals: ≥ 1.2x dnsmasq, ≥ 2x Docker`);
  printTable(['server', 'qps', 'avg ms', 'sd ms', 'max ms', 'lost', 'vs dnsmasq', 'vs docker', 'shoal CPU µs/query'], rows);
  for (const n of notes) console.log(n);
}

async function forwarding(forwardFile: string, shoal: MakeShoal): Promise<void> {
  const before = load();
  // Forwarding: the same names asked of the upstream directly and through Shoal (every one forwarded: TTL 0),
  // at full load and one query at a time (what one lookup costs, without queueing).
  const direct = await runDnsperf(DNSMASQ, DNSMASQ_PORT, forwardFile);
  const directOne = await runDnsperf(DNSMASQ, DNSMASQ_PORT, forwardFile, undefined, true);
  const fwdNotes: string[] = [];
  const fwdRows: (string | number)[][] = [['dnsmasq directly', Math.round(direct.qps), direct.latencyMs.toFixed(3), directOne.latencyMs.toFixed(3), '', '1.00x', '1.00x', '', '']];
  // Shoal with each reader count in front of `upstream`: at full load and one query at a time.
  const viaShoal = async (upstream: string, firstAddress: number, label: string, vs: number, vsOne?: number): Promise<void> => {
    for (const [i, v] of VARIANTS.entries()) {
      const address = `127.0.0.${firstAddress + i}`;
      const s = await shoal(v, address, [{ host: upstream, port: DNSMASQ_PORT }]);
      const p = await measureShoal(s, address, forwardFile);
      const one = await measureShoal(s, address, forwardFile, true);
      fwdRows.push([
        `via shoal ${variantName(v)}${label}`, Math.round(p.qps), p.latencyMs.toFixed(3), one.latencyMs.toFixed(3),
        vsOne === undefined ? '' : `+${(one.latencyMs - vsOne).toFixed(3)}`, ratio(vs / p.qps), vsOne === undefined ? '' : ratio(one.latencyMs / vsOne), p.cpuUs.toFixed(1), one.cpuUs.toFixed(1),
      ]);
      const c = s.counters();
      fwdNotes.push(`via shoal ${variantName(v)}${label}: forwarded ${c.forwarded}, cache hits ${c.cacheHits}; main process's forwarder ${JSON.stringify(c.forwarder)}`);
      await s.stop();
    }
  };
  await viaShoal(DNSMASQ, 62, '', direct.qps, directOne.latencyMs);
  // The same names with TTL 60: after the first query of each, Shoal answers from its cache.
  const directTtl = await runDnsperf(DNSMASQ_TTL, DNSMASQ_PORT, forwardFile);
  fwdRows.push(['dnsmasq directly, TTL 60', Math.round(directTtl.qps), directTtl.latencyMs.toFixed(3), '', '', '1.00x', '', '', '']);
  await viaShoal(DNSMASQ_TTL, 66, ', cached', directTtl.qps);
  console.log(`\n${before} → ${load()}; forwarded names: ${FORWARDED} names only the upstream (dnsmasq) knows, TTL 0 so each query is forwarded; goal: cost ≤ 1.1x asking the upstream directly`);
  printTable(['path', 'qps', 'avg ms', 'one-at-a-time ms', 'added ms', 'qps cost', 'latency cost', 'shoal CPU µs/query', 'µs/query one at a time'], fwdRows);
  for (const n of fwdNotes) console.log(n);
}

const cleanups: Cleanup[] = [];
runBench('dns-perf', () => main(cleanups), cleanups);
