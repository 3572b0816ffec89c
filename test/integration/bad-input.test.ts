/**
 * Every bad input the issue lists, against a real swarmd: each gets a clear error naming the field, a non-zero
 * exit from swarmctl, and changes nothing in the store. The same checks run through the raw API for the cases
 * swarmctl would catch before sending (so the daemon refuses them too), with Docker's status codes.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, request } from 'undici';
import { SwarmdProcess } from '../lab/swarmd-process';
import { requireCommands } from '../lab/require';

const d = new SwarmdProcess(['--dns-addr', '']);
let dispatcher: Agent;

before(async () => {
  requireCommands(['ip']);
  await d.start();
  d.ok('swarm', 'init', '--advertise-addr', '127.0.0.1');
  d.ok('service', 'create', '-d', '--name', 'web', '--replicas', '2', 'busybox', 'sleep', '3600');
  dispatcher = new Agent({ connect: { socketPath: d.socket } });
});
after(async () => {
  await dispatcher?.close();
  await d.destroy();
});

async function api(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const r = await request(`http://swarmd/v1.41${path}`, {
    method,
    dispatcher,
    body: body === undefined ? undefined : JSON.stringify(body),
    headers: { 'content-type': 'application/json' },
    reset: true, // a new connection each time: swarmctl runs between requests can outlast the server's keep-alive
  });
  const text = await r.body.text();
  return { status: r.statusCode, json: text ? JSON.parse(text) : undefined };
}

const snapshot = () => d.ok('service', 'inspect', 'web');

function refused(args: string[], message: RegExp): void {
  const before = snapshot();
  const r = d.cli(...args);
  assert.notEqual(r.code, 0, `swarmctl ${args.join(' ')} should fail`);
  assert.match(r.stderr, message);
  assert.equal(snapshot(), before, 'nothing changed');
}

test('swarmctl refuses bad flags and values, naming them', () => {
  refused(['service', 'create', '--replicas', '-1', '--name', 'x', 'busybox', 'sleep', '1'], /replicas/i);
  refused(['service', 'create', '--replicas', 'abc', '--name', 'x', 'busybox', 'sleep', '1'], /replicas/i);
  refused(['service', 'create', '--no-such-flag', 'busybox'], /unknown flag: --no-such-flag/);
  refused(['service', 'create', '--name', 'x', '-p', '80:abc', 'busybox'], /publish|port/i);
  refused(['service', 'create', '--name', 'x', '--mode', 'global', '--replicas', '2', 'busybox'], /replicas can only be used with replicated mode/);
  refused(['service', 'create', '--name', 'web', 'busybox', 'sleep', '1'], /name conflicts with an existing object/);
  refused(['service', 'scale', 'web=-3'], /invalid|replicas/i);
  refused(['node', 'update', '--availability', 'drain', 'no-such-node'], /node no-such-node not found/);
  refused(['node', 'update', '--availability', 'sideways', 'self'], /availability/i);
  refused(['service', 'update', '--image', 'busybox:2', 'no-such-service'], /service no-such-service not found/);
  refused(['service', 'create', '--name', 'x', '--health-cmd', 'true', '--health-interval', '0', '--health-retries', '3', 'busybox'], /invalid --health-interval 0 with --health-retries/);
  refused(['service', 'create', '--name', 'x', '--health-cmd', 'true', '--health-interval', '-1s', 'busybox'], /--health-interval/);
  refused(['service', 'create', '--name', 'x', '--health-cmd', 'true', '--health-timeout', '500us', 'busybox'], /Timeout in HealthConfig cannot be less than 1ms/);
  refused(['service', 'update', '--health-interval', '100us', 'web'], /Interval in HealthConfig cannot be less than 1ms/);
  assert.equal(d.ok('service', 'ls', '-q').trim().split('\n').length, 1, 'no service was created');
});

test('the API refuses the same things with Docker status codes and {"message"}', async () => {
  const spec = { Name: 'api1', TaskTemplate: { ContainerSpec: { Image: 'busybox', Args: ['sleep', '1'] } }, Mode: { Replicated: { Replicas: -1 } } };
  let r = await api('POST', '/services/create', spec);
  assert.equal(r.status, 400);
  assert.match(r.json.message, /Replicas/);
  r = await api('POST', '/services/create', { ...spec, Mode: { Replicated: { Replicas: 'abc' } } });
  assert.equal(r.status, 400);
  r = await api('POST', '/services/create', { ...spec, Mode: { Global: {}, Replicated: { Replicas: 1 } } });
  assert.equal(r.status, 400);
  r = await api('POST', '/services/create', { ...spec, Mode: { Replicated: { Replicas: 1 } }, Name: 'web' });
  assert.equal(r.status, 409);
  assert.match(r.json.message, /name conflicts/);
  r = await api('POST', '/services/create', { ...spec, Mode: { Replicated: { Replicas: 1 } }, EndpointSpec: { Ports: [{ TargetPort: 99999 }] } });
  assert.equal(r.status, 400);
  const health = (h: object) => ({ ...spec, Mode: { Replicated: { Replicas: 1 } }, TaskTemplate: { ContainerSpec: { Image: 'busybox', Healthcheck: h } } });
  r = await api('POST', '/services/create', health({ Test: ['CMD-SHELL', 'true'], Timeout: 999 }));
  assert.equal(r.status, 400);
  assert.match(r.json.message, /ContainerSpec: Timeout in HealthConfig cannot be less than 1ms/);
  r = await api('POST', '/services/create', health({ Test: ['CMD-SHELL', 'true'], StartPeriod: -1e9 }));
  assert.equal(r.status, 400);
  assert.match(r.json.message, /StartPeriod/);
  r = await api('POST', '/services/create', health({ Test: ['SHELL', 'true'] }));
  assert.equal(r.status, 400);
  assert.match(r.json.message, /TaskTemplate\.ContainerSpec\.Healthcheck\.Test/);
  r = await api('POST', '/services/create', health({ Test: ['CMD-SHELL', 'true'], Retries: -2 }));
  assert.equal(r.status, 400);
  assert.match(r.json.message, /Retries in HealthConfig cannot be negative/);
  r = await api('GET', '/services/nope');
  assert.equal(r.status, 404);
  r = await api('GET', '/nodes/nope');
  assert.equal(r.status, 404);
  r = await api('GET', '/tasks?filters=notjson');
  assert.equal(r.status, 400);
  assert.equal((await api('GET', '/services')).json.length, 1, 'still only web');
});

test('an update based on a stale version is refused with 409 and changes nothing', async () => {
  const current = (await api('GET', '/services/web')).json;
  const stale = current.Version.Index;
  const spec = { ...current.Spec, Labels: { a: 'b' } };
  let r = await api('POST', `/services/web/update?version=${stale}`, spec);
  assert.equal(r.status, 200);
  r = await api('POST', `/services/web/update?version=${stale}`, { ...spec, Labels: { a: 'c' } });
  assert.equal(r.status, 409);
  assert.match(r.json.message, /update out of sequence/);
  assert.deepEqual((await api('GET', '/services/web')).json.Spec.Labels, { a: 'b' });
  r = await api('POST', '/services/web/update', spec);
  assert.equal(r.status, 400, 'a missing version is refused');
});

test('a task whose command does not exist is REJECTED with the reason, and the service keeps its spec', async () => {
  d.ok('service', 'create', '-d', '--name', 'broken', '--restart-condition', 'none', 'busybox', 'no-such-command-xyz');
  await d.until('rejected', () => /Rejected.*no-such-command-xyz/.test(d.ok('service', 'ps', '--no-trunc', 'broken')));
  d.ok('service', 'rm', 'broken');
});

test('bad update and rollback settings are refused, naming the field, and change nothing', async () => {
  refused(['service', 'update', '--update-parallelism', '-1', 'web'], /--update-parallelism/);
  refused(['service', 'update', '--update-max-failure-ratio', '1.5', 'web'], /--update-max-failure-ratio.*ratio from 0 to 1/);
  refused(['service', 'update', '--rollback-max-failure-ratio', '-0.1', 'web'], /--rollback-max-failure-ratio/);
  refused(['service', 'update', '--update-delay', '-1s', 'web'], /update-delay/);
  refused(['service', 'update', '--update-monitor', '-1s', 'web'], /update-monitor/);

  const current = (await api('GET', '/services/web')).json;
  const update = (config: object) => api('POST', `/services/web/update?version=${current.Version.Index}`, { ...current.Spec, UpdateConfig: { ...current.Spec.UpdateConfig, ...config } });
  for (const [config, field] of [
    [{ Parallelism: -1 }, /parallelism/i],
    [{ MaxFailureRatio: 1.5 }, /update-maxfailureratio cannot be less than 0 or bigger than 1/],
    [{ MaxFailureRatio: -1 }, /update-maxfailureratio/],
    [{ Delay: -1e9 }, /update-delay cannot be negative/],
    [{ Monitor: -1e9 }, /update-monitor cannot be negative/],
  ] as const) {
    const r = await update(config);
    assert.equal(r.status, 400, JSON.stringify(config));
    assert.match(r.json.message, field, `the message names the field (Docker's words): ${r.json.message}`);
  }
  assert.equal((await api('GET', '/services/web')).json.Version.Index, current.Version.Index, 'nothing changed');

  // A service never updated has no previous spec to roll back to.
  d.ok('service', 'create', '-d', '--name', 'fresh', 'busybox', 'sleep', '3600');
  const fresh = (await api('GET', '/services/fresh')).json;
  const r = await api('POST', `/services/fresh/update?version=${fresh.Version.Index}&rollback=previous`, fresh.Spec);
  assert.ok(r.status >= 400 && r.status < 500, `status ${r.status}`);
  assert.match(r.json.message, /service fresh does not have a previous spec/);
  const cli = d.cli('service', 'rollback', 'fresh');
  assert.notEqual(cli.code, 0);
  assert.match(cli.stderr, /does not have a previous spec/);
  assert.deepEqual((await api('GET', '/services/fresh')).json, fresh, 'nothing changed');
  d.ok('service', 'rm', 'fresh');
});
