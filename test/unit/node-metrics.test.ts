/**
 * The node's metrics as a whole, from real components on fakes: every metric registers once on the daemon's
 * registry, names follow Prometheus conventions (shoal_ prefix, _total on counters and only there, base units),
 * label sets stay bounded (no task IDs anywhere, routes as templates), and the agent's failure reasons and
 * executor latencies come out of a real TaskRunner.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../../control/base/clock';
import { silentLogger } from '../../control/base/log';
import { MemoryStore } from '../../control/store/memory-store';
import { edit } from '../../control/store/store';
import { Instruments } from '../../control/metrics/instruments';
import { nodeMetrics } from '../../control/metrics/node-metrics';
import { exposition } from '../../control/metrics/exposition';
import { DnsCounters } from '../../dns/counters';
import { scrapeFamily } from '../../control/metrics/scrape-family';
import { Router, UNMATCHED_ROUTE } from '../../control/manager/api/router';
import { Scheduler } from '../../control/manager/scheduler/scheduler';
import { TaskRunner } from '../../control/agent/task-runner';
import { failureReason, FAILURE_REASONS } from '../../control/agent/agent-observer';
import type { Controller, ExitStatus } from '../../control/agent/executor';
import type { Registry } from 'prom-client';
import { createServer } from 'node:http';
import { fakeNode, fakeService, fakeTask } from '../fakes/objects';

interface Family {
  name: string;
  type: string;
  values: { labels: Record<string, string | number>; value: number; metricName?: string }[];
}

const families = async (r: Registry) => (await r.getMetricsAsJSON()) as unknown as Family[];

/** A daemon's worth of metrics over a store with services, tasks and a node, plus one observation of each kind. */
async function populated() {
  const instruments = new Instruments();
  const clock = new FakeClock();
  const store = new MemoryStore(null, clock, instruments);
  const web = fakeService({ name: 'web', replicas: 3 });
  const tasks = [1, 2, 3].map((slot) => fakeTask(web, { slot, state: 'running', nodeId: 'n1' }));
  const dns = new DnsCounters();
  dns.count('A', 'NOERROR');
  for (const ms of [0.05, 0.3, 0.3, 7000]) dns.observe(ms);
  await store.update((tx) => {
    tx.create('node', fakeNode({ id: 'n1' }));
    tx.create('service', { ...web, UpdateStatus: { State: 'rollback_started' } });
    for (const t of tasks) tx.create('task', t);
  });
  nodeMetrics(
    {
      store: () => store,
      mesh: () => new Map([['web/tcp/8080', { serviceName: 'web', protocol: 'tcp', port: 8080, counters: { connectionsTotal: 4, connectionsActive: 1, backendErrors: 0, bytesIn: 10, bytesOut: 20 } as never }]]),
      dns: () => ({ ...dns.snapshot(), forwarder: { forwarded: 2, cacheHits: 1, overflow: 0, timeouts: 1, tcpRetries: 0, servfail: 0 }, upstreams: [{ host: '192.0.2.53', port: 53, healthy: false, queries: 3, errors: 2 }] }),
      agent: () => ({ sessionState: () => 'open', tasksByState: () => new Map([['running', 3]]) }),
      iptables: () => ({
        counters: () => ({ fullSyncs: 1, partialSyncs: 0, driftRepairs: 0, failures: 0, conntrackDeleted: 0, lastSyncMs: 3, rules: 12 }),
        entryPointCounts: async () => [{ serviceId: web.ID, serviceName: 'web', entry: 'ingress', port: '8080', protocol: 'tcp', connections: 9 }],
        backendsPerService: () => [{ serviceId: web.ID, serviceName: 'web', backends: 3 }],
      }),
    },
    instruments.registry,
  );
  instruments.request({ route: '/services/{id}', method: 'GET', code: 200, seconds: 0.002 });
  instruments.scheduled(0.05);
  instruments.operation('process', 'start', true, 0.2);
  instruments.taskFailed('unhealthy');
  instruments.heartbeat(0.001);
  instruments.sessionOpened();
  instruments.synced('full', 0.01);
  return { instruments, store, web, tasks };
}

