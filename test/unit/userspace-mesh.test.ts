import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { fetchName, freePort } from '../fakes/loopback';
import * as dgram from 'node:dgram';
import { createLogger, silentLogger } from '../../control/base/log';
import { FakeClock } from '../../control/base/clock';
import { UserspaceMesh } from '../../mesh/userspace/userspace-mesh';
import { Picker } from '../../mesh/userspace/picker';
import { planListeners, socketsFor } from '../../mesh/userspace/listener-plan';
import { NativeTcpProxy } from '../../mesh/userspace/native-tcp-proxy';
import { TcpProxy } from '../../mesh/userspace/tcp-proxy';
import { zeroCounters } from '../../mesh/userspace/port-proxy';
import type { EndpointTable, ServiceEndpoint } from '../../mesh/endpoint-table';
import { buildEndpointTable } from '../../control/endpoints/build-endpoint-table';
import { fakeService, fakeTask } from '../fakes/objects';
import { ACCOUNTING_LABEL, BALANCE_LABEL } from '../../mesh/endpoint-table';

/** A backend on a loopback address that answers every connection with its own name. */
async function backend(host: string, port: number, name: string): Promise<net.Server> {
  const s = net.createServer((c) => c.end(name));
  await new Promise<void>((r) => s.listen(port, host, () => r()));
  return s;
}

function table(published: number, target: number, backends: string[]): EndpointTable {
  return {
    ingressNetworkId: 'ing',
    networks: { ing: { name: 'ingress', subnet: '10.0.0.0/24' } },
    services: [
      {
        serviceId: 's1',
        serviceName: 'web',
        mode: 'vip',
        balance: 'round-robin',
        vips: {},
        aliases: {},
        ports: [{ protocol: 'tcp', targetPort: target, publishedPort: published, publishMode: 'ingress' }],
        backends: backends.map((ip, i) => ({ taskId: `t${i}`, name: `web.${i + 1}.t${i}`, nodeId: 'n1', addrs: { ing: ip } })),
      },
    ],
  };
}

test('a published port balances round-robin, skips a refusing backend, follows changes and closes', async () => {
  const target = await freePort();
  const published = await freePort();
  const a = await backend('127.0.0.2', target, 'a');
  const b = await backend('127.0.0.3', target, 'b');
  const mesh = new UserspaceMesh(silentLogger);
  try {
    await mesh.apply(table(published, target, ['127.0.0.2', '127.0.0.3']));
    const seen = [await fetchName(published), await fetchName(published), await fetchName(published), await fetchName(published)];
    assert.deepEqual(seen.sort(), ['a', 'a', 'b', 'b']);

    // 127.0.0.4 refuses: the connection goes on to the next backend, the client never notices.
    await mesh.apply(table(published, target, ['127.0.0.4', '127.0.0.2']));
    for (let i = 0; i < 4; i++) assert.equal(await fetchName(published), 'a');
    const counters = [...mesh.counters().values()][0].counters;
    assert.ok(counters.backendErrors >= 1);
    assert.equal(counters.connectionsTotal, 8);

    await mesh.apply({ networks: {}, services: [] });
    await assert.rejects(fetchName(published), /ECONNREFUSED/);
  } finally {
    await mesh.stop();
    a.close();
    b.close();
  }
});

