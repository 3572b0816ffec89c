/**
 * Issue 6's other half: does being scraped every second cost the mesh throughput? The bench/mesh lab (a client
 * namespace, a node namespace, two nginx tasks) with a node process composed as swarmd composes it
 * (bench/support/scraped-node-child: the mesh, a 1,000-service store, the daemon's registry on :9323), and the same
 * wrk load on the published port, alternately without and with a scraper in the client namespace fetching
 * /metrics every second (bench/support/scraper, Prometheus's schedule). Rounds alternate (off, on, off, on, ...)
 * so drift in the machine's load hits both sides; the table gives the medians and the ratio on/off, plus the
 * scrapes' own duration under load. For both meshes: userspace (the relay shares the event loop with /metrics,
 * the worst case) and iptables (the relay is the kernel's; the scrape also lists the kernel's rule counters).
 *
 * Prints; never asserts. Needs root, wrk, nginx (nginx-light), iptables. Everything is removed on exit or Ctrl-C.
 * Run: `npm run build && node dist/bench/metrics-under-load.bench.js [--duration 10] [--rounds 3] [--services 1000]
 *       [--meshes userspace,iptables] [--connections 32]`.
 */
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { exec } from '../control/base/exec';
import type { EndpointTable } from '../mesh/endpoint-table';
import { BACKEND_IPS, CLIENT_IP, HTTP_PORT, MeshLab, NODE_IP } from './support/mesh-lab';
import { runBench, type Cleanup } from './support/run-bench';
import { printTable, ratio } from './support/table';
import { runWrk, type WrkResult } from './support/wrk';

function option(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1] : fallback;
}

const SECONDS = Number(option('duration', '10'));
const ROUNDS = Number(option('rounds', '3'));
const SERVICES = Number(option('services', '1000'));
const CONNECTIONS = Number(option('connections', '32'));
const MESHES = option('meshes', 'userspace,iptables').split(',');
const PUBLISHED = 18100;
const METRICS_AT = `${NODE_IP}:9323`;
const CHILD = join(__dirname, 'support', 'scraped-node-child.js');
const SCRAPER = join(__dirname, 'support', 'scraper.js');

/** `service create --replicas 2 -p 18100:80` as the endpoint table swarmd hands the mesh. */
const TABLE: EndpointTable = {
  ingressNetworkId: 'ing',
  networks: { ing: { name: 'ingress', subnet: '10.77.0.0/24' } },
  services: [{
    serviceId: 'benchsvc', serviceName: 'bench', mode: 'vip', vips: {}, aliases: {},
    ports: [{ protocol: 'tcp', targetPort: HTTP_PORT, publishedPort: PUBLISHED, publishMode: 'ingress' }],
    backends: BACKEND_IPS.map((ip, i) => ({ taskId: `task${i + 1}`, name: `bench.${i + 1}.task${i + 1}`, nodeId: 'n1', addrs: { ing: ip } })),
  }],
};

interface ScrapeResult {
  scrapes: number;
  failures: number;
  medianMs: number;
  p95Ms: number;
  bytes: number;
}

const cleanups: Cleanup[] = [];
const lab = new MeshLab();
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

async function checkTools(): Promise<void> {
  const need: Record<string, string> = { ip: 'iproute2', wrk: 'wrk', nginx: 'nginx-light', iptables: 'iptables' };
  const missing: string[] = [];
  for (const c of Object.keys(need)) if (await exec(['sh', '-c', `command -v ${c}`]).then(() => false, () => true)) missing.push(c);
  if (missing.length) throw new Error(`missing ${missing.join(', ')}: apt-get install ${missing.map((c) => need[c]).join(' ')}`);
  if (process.getuid && process.getuid() !== 0) throw new Error('needs root (network namespaces, iptables)');
}

/** One wrk run, with a scraper in the client namespace for its whole length when `scraped`. */
async function round(scraped: boolean): Promise<{ wrk: WrkResult; scrape?: ScrapeResult }> {
  const url = `http://${NODE_IP}:${PUBLISHED}/`;
  if (!scraped) return { wrk: await runWrk(lab.ns.client, url, { seconds: SECONDS, connections: CONNECTIONS, mode: 'keep-alive' }) };
  const scraper = lab.start('scraper', lab.ns.client, [process.execPath, SCRAPER, `http://${METRICS_AT}/metrics`, '1000']);
  await scraper.waitForLine(/^scraping$/);
  const wrk = await runWrk(lab.ns.client, url, { seconds: SECONDS, connections: CONNECTIONS, mode: 'keep-alive' });
  await scraper.stop();
  const line = scraper.logs().split('\n').find((l) => l.startsWith('{'));
  return { wrk, scrape: line ? (JSON.parse(line) as ScrapeResult) : undefined };
}