test('every metric registers once on the daemon\'s registry, scrape-time and event-driven alike', async () => {
  const { instruments } = await populated();
  const names = (await families(instruments.registry)).map((f) => f.name);
  assert.equal(new Set(names).size, names.length, 'no name twice');
  for (const expected of [
    'shoal_api_requests_total', 'shoal_api_request_duration_seconds', 'shoal_store_commit_duration_seconds',
    'shoal_scheduler_scheduling_latency_seconds', 'shoal_service_update_state', 'shoal_manager_leader',
    'shoal_agent_tasks', 'shoal_agent_session_state', 'shoal_agent_heartbeat_rtt_seconds', 'shoal_agent_task_failures_total',
    'shoal_executor_operation_duration_seconds', 'shoal_mesh_iptables_connections_total', 'shoal_mesh_backends',
    'shoal_mesh_iptables_sync_duration_seconds', 'shoal_mesh_connections_total', 'shoal_service_tasks_desired',
  ]) {
    assert.ok(names.includes(expected), `${expected} is registered`);
  }
  // A second daemon in the same process gets registries of its own (no module-level registry).
  const other = new Instruments();
  nodeMetrics({ store: () => undefined, mesh: () => undefined, dns: () => undefined }, other.registry);
});

test('names follow Prometheus conventions: shoal_ prefix, _total for counters only, base units', async () => {
  const { instruments } = await populated();
  for (const f of await families(instruments.registry)) {
    assert.match(f.name, /^shoal_[a-z][a-z0-9_]*$/, `${f.name}: shoal_ prefix, snake case`);
    if (f.type === 'counter') assert.match(f.name, /_total$/, `counter ${f.name} ends in _total`);
    else assert.doesNotMatch(f.name, /_total$/, `${f.type} ${f.name} does not look like a counter`);
    assert.doesNotMatch(f.name, /_(ms|milliseconds|microseconds|kb|mb|kilobytes|megabytes|minutes|hours)(_|$)/, `${f.name} uses base units`);
    if (f.type === 'histogram') assert.match(f.name, /_(seconds|bytes)$/, `histogram ${f.name} names its base unit`);
  }
});

test('labels stay bounded: no task IDs anywhere, no task_id label, enum gauges over known states', async () => {
  const { instruments, tasks } = await populated();
  const text = await instruments.registry.metrics();
  for (const t of tasks) assert.ok(!text.includes(t.ID), `task ID ${t.ID} appears nowhere`);
  for (const f of await families(instruments.registry)) {
    for (const v of f.values) {
      for (const label of Object.keys(v.labels)) assert.doesNotMatch(label, /task/, `${f.name} has no per-task label`);
    }
  }
  const session = (await families(instruments.registry)).find((f) => f.name === 'shoal_agent_session_state')!;
  assert.deepEqual(session.values.map((v) => [v.labels.state, v.value]), [['connecting', 0], ['open', 1], ['reconnecting', 0]]);
  const update = (await families(instruments.registry)).find((f) => f.name === 'shoal_service_update_state')!;
  assert.deepEqual(update.values.map((v) => [v.labels.service_name, v.labels.state, v.value]), [['web', 'rollback_started', 1]]);
});

test('API requests are labelled with the route template; unknown paths share one label', async () => {
  const instruments = new Instruments();
  const router = new Router(silentLogger, instruments).on('GET', '/services/{id}', (req) => ({ id: req.params.id }));
  const server = createServer((req, res) => void router.handle(req, res));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  try {
    const port = (server.address() as { port: number }).port;
    for (const path of ['/v1.41/services/abc', '/services/def', '/no/such/thing/1', '/no/such/thing/2']) await (await fetch(`http://127.0.0.1:${port}${path}`)).text();
    const reqs = (await families(instruments.registry)).find((f) => f.name === 'shoal_api_requests_total')!;
    assert.deepEqual(
      reqs.values.map((v) => [v.labels.route, v.labels.method, v.labels.code, v.value]),
      [['/services/{id}', 'GET', '200', 2], [UNMATCHED_ROUTE, 'GET', '404', 2]],
    );
  } finally {
    server.close();
  }
});