test('the endpoint table lists only running tasks that are meant to run, by their network addresses', () => {
  const s = fakeService({ id: 's1', name: 'web', ports: [{ Protocol: 'tcp', TargetPort: 80, PublishedPort: 8080, PublishMode: 'ingress' }] });
  s.Endpoint.VirtualIPs = [{ NetworkID: 'ing', Addr: '10.0.0.2/24' }];
  const net = { ID: 'ing', Ingress: true } as any;
  const attach = (addr: string) => [{ Network: net, Addresses: [addr] }];
  const running = { ...fakeTask(s, { id: 't1', slot: 1, state: 'running', nodeId: 'n1' }), NetworksAttachments: attach('10.0.0.3/24') };
  const stopping = { ...fakeTask(s, { id: 't2', slot: 2, state: 'running', desired: 'shutdown', nodeId: 'n1' }), NetworksAttachments: attach('10.0.0.4/24') };
  const starting = { ...fakeTask(s, { id: 't3', slot: 3, state: 'starting', nodeId: 'n1' }), NetworksAttachments: attach('10.0.0.5/24') };
  const t = buildEndpointTable([s], [running, stopping, starting], [net]);
  assert.equal(t.ingressNetworkId, 'ing');
  assert.deepEqual(t.services[0].vips, { ing: '10.0.0.2' });
  assert.deepEqual(t.services[0].backends, [{ taskId: 't1', name: 'web.1.t1', nodeId: 'n1', addrs: { ing: '10.0.0.3' } }]);
  assert.deepEqual(t.services[0].ports, [{ protocol: 'tcp', targetPort: 80, publishedPort: 8080, publishMode: 'ingress' }]);
  assert.equal(t.services[0].balance, 'round-robin');

  assert.equal(t.services[0].accounting, undefined);

  s.Spec.Labels = { [BALANCE_LABEL]: 'least-connections', [ACCOUNTING_LABEL]: 'bytes' };
  assert.equal(buildEndpointTable([s], [running], [net]).services[0].balance, 'least-connections');
  assert.equal(buildEndpointTable([s], [running], [net]).services[0].accounting, true);
});

// ---- picking ----

const addrs = (...ids: string[]) => ids.map((id) => ({ taskId: id, host: '10.0.0.1', port: 80 }));

test('round-robin starts each connection at the next backend and tries the rest in order after a refusal', () => {
  const p = new Picker(addrs('a', 'b', 'c'));
  const starts = [p.start(), p.start(), p.start(), p.start()];
  assert.deepEqual(starts, [0, 1, 2, 0]);
  assert.deepEqual([0, 1, 2, 3].map((attempt) => p.pick(attempt, 2)?.taskId), ['c', 'a', 'b', undefined]);
  assert.equal(new Picker([]).pick(0, new Picker([]).start()), undefined);
});

test('least-connections picks the least loaded backend and spreads ties in turn', () => {
  const active = new Map<string, number>([['a', 3], ['b', 1], ['c', 2]]);
  const p = new Picker(addrs('a', 'b', 'c'), 'least-connections', active);
  assert.equal(p.backends[p.start()].taskId, 'b');
  assert.equal(p.backends[p.start()].taskId, 'b');
  active.set('c', 0);
  assert.equal(p.backends[p.start()].taskId, 'c');
  // All equal: behaves like round-robin instead of piling onto the first.
  const even = new Picker(addrs('a', 'b', 'c'), 'least-connections', new Map());
  assert.deepEqual([even.start(), even.start(), even.start()], [0, 1, 2]);
});

// ---- what listens where (pure) ----

function svc(o: Partial<ServiceEndpoint> & { serviceName: string }): ServiceEndpoint {
  return { serviceId: o.serviceName, mode: 'vip', vips: {}, aliases: {}, ports: [], backends: [], ...o };
}
const backendOn = (taskId: string, nodeId: string, addrs: Record<string, string>) => ({ taskId, name: taskId, nodeId, addrs });
const NETS = { ing: { name: 'ingress', subnet: '10.0.0.0/24' }, app: { name: 'app', subnet: '10.1.0.0/24' }, db: { name: 'db', subnet: '10.2.0.0/24' } };

