/**
 * A real Prometheus scrapes a real swarmd. The node is a network namespace of its own (its ingress bridge and
 * rules never meet the host's or another test's) with a "monitoring host" namespace beside it on a veth; swarmd
 * runs in the node (process executor, metrics on NODE_IP), Prometheus in the monitoring host with a temporary
 * config (1 s scrape interval) and data dir. A service takes traffic through its published port; then the test
 * asks Prometheus's HTTP API — not swarmd — for `up` and the service's counters, and runs `promtool check
 * metrics` (Prometheus's own linter) on a scrape.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync, openSync, closeSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SwarmdProcess, sleep } from '../lab/swarmd-process';
import { requireCommands } from '../lab/require';

const NODE_NS = `shl-prom-node-${process.pid}`;
const MON_NS = `shl-prom-mon-${process.pid}`;
const NODE_IP = '192.168.217.1';
const MON_IP = '192.168.217.2';
// Fresh namespaces: these ports are free there, whoever uses them on the host.
const METRICS_PORT = 9323;
const PUBLISHED_PORT = 8080;
const PROMETHEUS_PORT = 9090;
/** swarmd's default resolver address (--dns-addr). */
const DNS_ADDRESS = '169.254.53.53';

let d: SwarmdProcess | undefined;
let prometheus: ChildProcess | undefined;
const dir = mkdtempSync(join(tmpdir(), 'shoal-prom-'));
const www = join(dir, 'www');

const ip = (...args: string[]) => execFileSync('ip', args, { encoding: 'utf8' });
/** A tiny HTTP GET run inside a namespace: prints the body, exits 1 on an error or after 2 s. */
const GET = `require('http').get(process.argv[1], { timeout: 2000 }, (r) => { let b = ''; r.on('data', (c) => (b += c)); r.on('end', () => process.stdout.write(b)); }).on('error', () => process.exit(1)).on('timeout', () => process.exit(1));`;
const getIn = (ns: string, url: string) => execFileSync('ip', ['netns', 'exec', ns, process.execPath, '-e', GET, url], { encoding: 'utf8', timeout: 10_000 });

const prometheusLog = () => readFileSync(join(dir, 'prometheus.log'), 'utf8').split('\n').slice(-30).join('\n');

/** One instant-vector query to Prometheus's HTTP API; returns the samples' label sets and values. */
function query(expr: string): { metric: Record<string, string>; value: number }[] {
  const text = getIn(MON_NS, `http://127.0.0.1:${PROMETHEUS_PORT}/api/v1/query?query=${encodeURIComponent(expr)}`);
  const body = JSON.parse(text) as { status: string; error?: string; data?: { result: { metric: Record<string, string>; value: [number, string] }[] } };
  if (body.status !== 'success') throw new Error(`query ${expr} failed: ${body.error}`);
  return body.data!.result.map((s) => ({ metric: s.metric, value: Number(s.value[1]) }));
}

async function until<T>(what: string, fn: () => T | undefined, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = fn();
      if (v) return v;
      last = v;
    } catch (e) {
      last = e;
    }
    await sleep(250);
  }
  throw new Error(`timed out waiting for ${what}; last: ${String(last)}\nprometheus:\n${prometheusLog()}\nswarmd:\n${d?.logs()}`);
}

before(async () => {
  requireCommands(['ip', 'busybox', 'prometheus', 'promtool']);
  ip('netns', 'add', NODE_NS);
  ip('netns', 'add', MON_NS);
  ip('link', 'add', 'shlpromn0', 'netns', NODE_NS, 'type', 'veth', 'peer', 'name', 'shlpromm0', 'netns', MON_NS);
  ip('-n', NODE_NS, 'addr', 'add', `${NODE_IP}/24`, 'dev', 'shlpromn0');
  ip('-n', MON_NS, 'addr', 'add', `${MON_IP}/24`, 'dev', 'shlpromm0');
  for (const [ns, dev] of [[NODE_NS, 'shlpromn0'], [MON_NS, 'shlpromm0']]) {
    ip('-n', ns, 'link', 'set', 'lo', 'up');
    ip('-n', ns, 'link', 'set', dev, 'up');
  }
  mkdirSync(www, { recursive: true });
  writeFileSync(join(www, 'index.html'), 'hello\n');
  // The embedded resolver runs at its default address, on the node namespace's own lo.
  d = new SwarmdProcess(['--metrics-addr', `${NODE_IP}:${METRICS_PORT}`], { netns: NODE_NS });
  await d.start();
  d.ok('swarm', 'init', '--advertise-addr', NODE_IP);
  // Byte accounting asked for, so the iptables mesh counts volume too (connections are counted regardless).
  d.ok('service', 'create', '--name', 'promweb', '--replicas', '2', '-p', `${PUBLISHED_PORT}:80`, '--label', 'shoal.mesh.accounting=bytes', 'busybox', 'busybox', 'httpd', '-f', '-p', '80', '-h', www);

  writeFileSync(
    join(dir, 'prometheus.yml'),
    ['global:', '  scrape_interval: 1s', '  scrape_timeout: 1s', 'scrape_configs:', '  - job_name: shoal', '    static_configs:', `      - targets: ['${NODE_IP}:${METRICS_PORT}']`, ''].join('\n'),
  );
  const log = openSync(join(dir, 'prometheus.log'), 'a');
  try {
    prometheus = spawn(
      'ip',
      ['netns', 'exec', MON_NS, 'prometheus', `--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${PROMETHEUS_PORT}`],
      { stdio: ['ignore', log, log] },
    );
  } finally {
    closeSync(log);
  }
});