test('the store observes each commit, the scheduler each assignment', async () => {
  const instruments = new Instruments();
  const clock = new FakeClock();
  const store = new MemoryStore(null, clock, instruments);
  const svc = fakeService({ name: 'web', replicas: 2 });
  await store.update((tx) => {
    tx.create('node', fakeNode({ id: 'n1' }));
    tx.create('service', svc);
    tx.create('task', fakeTask(svc, { slot: 1 }));
    tx.create('task', fakeTask(svc, { slot: 2 }));
  });
  await store.update(() => undefined); // no changes: no commit
  const scheduler = new Scheduler({ store, clock, log: silentLogger, observer: instruments });
  await scheduler.start();
  await store.update((tx) => tx.update('node', { ...tx.get('node', 'n1')! })); // wakes the scheduler
  for (let i = 0; i < 50 && store.view((tx) => tx.list('task').some((t) => t.Status.State === 'pending')); i++) {
    clock.advance(100);
    await new Promise((r) => setImmediate(r));
  }
  await scheduler.stop();
  assert.ok(store.view((tx) => tx.list('task').every((t) => t.Status.State === 'assigned')), 'both tasks assigned');
  const count = async (name: string) => (await families(instruments.registry)).find((f) => f.name === name)!.values.find((v) => v.metricName === `${name}_count`)!.value;
  assert.equal(await count('shoal_scheduler_scheduling_latency_seconds'), 2);
  assert.ok((await count('shoal_store_commit_duration_seconds')) >= 3, 'the fixture, the wake-up and the assignment commits');
});

test('failure reasons are a small fixed set, classified from state, health and exit code', () => {
  assert.equal(failureReason({ state: 'rejected' }), 'rejected');
  assert.equal(failureReason({ state: 'failed', unhealthy: true, exitCode: 137 }), 'unhealthy');
  assert.equal(failureReason({ state: 'failed', startError: true }), 'start_error');
  assert.equal(failureReason({ state: 'failed', exitCode: 1 }), 'exit_nonzero');
  assert.equal(failureReason({ state: 'failed', exitCode: 127 }), 'exit_cannot_run');
  assert.equal(failureReason({ state: 'failed', exitCode: 137 }), 'exit_signal');
  assert.equal(failureReason({ state: 'failed' }), 'error');
  assert.deepEqual(new Set(FAILURE_REASONS).size, 7);
});

test('a task runner times prepare/start/stop by executor kind and reports how its task failed', async () => {
  let exit: ((s: ExitStatus) => void) | undefined;
  const controller: Controller = {
    prepare: async () => undefined,
    start: async () => undefined,
    wait: () => new Promise<ExitStatus>((r) => (exit = r)),
    shutdown: async () => undefined,
    remove: async () => undefined,
    isRunning: async () => true,
    logs: async function* () {},
  };
  const ops: string[] = [];
  const failures: string[] = [];
  const observer = {
    operation: (kind: string, op: string, ok: boolean) => ops.push(`${kind} ${op} ${ok ? 'ok' : 'error'}`),
    taskFailed: (reason: string) => failures.push(reason),
    heartbeat: () => undefined,
    sessionOpened: () => undefined,
  };
  const task = fakeTask(fakeService(), { state: 'assigned', desired: 'running', nodeId: 'n1' });
  const runner = new TaskRunner(task, controller, () => undefined, silentLogger, undefined, { observer: observer as never, executorKind: 'memory' });
  await runner.pump();
  assert.equal(runner.current, 'running');
  exit!({ exitCode: 2 });
  await new Promise((r) => setTimeout(r, 5));
  assert.equal(runner.current, 'failed');
  assert.deepEqual(ops, ['memory prepare ok', 'memory start ok']);
  assert.deepEqual(failures, ['exit_nonzero']);
});