test('the plan: ingress ports everywhere, VIP:target per network and port, host ports only where a task runs, no VIP for dnsrr', () => {
  const t: EndpointTable = {
    ingressNetworkId: 'ing',
    networks: NETS,
    services: [
      svc({
        serviceName: 'web',
        balance: 'least-connections',
        vips: { ing: '10.0.0.2', app: '10.1.0.2' },
        ports: [
          { protocol: 'tcp', targetPort: 80, publishedPort: 8080, publishMode: 'ingress' },
          { protocol: 'udp', targetPort: 53, publishedPort: 5353, publishMode: 'ingress', hostIP: '192.0.2.1' },
          { protocol: 'sctp', targetPort: 9, publishedPort: 9999, publishMode: 'ingress' },
        ],
        backends: [backendOn('w1', 'n1', { ing: '10.0.0.3', app: '10.1.0.3' }), backendOn('w2', 'n2', { ing: '10.0.0.4', app: '10.1.0.4' })],
      }),
      svc({
        serviceName: 'game',
        vips: { ing: '10.0.0.5' },
        ports: [{ protocol: 'udp', targetPort: 7777, publishedPort: 7777, publishMode: 'host' }],
        backends: [backendOn('g1', 'n1', { ing: '10.0.0.6' }), backendOn('g2', 'n2', { ing: '10.0.0.7' })],
      }),
      svc({
        serviceName: 'db',
        mode: 'dnsrr',
        ports: [{ protocol: 'tcp', targetPort: 5432, publishedPort: 5432, publishMode: 'host' }],
        backends: [backendOn('d1', 'n2', { db: '10.2.0.3' })],
      }),
    ],
  };
  const plan = planListeners(t, { nodeId: 'n1' });
  const view = Object.fromEntries([...plan].map(([k, l]) => [k, `${l.kind} ${l.serviceName} ${l.strategy} → ${l.backends.map((b) => `${b.host}:${b.port}`).join(',')}`]));
  assert.deepEqual(view, {
    'tcp/0.0.0.0/8080': 'ingress web least-connections → 10.0.0.3:80,10.0.0.4:80',
    'udp/192.0.2.1/5353': 'ingress web least-connections → 10.0.0.3:53,10.0.0.4:53',
    'tcp/10.0.0.2/80': 'vip web least-connections → 10.0.0.3:80,10.0.0.4:80',
    'udp/10.0.0.2/53': 'vip web least-connections → 10.0.0.3:53,10.0.0.4:53',
    'tcp/10.1.0.2/80': 'vip web least-connections → 10.1.0.3:80,10.1.0.4:80',
    'udp/10.1.0.2/53': 'vip web least-connections → 10.1.0.3:53,10.1.0.4:53',
    // mode=host: this node's task only, straight to it; the VIP (any publish mode) to all tasks.
    'udp/0.0.0.0/7777': 'host game round-robin → 10.0.0.6:7777',
    'udp/10.0.0.5/7777': 'vip game round-robin → 10.0.0.6:7777,10.0.0.7:7777',
    // db: dnsrr has no VIP, and its only task runs on n2, so n1 does not serve its host port.
  });
  assert.deepEqual([...planListeners(t, { nodeId: 'n2' }).keys()].filter((k) => k.endsWith('/5432')), ['tcp/0.0.0.0/5432']);
  // Loopback-only: the ingress ports that listen on every address, on 127.0.0.1; nothing else.
  assert.deepEqual([...planListeners(t, { nodeId: 'n1', loopbackOnly: true }).keys()], ['tcp/127.0.0.1/8080']);
});

// ---- the mesh on real loopback sockets ----

/** A backend that answers with its name and keeps the connection until the client ends it. */
async function holdingBackend(host: string, port: number, name: string): Promise<net.Server> {
  const s = net.createServer((c) => {
    c.write(name);
    c.on('data', () => undefined);
    c.on('end', () => c.end());
    c.on('error', () => undefined);
  });
  await new Promise<void>((r) => s.listen(port, host, () => r()));
  return s;
}

async function firstChunk(port: number, host = '127.0.0.1'): Promise<{ text: string; socket: net.Socket }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, host);
    socket.once('data', (d) => resolve({ text: String(d), socket }));
    socket.once('error', reject);
  });
}

async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((r) => setTimeout(r, 5));
}

function publish(port: number, target: number, o: { hostIP?: string; mode?: 'ingress' | 'host'; balance?: ServiceEndpoint['balance']; name?: string } & { backends: ReturnType<typeof backendOn>[] }): ServiceEndpoint {
  return svc({
    serviceName: o.name ?? 'web',
    balance: o.balance,
    ports: [{ protocol: 'tcp', targetPort: target, publishedPort: port, publishMode: o.mode ?? 'ingress', ...(o.hostIP ? { hostIP: o.hostIP } : {}) }],
    backends: o.backends,
  });
}