after(async () => {
  try {
    const p = prometheus;
    if (p && p.exitCode === null) {
      const exited = new Promise((r) => p.once('exit', r));
      p.kill('SIGTERM'); // ip netns exec execs, so this is Prometheus itself
      await Promise.race([exited, sleep(10_000).then(() => p.kill('SIGKILL'))]);
    }
    await d?.destroy();
  } finally {
    for (const ns of [NODE_NS, MON_NS]) {
      try {
        ip('netns', 'del', ns);
      } catch {
        /* already gone */
      }
    }
    rmSync(dir, { recursive: true, force: true });
  }
});

test('Prometheus scrapes swarmd: the target is up and the service has taken connections', async () => {
  // On the node itself, through 127.0.0.1: the userspace mesh's listeners count these connections.
  const local = `http://127.0.0.1:${PUBLISHED_PORT}/`;
  await until('the service to answer on its published port', () => getIn(NODE_NS, local) === 'hello\n');
  for (let i = 0; i < 5; i++) assert.equal(getIn(NODE_NS, local), 'hello\n');

  const up = await until('Prometheus to scrape swarmd', () => query('up{job="shoal"} == 1')[0]);
  assert.equal(up.metric.instance, `${NODE_IP}:${METRICS_PORT}`);

  const conns = await until('the connection counter in Prometheus', () =>
    query(`shoal_mesh_connections_total{service_name="promweb",port="${PUBLISHED_PORT}",protocol="tcp"}`).find((s) => s.value >= 5),
  );
  assert.ok(conns.value >= 5, `counted ${conns.value} connections`);
  const desired = await until('desired tasks in Prometheus', () => query('shoal_service_tasks_desired{service_name="promweb"}')[0]);
  assert.equal(desired.value, 2);
});

test('the iptables mesh\'s kernel counters: connections and bytes from another host per published port, backends per service', async () => {
  // From the monitoring host to the node's address: the kernel's DNAT (not a proxy) takes these.
  const remote = `http://${NODE_IP}:${PUBLISHED_PORT}/`;
  await until('the published port to answer another host', () => getIn(MON_NS, remote) === 'hello\n');
  for (let i = 0; i < 3; i++) assert.equal(getIn(MON_NS, remote), 'hello\n');
  const conns = await until('the iptables connection counter in Prometheus', () =>
    query(`shoal_mesh_iptables_connections_total{service_name="promweb",entry="ingress",port="${PUBLISHED_PORT}",protocol="tcp"}`).find((s) => s.value >= 4),
  );
  assert.ok(conns.value >= 4, `the kernel counted ${conns.value} connections`);
  // Each answer is an HTTP response of well over 100 bytes: four of them.
  const sent = await until('the iptables byte counters in Prometheus', () =>
    query(`shoal_mesh_iptables_sent_bytes_total{service_name="promweb",entry="ingress",port="${PUBLISHED_PORT}"}`).find((s) => s.value >= 400),
  );
  assert.ok(sent.value >= 400, `sent ${sent.value} bytes`);
  await until('received bytes', () => query(`shoal_mesh_iptables_received_bytes_total{service_name="promweb",entry="ingress"}`).find((s) => s.value > 0));
  const backends = await until('backends per service', () => query('shoal_mesh_backends{service_name="promweb"}')[0]);
  assert.equal(backends.value, 2);
  await until('a sync in the histogram', () => query('shoal_mesh_iptables_sync_duration_seconds_count{kind="full"}').find((s) => s.value > 0));
});

test('the control plane and the agent report what happened: API requests, commits, scheduling, executor calls', async () => {
  const byRoute = await until('API requests by route template', () =>
    query('shoal_api_requests_total{route="/services/create",method="POST",code="201"}').find((s) => s.value >= 1),
  );
  assert.equal(byRoute.value, 1);
  assert.deepEqual(query('count(shoal_api_requests_total{route=~".*[0-9a-z]{25}.*"})'), [], 'routes are templates, never raw IDs');
  const positive = (expr: string) => until(expr, () => query(expr).find((s) => s.value > 0));
  await positive('shoal_store_commit_duration_seconds_count');
  await positive('shoal_scheduler_scheduling_latency_seconds_count');
  await positive('shoal_executor_operation_duration_seconds_count{executor="process",operation="start",result="ok"}');
  await positive('shoal_agent_heartbeat_rtt_seconds_count');
  await positive('shoal_agent_session_state{state="open"}');
  await positive('shoal_agent_tasks{state="running"}');
  await positive('shoal_manager_leader');
});

test('the embedded resolver\'s queries reach Prometheus: by type and code, with the answer latency histogram', async () => {
  // From the node itself, the service's name: whatever the answer (the ingress network carries no names, as in
  // Docker), each query is counted by type and answered with a code.
  const ask = (name: string) => spawnSync('ip', ['netns', 'exec', NODE_NS, 'busybox', 'nslookup', name, DNS_ADDRESS], { encoding: 'utf8', timeout: 10_000 });
  for (let i = 0; i < 3; i++) ask('promweb');
  const queries = await until('A queries in Prometheus', () => query('shoal_dns_queries_total{type="A"}').find((s) => s.value >= 3));
  assert.ok(queries.value >= 3, `counted ${queries.value} A queries`);
  await until('answers by code', () => query('sum(shoal_dns_responses_total)').find((s) => s.value >= 3));
  const answered = await until('the latency histogram', () => query('shoal_dns_answer_duration_seconds_count').find((s) => s.value >= 3));
  assert.ok(answered.value >= queries.value, 'every query answered and timed');
});

test('promtool check metrics finds no problem in a scrape', async () => {
  const text = getIn(MON_NS, `http://${NODE_IP}:${METRICS_PORT}/metrics`);
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  assert.equal(r.status, 0, `promtool check metrics exited ${r.status}:\n${r.stdout}${r.stderr}`);
  assert.equal((r.stdout + r.stderr).trim(), '', 'no lint problems');
});
