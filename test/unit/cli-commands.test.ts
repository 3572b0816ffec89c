/**
 * swarmctl end to end against a fake daemon on a unix socket (a real HTTP server, closed in after()): what is
 * sent for each command, what is printed, the exit status, and that a bad flag sends nothing at all.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../control/cli/swarmctl';

interface Seen {
  method: string;
  path: string;
  query: URLSearchParams;
  body: unknown;
}

const NOW = Date.parse('2026-11-27T01:19:00Z');
const NODE = {
  ID: 'v05wa5q12efwguyv511q915lg',
  Version: { Index: 9 },
  CreatedAt: '2026-11-27T01:09:50Z',
  Spec: { Role: 'manager', Availability: 'active', Labels: {} },
  Description: { Hostname: 'vm', Engine: { EngineVersion: '0.1.0' }, Platform: { OS: 'linux', Architecture: 'x86_64' }, Resources: {} },
  Status: { State: 'ready', Addr: '127.0.0.1' },
  ManagerStatus: { Leader: true, Reachability: 'reachable', Addr: '127.0.0.1:2377' },
};
const services = new Map<string, Record<string, unknown>>();
const seen: Seen[] = [];
let server: Server;
let dir: string;
let host: string;

function svcJson(id: string, spec: Record<string, unknown>, version = 1): Record<string, unknown> {
  return { ID: id, Version: { Index: version }, CreatedAt: '2026-11-27T01:18:51Z', UpdatedAt: '2026-11-27T01:18:51Z', Spec: spec, Endpoint: { Spec: {} } };
}

async function handle(req: IncomingMessage, body: unknown): Promise<[number, unknown]> {
  const url = new URL(req.url ?? '/', 'http://x');
  const path = url.pathname.replace(/^\/v1\.41/, '');
  seen.push({ method: req.method ?? '', path, query: url.searchParams, body });
  const find = (ref: string) => [...services.values()].find((s) => s.ID === ref || (s.Spec as { Name: string }).Name === ref);
  let m: RegExpExecArray | null;
  if (path === '/info') return [200, { Swarm: { NodeID: NODE.ID, NodeAddr: '127.0.0.1', LocalNodeState: 'active', ControlAvailable: true } }];
  if (path === '/nodes') return [200, [NODE]];
  if ((m = /^\/nodes\/([^/]+)$/.exec(path))) return m[1] === NODE.ID || m[1] === 'vm' ? [200, NODE] : [404, { message: `node ${m[1]} not found` }];
  if (path === '/swarm') return [200, { JoinTokens: { Worker: 'SWMTKN-1-w', Manager: 'SWMTKN-1-m' } }];
  if (path === '/swarm/init') return [200, NODE.ID];
  if (path === '/services/create') {
    const spec = body as { Name: string };
    if (spec.Name === 'taken') return [409, { message: 'rpc error: code = AlreadyExists desc = name conflicts with an existing object' }];
    const id = `svc${services.size + 1}`.padEnd(25, 'x');
    services.set(id, svcJson(id, { ...spec, UpdateConfig: { Parallelism: 1, Monitor: 1e6, MaxFailureRatio: 0 } }));
    return [201, { ID: id, Warnings: null }];
  }
  if (path === '/services') return [200, [...services.values()].map((s) => ({ ...s, ServiceStatus: { RunningTasks: 1, DesiredTasks: 1 } }))];
  if ((m = /^\/services\/([^/]+)\/update$/.exec(path))) {
    const s = find(m[1]);
    if (!s) return [404, { message: `service ${m[1]} not found` }];
    services.set(s.ID as string, svcJson(s.ID as string, body as Record<string, unknown>, (s.Version as { Index: number }).Index + 1));
    return [200, { Warnings: null }];
  }
  if ((m = /^\/services\/([^/]+)$/.exec(path))) {
    const s = find(m[1]);
    if (!s) return [404, { message: `service ${m[1]} not found` }];
    if (req.method === 'DELETE') {
      services.delete(s.ID as string);
      return [200, null];
    }
    return [200, s];
  }
  if (path === '/tasks') {
    const f = JSON.parse(url.searchParams.get('filters') ?? '{}') as { service?: string[] };
    const out = [];
    for (const id of f.service ?? [...services.keys()]) {
      const s = services.get(id);
      if (!s) continue;
      const n = ((s.Spec as { Mode: { Replicated?: { Replicas?: number } } }).Mode.Replicated?.Replicas ?? 1);
      for (let slot = 1; slot <= n; slot++) {
        out.push({ ID: `task${slot}`.padEnd(25, 'y'), CreatedAt: '2026-11-27T01:18:51Z', ServiceID: id, Slot: slot, NodeID: NODE.ID, DesiredState: 'running', Spec: { ContainerSpec: { Image: 'alpine' } }, Status: { State: 'running', Timestamp: new Date(NOW - 5000).toISOString(), Message: 'started' } });
      }
    }
    return [200, out];
  }
  return [404, { message: `page not found: ${path}` }];
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'swarmctl-'));
  const sock = join(dir, 'swarmd.sock');
  host = `unix://${sock}`;
  server = createServer((req, res) => {
    let data = '';
    req.on('data', (c) => (data += c));
    req.on('end', async () => {
      const [status, body] = await handle(req, data ? JSON.parse(data) : undefined);
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(body === null ? '' : JSON.stringify(body));
    });
  });
  await new Promise<void>((r) => server.listen(sock, r));
});

after(async () => {
  await new Promise<void>((r) => server.close(() => r()));
  rmSync(dir, { recursive: true, force: true });
});

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await run(argv, { out: (s) => (out += s), err: (s) => (err += s), tty: false, env: (n) => (n === 'SWARMD_HOST' ? host : undefined), now: () => NOW });
  return { code, out, err };
}

test('bad flags print Error: and send nothing', async () => {
  seen.length = 0;
  for (const argv of [
    ['service', 'create', '--replicas', 'x', 'alpine'],
    ['service', 'create', '--publish', '8080:http', 'alpine'],
    ['service', 'create', '--limit-memory', '1q', 'alpine'],
    ['service', 'update', '--update-delay', 'soon', 'web'],
    ['service', 'update', '--rollback', '--image', 'x', 'web'],
    ['service', 'scale', 'web=many'],
    ['node', 'update', '--availability', 'off', 'vm'],
    ['service', 'create', '--frobnicate', 'alpine'],
  ]) {
    const r = await cli(...argv);
    assert.equal(r.code, 1, argv.join(' '));
    assert.match(r.err, /^Error: /, argv.join(' '));
  }
  assert.deepEqual(seen, []);
  const r = await cli('service', 'create', '--replicas', '-2', 'alpine');
  assert.equal(r.err, `Error: invalid argument "-2" for "--replicas" flag: must be a non-negative integer, like 3\nSee 'swarmctl service create --help'.\n`);
});

test('service create -d sends the spec and prints the ID', async () => {
  seen.length = 0;
  const r = await cli('service', 'create', '-d', '--replicas', '1', '--name', 'helloworld', 'alpine', 'ping', 'docker.com');
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^svc\w+\n$/);
  const post = seen.find((s) => s.path === '/services/create');
  assert.deepEqual((post?.body as { TaskTemplate: { ContainerSpec: unknown } }).TaskTemplate.ContainerSpec, { Image: 'alpine', Args: ['ping', 'docker.com'], Init: false, DNSConfig: {} });
});

test('service create follows progress to convergence', async () => {
  const r = await cli('service', 'create', '--name', 'web', 'alpine');
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /overall progress: 1 out of 1 tasks\n/);
  assert.match(r.out, /1\/1: running   \[==================================================>\]\n/);
  assert.match(r.out, /verify: Service converged\n$/);
});

test('service scale prints docker text and sends the version read', async () => {
  seen.length = 0;
  const r = await cli('service', 'scale', '-d', 'helloworld=5');
  assert.equal(r.code, 0, r.err);
  assert.equal(r.out, 'helloworld scaled to 5\n');
  const upd = seen.find((s) => s.path.endsWith('/update'));
  assert.equal(upd?.query.get('version'), '1');
  assert.deepEqual((upd?.body as { Mode: unknown }).Mode, { Replicated: { Replicas: 5 } });
});

test('service ls and ps render from the daemon', async () => {
  const ls = await cli('service', 'ls');
  assert.match(ls.out, /^ID\s+NAME\s+MODE\s+REPLICAS\s+IMAGE\s+PORTS\n/);
  assert.match(ls.out, /helloworld\s+replicated\s+1\/1\s+alpine/);
  const ps = await cli('service', 'ps', 'helloworld');
  assert.match(ps.out, /helloworld\.5\s+alpine\s+vm\s+Running\s+Running 5 seconds ago/);
});

test('inspect of a missing service prints [] then the error', async () => {
  const r = await cli('service', 'inspect', 'nosuch');
  assert.equal(r.code, 1);
  assert.equal(r.out, '[]\n');
  assert.equal(r.err, 'Error: no such service: nosuch\n');
  const f = await cli('service', 'inspect', '--format', '{{.Spec.Name}} {{.Version.Index}}', 'helloworld');
  assert.equal(f.out, 'helloworld 2\n');
  const bad = await cli('service', 'inspect', '--format={{json.Endpoint.Spec.Ports}}', 'helloworld');
  assert.equal(bad.err, 'template parsing error: template: :1:2: executing "" at <json>: wrong number of args for json: want 1 got 0\n');
});

test('daemon refusals print "Error response from daemon"', async () => {
  const r = await cli('service', 'create', '-d', '--name', 'taken', 'alpine');
  assert.equal(r.code, 1);
  assert.equal(r.err, 'Error response from daemon: rpc error: code = AlreadyExists desc = name conflicts with an existing object\n');
});

test('node ls marks self; node inspect self uses /info', async () => {
  const ls = await cli('node', 'ls');
  assert.match(ls.out, /^v05wa5q12efwguyv511q915lg \*\s+vm\s+Ready\s+Active\s+Leader\s+0\.1\.0\n$/m);
  const ins = await cli('node', 'inspect', '--format', '{{.Description.Hostname}}', 'self');
  assert.equal(ins.out, 'vm\n');
});

test('swarm init prints the join command', async () => {
  const r = await cli('swarm', 'init', '--advertise-addr', '127.0.0.1');
  assert.equal(
    r.out,
    'Swarm initialized: current node (v05wa5q12efwguyv511q915lg) is now a manager.\n\n' +
      'To add a worker to this swarm, run the following command:\n\n    swarmctl swarm join --token SWMTKN-1-w 127.0.0.1:2377\n\n' +
      "To add a manager to this swarm, run 'swarmctl swarm join-token manager' and follow the instructions.\n\n",
  );
  assert.equal((await cli('swarm', 'join-token', '-q', 'manager')).out, 'SWMTKN-1-m\n');
});

test('service rm prints each name; unknown commands and --help', async () => {
  assert.equal((await cli('service', 'rm', 'helloworld')).out, 'helloworld\n');
  const unknown = await cli('service', 'frob');
  assert.equal(unknown.code, 1);
  assert.match(unknown.err, /unknown command "frob"/);
  const help = await cli('service', 'create', '--help');
  assert.match(help.out, /Usage:  swarmctl service create \[OPTIONS\] IMAGE \[COMMAND\] \[ARG\.\.\.\]/);
  assert.match(help.out, /--update-delay duration/);
});