test('least-connections through the mesh: while one backend holds a connection, new ones go to the other', async () => {
  const target = await freePort();
  const published = await freePort();
  const a = await holdingBackend('127.0.0.2', target, 'a');
  const b = await holdingBackend('127.0.0.3', target, 'b');
  const mesh = new UserspaceMesh(silentLogger);
  try {
    const backends = [backendOn('ta', 'n1', { ing: '127.0.0.2' }), backendOn('tb', 'n1', { ing: '127.0.0.3' })];
    await mesh.apply({ ingressNetworkId: 'ing', networks: NETS, services: [publish(published, target, { balance: 'least-connections', backends })] });
    const held = await firstChunk(published);
    const busy = held.text;
    const counters = () => mesh.counters().get(`web/tcp/${published}`)!.counters;
    for (let i = 0; i < 4; i++) {
      const c = await firstChunk(published);
      assert.notEqual(c.text, busy, `connection ${i} went to the busy backend`);
      c.socket.end();
      await until(() => counters().connectionsActive === 1);
    }
    held.socket.end();
    await until(() => counters().connectionsActive === 0);
    assert.equal(counters().connectionsTotal, 5);
  } finally {
    await mesh.stop();
    a.close();
    b.close();
  }
});

test('a client that half-closes still gets the whole response, and bytes are counted when the connection ends', async () => {
  const target = await freePort();
  const published = await freePort();
  // Reads the whole request (until the client's FIN), then answers: what HTTP/1.0 and `nc -N` clients rely on.
  const big = 'x'.repeat(1 << 20);
  const server = net.createServer({ allowHalfOpen: true }, (c) => {
    let got = '';
    c.on('data', (d) => (got += d));
    c.on('end', () => c.end(`got:${got}:${big}`));
  });
  await new Promise<void>((r) => server.listen(target, '127.0.0.2', () => r()));
  const mesh = new UserspaceMesh(silentLogger);
  try {
    await mesh.apply({ ingressNetworkId: 'ing', networks: NETS, services: [publish(published, target, { backends: [backendOn('ta', 'n1', { ing: '127.0.0.2' })] })] });
    const answer = await new Promise<string>((resolve, reject) => {
      const c = net.connect({ port: published, host: '127.0.0.1', allowHalfOpen: true });
      let out = '';
      c.on('data', (d) => (out += d));
      c.on('end', () => resolve(out));
      c.on('error', reject);
      c.end('hello');
    });
    assert.equal(answer, `got:hello:${big}`);
    const counters = () => mesh.counters().get(`web/tcp/${published}`)!.counters;
    await until(() => counters().connectionsActive === 0);
    assert.equal(counters().bytesIn, 'hello'.length);
    assert.equal(counters().bytesOut, answer.length);
  } finally {
    await mesh.stop();
    server.close();
  }
});

