/**
 * DNS throughput: dnsperf with the same query mix (svcN → VIP, tasks.svcN → task IPs, a few unknown names that
 * are forwarded to a local NXDOMAIN upstream and then cached) against dnsmasq loaded with the same records and
 * against Shoal's resolver, both on loopback. Prints qps, average latency and Shoal/dnsmasq. Never asserts speed.
 * Usage: node dist/bench/dns-perf.bench.js [--seconds 8] [--clients 4] [--services 100]
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { systemClock } from '../control/base/clock';
import { silentLogger } from '../control/base/log';
import { DnsResolver } from '../dns/dns-resolver';
import { FakeUpstream, bigTable } from '../dns/test-kit';
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
const TASKS = 3;

for (const bin of ['dnsperf', 'dnsmasq']) {
  if (spawnSync('sh', ['-c', `command -v ${bin} || test -x /usr/sbin/${bin}`]).status !== 0) {
    console.error(`${bin} is missing: apt-get update && apt-get install -y dnsperf dnsmasq-base`);
    process.exit(2);
  }
}

/** dnsperf as an async child: the upstream (and Shoal) live in this process, so its event loop must keep running. */
function runDnsperf(server: string, port: number, queryFile: string): Promise<{ qps: number; latencyMs: number; lost: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('dnsperf', ['-s', server, '-p', String(port), '-d', queryFile, '-l', String(SECONDS), '-c', String(CLIENTS), '-Q', '500000']);
    let out = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (out += c));
    child.on('close', () => {
      const qps = Number(/Queries per second:\s+([\d.]+)/.exec(out)?.[1] ?? NaN);
      const latencyMs = Number(/Average Latency \(s\):\s+([\d.]+)/.exec(out)?.[1] ?? NaN) * 1000;
      const lost = /Queries lost:\s+(\d+ \([\d.]+%\))/.exec(out)?.[1] ?? '?';
      if (Number.isFinite(qps)) resolve({ qps, latencyMs, lost });
      else reject(new Error(`dnsperf gave no result:\n${out}`));
    });
  });
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'shoal-dns-bench-'));
  const table = bigTable(SERVICES, TASKS);
  const queries: string[] = [];
  const hosts: string[] = [];
  for (const s of table.services) {
    queries.push(`${s.serviceName} A`, `tasks.${s.serviceName} A`);
    hosts.push(`${s.vips.net} ${s.serviceName}`);
    for (const b of s.backends) hosts.push(`${b.addrs.net} tasks.${s.serviceName}`);
  }
  for (let i = 0; i < 5; i++) queries.push(`unknown${i}.example A`);
  const queryFile = join(dir, 'queries.txt');
  writeFileSync(queryFile, queries.join('\n') + '\n');
  writeFileSync(join(dir, 'hosts'), hosts.join('\n') + '\n');

  const upstream = await new FakeUpstream('127.0.0.60', 'nxdomain').start();
  const dnsmasq = spawn('/usr/sbin/dnsmasq', [
    '--keep-in-foreground', '--no-daemon', '--no-resolv', '--no-hosts', `--addn-hosts=${join(dir, 'hosts')}`,
    '--listen-address=127.0.0.61', '--bind-interfaces', '--port=5353', '--cache-size=10000', '--user=root',
    `--server=127.0.0.60#${upstream.port}`, '--log-facility=/dev/null',
  ], { stdio: 'ignore' });
  const shoals: DnsResolver[] = [];
  try {
    await sleep(500);
    const rows: (string | number)[][] = [];
    const d = await runDnsperf('127.0.0.61', 5353, queryFile);
    rows.push(['dnsmasq', Math.round(d.qps), d.latencyMs.toFixed(3), d.lost, '1.00x']);
    const notes: string[] = [];
    for (const [i, readers] of READERS.entries()) {
      const address = `127.0.0.${62 + i}`;
      const shoal = new DnsResolver({ address, port: 5353, clock: systemClock, logger: silentLogger, upstreams: [{ host: upstream.host, port: upstream.port }], searchDomains: [], udpReaders: readers });
      shoals.push(shoal);
      await shoal.start();
      await shoal.apply(table);
      const s = await runDnsperf(address, 5353, queryFile);
      rows.push([`shoal, ${readers + 1} reader${readers ? 's' : ''}`, Math.round(s.qps), s.latencyMs.toFixed(3), s.lost, ratio(s.qps / d.qps)]);
      await sleep(1100); // extra readers report counters once a second
      const c = shoal.counters();
      notes.push(`shoal ${readers + 1}: fast path ${c.fastPath}, forwarded ${c.forwarded}, cache hits ${c.cacheHits}, errors ${c.errors}`);
      await shoal.stop();
    }
    console.log(`dnsperf -l ${SECONDS} -c ${CLIENTS}; ${queries.length} names (${SERVICES} svcN, ${SERVICES} tasks.svcN with ${TASKS} IPs, 5 unknown); goal: fastest resolver on the node (Docker embedded: 71-80k here); ${os.availableParallelism()} CPUs`);
    printTable(['server', 'qps', 'avg ms', 'lost', 'vs dnsmasq'], rows);
    for (const n of notes) console.log(n);
  } finally {
    dnsmasq.kill();
    for (const s of shoals) await s.stop();
    await upstream.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