async function measure(kind: string): Promise<(string | number)[][]> {
  const child = lab.start(`${kind} node`, lab.ns.node, [process.execPath, CHILD, kind, JSON.stringify(TABLE), String(SERVICES), METRICS_AT]);
  const stop = () => child.stop();
  cleanups.push(stop);
  try {
    await child.waitForLine(/^ready$/, 120_000);
    await lab.waitTcp(lab.ns.client, NODE_IP, PUBLISHED);
    await runWrk(lab.ns.client, `http://${NODE_IP}:${PUBLISHED}/`, { seconds: 2, connections: CONNECTIONS, mode: 'keep-alive' });
    const off: WrkResult[] = [];
    const on: WrkResult[] = [];
    const scrapes: ScrapeResult[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      off.push((await round(false)).wrk);
      const r = await round(true);
      on.push(r.wrk);
      if (r.scrape) scrapes.push(r.scrape);
      process.stderr.write(`${kind} round ${i + 1}: off ${Math.round(off[i].reqPerSec)} req/s, on ${Math.round(r.wrk.reqPerSec)} req/s, ${r.scrape?.scrapes ?? 0} scrapes\n`);
    }
    const rps = (xs: WrkResult[]) => median(xs.map((x) => x.reqPerSec));
    const p99 = (xs: WrkResult[]) => median(xs.map((x) => x.p99Ms));
    const errors = (xs: WrkResult[]) => xs.reduce((n, x) => n + x.errors, 0);
    const n = scrapes.reduce((k, s) => k + s.scrapes, 0);
    const failed = scrapes.reduce((k, s) => k + s.failures, 0);
    const kib = scrapes.length ? (scrapes[scrapes.length - 1].bytes / 1024).toFixed(0) : '-';
    const each = (xs: WrkResult[]) => xs.map((x) => `${(x.reqPerSec / 1000).toFixed(1)}k`).join(' ');
    return [
      [kind, 'not scraped', Math.round(rps(off)).toLocaleString('en-US'), p99(off).toFixed(2), errors(off), '', '', `rounds ${each(off)}`],
      [kind, 'scraped every 1 s', Math.round(rps(on)).toLocaleString('en-US'), p99(on).toFixed(2), errors(on), ratio(rps(on) / rps(off)), ratio(p99(on) / p99(off)),
        `rounds ${each(on)}; ${n} scrapes (${failed} failed) of ${kib} KiB, median ${median(scrapes.map((s) => s.medianMs)).toFixed(1)} ms, p95 ${median(scrapes.map((s) => s.p95Ms)).toFixed(1)} ms`],
    ];
  } finally {
    cleanups.splice(cleanups.indexOf(stop), 1);
    await stop();
  }
}

async function main(): Promise<void> {
  await checkTools();
  cleanups.push(() => lab.destroy());
  const load0 = loadavg()[0];
  await lab.build();
  const rows: (string | number)[][] = [];
  for (const kind of MESHES) rows.push(...(await measure(kind)));
  const load1 = loadavg()[0];
  console.log(`\nwrk -t1 -c${CONNECTIONS} -d${SECONDS}s keep-alive from ${CLIENT_IP} to the published port; ${SERVICES.toLocaleString('en-US')} services in the store and the mesh; medians of ${ROUNDS} alternating rounds`);
  printTable(['mesh', 'metrics', 'req/s', 'p99 ms', 'errors', 'req/s on/off', 'p99 on/off', 'rounds (req/s); scrapes during the load'], rows);
  console.log('goal: no measurable drop (on/off within the run-to-run spread of the "off" rounds)');
  console.log(`load average (1 min) before ${load0.toFixed(2)}, after ${load1.toFixed(2)} on ${cpus().length} cores`);
}

runBench('metrics-under-load', main, cleanups);