test('a VIP gets a listener on VIP:targetPort (TCP and UDP) that balances over the tasks on that network', async () => {
  const target = await freePort();
  const a = await backend('127.0.0.2', target, 'a');
  const udpTask = dgram.createSocket('udp4');
  udpTask.on('message', (m, r) => udpTask.send(`a:${m}`, r.port, r.address));
  await new Promise<void>((r) => udpTask.bind(target, '127.0.0.2', () => r()));
  const mesh = new UserspaceMesh(silentLogger, { nodeId: 'n1' });
  try {
    const web = svc({
      serviceName: 'web',
      vips: { app: '127.0.0.10' },
      ports: [
        { protocol: 'tcp', targetPort: target, publishedPort: 0, publishMode: 'host' },
        { protocol: 'udp', targetPort: target, publishedPort: 0, publishMode: 'host' },
      ],
      // The task's address on 'app' is what the VIP balances to; its ingress address is not used.
      backends: [backendOn('ta', 'n2', { app: '127.0.0.2', ing: '127.0.0.99' })],
    });
    const rr = svc({ serviceName: 'rr', mode: 'dnsrr', vips: { app: '127.0.0.11' }, ports: [{ protocol: 'tcp', targetPort: target, publishedPort: 0, publishMode: 'host' }] });
    await mesh.apply({ ingressNetworkId: 'ing', networks: NETS, services: [web, rr] });
    assert.equal(await fetchName(target, '127.0.0.10'), 'a');
    const c = dgram.createSocket('udp4');
    const reply = new Promise<string>((r) => c.once('message', (m) => r(String(m))));
    c.send('ping', target, '127.0.0.10');
    assert.equal(await reply, 'a:ping');
    c.close();
    assert.deepEqual([...mesh.state().keys()].sort(), [`tcp/127.0.0.10/${target}`, `udp/127.0.0.10/${target}`]);
    await assert.rejects(fetchName(target, '127.0.0.11'), /ECONNREFUSED/);
  } finally {
    await mesh.stop();
    a.close();
    udpTask.close();
  }
});

test("a mode=host port listens only on a node running a task, and goes only to that node's tasks", async () => {
  const target = await freePort();
  const published = await freePort();
  const a = await backend('127.0.0.2', target, 'a');
  const b = await backend('127.0.0.3', target, 'b');
  const table: EndpointTable = {
    ingressNetworkId: 'ing',
    networks: NETS,
    services: [publish(published, target, { mode: 'host', backends: [backendOn('ta', 'n1', { ing: '127.0.0.2' }), backendOn('tb', 'n2', { ing: '127.0.0.3' })] })],
  };
  const onN1 = new UserspaceMesh(silentLogger, { nodeId: 'n1' });
  const onN3 = new UserspaceMesh(silentLogger, { nodeId: 'n3' });
  try {
    await onN3.apply(table);
    assert.equal(onN3.state().size, 0);
    await assert.rejects(fetchName(published), /ECONNREFUSED/);
    await onN1.apply(table);
    for (let i = 0; i < 3; i++) assert.equal(await fetchName(published), 'a');
  } finally {
    await onN1.stop();
    await onN3.stop();
    a.close();
    b.close();
  }
});

test('loopbackOnly serves ingress ports on 127.0.0.1 only, and no VIPs', async () => {
  const target = await freePort();
  const published = await freePort();
  const a = await backend('127.0.0.2', target, 'a');
  const mesh = new UserspaceMesh(silentLogger, { loopbackOnly: true });
  try {
    const web = { ...publish(published, target, { backends: [backendOn('ta', 'n1', { ing: '127.0.0.2', app: '127.0.0.2' })] }), vips: { app: '127.0.0.12' } };
    await mesh.apply({ ingressNetworkId: 'ing', networks: NETS, services: [web] });
    assert.deepEqual([...mesh.state().keys()], [`tcp/127.0.0.1/${published}`]);
    assert.equal(await fetchName(published), 'a');
    // Another loopback address is not 127.0.0.1: the listener is bound to exactly that address.
    await assert.rejects(fetchName(published, '127.0.0.5'), /ECONNREFUSED/);
  } finally {
    await mesh.stop();
    a.close();
  }
});