test('/metrics text: families read at scrape time write exactly what prom-client would, escaping included', async () => {
  const { instruments } = await populated();
  const awkward = fakeService({ name: 'back\\slash"quote', replicas: 1 });
  scrapeFamily(instruments.registry, {
    name: 'shoal_test_awkward',
    help: 'Help with a backslash \\ and a\nnewline.',
    type: 'gauge',
    labelNames: ['service_name', 'note'],
    read: (emit) => {
      emit({ service_name: awkward.Spec.Name, note: 'line\nbreak' }, 1.5);
      emit({ service_name: 'plain', note: 'x' }, NaN);
      emit({ service_name: 'plain', note: 'y' }, -Infinity);
    },
  });
  scrapeFamily(instruments.registry, { name: 'shoal_test_empty', help: 'No samples.', type: 'counter', labelNames: [], read: () => {} });
  // The process and runtime families move between two reads (CPU time, heap); every other one must be identical.
  const steady = (text: string) => text.split('\n\n').filter((f) => !/^# HELP shoal_(process|nodejs)_/.test(f));
  const ours = await exposition(instruments.registry);
  const theirs = await instruments.registry.metrics();
  assert.ok(ours.endsWith('\n') && !ours.endsWith('\n\n'), 'ends with exactly one newline');
  assert.deepEqual(steady(ours), steady(theirs));
  assert.match(ours, /^shoal_test_awkward\{service_name="back\\\\slash\\"quote",note="line\\nbreak"\} 1\.5$/m);
  assert.match(ours, /^shoal_service_tasks_running\{service_name="web",service_id="[^"]+"\} 3$/m);
});

test('the resolver\'s latency is a histogram in seconds with cumulative buckets; upstreams are labelled host:port', async () => {
  const { instruments } = await populated();
  const text = await exposition(instruments.registry);
  assert.match(text, /^# TYPE shoal_dns_answer_duration_seconds histogram$/m);
  assert.match(text, /^shoal_dns_answer_duration_seconds_bucket\{le="0.0001"\} 1$/m);
  assert.match(text, /^shoal_dns_answer_duration_seconds_bucket\{le="0.0005"\} 3$/m);
  assert.match(text, /^shoal_dns_answer_duration_seconds_bucket\{le="5"\} 3$/m);
  assert.match(text, /^shoal_dns_answer_duration_seconds_bucket\{le="\+Inf"\} 4$/m);
  assert.match(text, /^shoal_dns_answer_duration_seconds_count 4$/m);
  assert.match(text, /^shoal_dns_answer_duration_seconds_sum 7\.0006\d*$/m);
  assert.match(text, /^shoal_dns_upstream_failures_total\{upstream="192.0.2.53:53"\} 2$/m);
  assert.match(text, /^shoal_dns_upstream_up\{upstream="192.0.2.53:53"\} 0$/m);
});

test('store families reuse their text until the store commits again, and show the commit right after it', async () => {
  const { instruments, store, tasks } = await populated();
  let views = 0;
  const view = store.view.bind(store);
  store.view = ((fn: Parameters<typeof view>[0]) => (views++, view(fn))) as typeof store.view;
  const first = await exposition(instruments.registry);
  assert.match(first, /^shoal_service_tasks_running\{service_name="web",service_id="[^"]+"\} 3$/m);
  const read = views;
  assert.ok(read >= 6, `the store families read the store (${read} views)`);
  await exposition(instruments.registry);
  assert.equal(views, read, 'nothing committed: no store family read the store again');
  await store.update((tx) => tx.update('task', { ...edit(tx.get('task', tasks[0].ID)!), Status: { ...tasks[0].Status, State: 'failed' } }));
  const after = await exposition(instruments.registry);
  assert.ok(views > read, 'a commit: read again');
  assert.match(after, /^shoal_service_tasks_running\{service_name="web",service_id="[^"]+"\} 2$/m);
  assert.match(after, /^shoal_tasks\{state="failed"\} 1$/m);
});