test('a port that cannot be bound is logged once, does not hold up other ports, and is bound by a later retry', async () => {
  const target = await freePort();
  const taken = await freePort();
  const free = await freePort();
  const a = await backend('127.0.0.2', target, 'a');
  const squatter = net.createServer((c) => c.end('squatter'));
  await new Promise<void>((r) => squatter.listen(taken, '127.0.0.1', () => r()));
  const lines: string[] = [];
  const log = createLogger('debug', {}, (l) => lines.push(l));
  const clock = new FakeClock();
  const mesh = new UserspaceMesh(log, { clock, bindRetryMs: 5000 });
  try {
    const backends = [backendOn('ta', 'n1', { ing: '127.0.0.2' })];
    const table: EndpointTable = {
      ingressNetworkId: 'ing',
      networks: NETS,
      services: [publish(taken, target, { hostIP: '127.0.0.1', backends }), publish(free, target, { name: 'other', hostIP: '127.0.0.1', backends })],
    };
    await mesh.apply(table);
    assert.equal(mesh.state().get(`tcp/127.0.0.1/${taken}`)?.open, false);
    assert.equal(await fetchName(free), 'a', 'the other port is served');
    await mesh.apply(table); // tried again on the next table: still taken, not logged again
    const failures = () => lines.filter((l) => l.includes('cannot listen')).length;
    assert.equal(failures(), 1);
    assert.match(lines.find((l) => l.includes('cannot listen'))!, /EADDRINUSE/);

    await new Promise((r) => squatter.close(r));
    clock.advance(5000);
    await mesh.settled();
    assert.equal(mesh.state().get(`tcp/127.0.0.1/${taken}`)?.open, true);
    assert.equal(await fetchName(taken), 'a');
    assert.ok(lines.some((l) => l.includes('listener open after retry')));
    assert.equal(clock.pending(), 0, 'no retry timer once everything is bound');
  } finally {
    await mesh.stop();
    squatter.close();
    a.close();
  }
});

test('a TCP listener on a specific address rides on the wildcard socket of its port (Linux refuses both binds)', () => {
  const t: EndpointTable = {
    ingressNetworkId: 'ing',
    networks: NETS,
    services: [
      svc({ serviceName: 'web', vips: { app: '10.1.0.2' }, ports: [{ protocol: 'tcp', targetPort: 80, publishedPort: 80, publishMode: 'ingress' }] }),
      svc({ serviceName: 'dns', vips: { app: '10.1.0.3' }, ports: [{ protocol: 'udp', targetPort: 53, publishedPort: 53, publishMode: 'ingress' }] }),
      svc({ serviceName: 'api', vips: { app: '10.1.0.4' }, ports: [{ protocol: 'tcp', targetPort: 9000, publishedPort: 9000, publishMode: 'ingress', hostIP: '192.0.2.1' }] }),
    ],
  };
  const sockets = socketsFor(planListeners(t));
  const view = Object.fromEntries([...sockets].map(([k, s]) => [k, [...s.routes.keys()]]));
  assert.deepEqual(view, {
    'tcp/0.0.0.0/80': ['10.1.0.2'],
    'udp/0.0.0.0/53': [],
    'udp/10.1.0.3/53': [], // UDP binds coexist (SO_REUSEADDR): the kernel picks the most specific
    'tcp/192.0.2.1/9000': [],
    'tcp/10.1.0.4/9000': [], // two specific addresses do not collide
  });
});

for (const relay of ['native', 'handles'] as const) test(`a shared TCP listener routes by the address the client connected to, with counters per route [${relay}]`, async () => {
  const target = await freePort();
  const port = await freePort();
  const a = await backend('127.0.0.2', target, 'a');
  const b = await backend('127.0.0.3', target, 'b');
  const proxy = relay === 'native' ? new NativeTcpProxy({ host: '0.0.0.0', port }, silentLogger) : new TcpProxy({ host: '0.0.0.0', port }, silentLogger);
  const vipCounters = zeroCounters();
  try {
    proxy.setBackends([{ taskId: 'tb', host: '127.0.0.3', port: target }], 'round-robin');
    proxy.setLocalRoutes(new Map([['127.0.0.10', { backends: [{ taskId: 'ta', host: '127.0.0.2', port: target }], strategy: 'round-robin', counters: vipCounters }]]));
    await proxy.listen();
    assert.equal(await fetchName(port, '127.0.0.1'), 'b');
    assert.equal(await fetchName(port, '127.0.0.10'), 'a');
    assert.equal(await fetchName(port, '127.0.0.10'), 'a');
    assert.equal(proxy.counters.connectionsTotal, 1);
    assert.equal(vipCounters.connectionsTotal, 2);
  } finally {
    await proxy.close();
    a.close();
    b.close();
  }
});
