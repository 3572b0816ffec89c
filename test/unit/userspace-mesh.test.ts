import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { silentLogger } from '../../control/base/log';
import { UserspaceMesh } from '../../mesh/userspace/userspace-mesh';
import type { EndpointTable } from '../../mesh/endpoint-table';
import { buildEndpointTable } from '../../control/endpoints/endpoint-publisher';
import { fakeService, fakeTask } from '../fakes/objects';

/** A backend on a loopback address that answers every connection with its own name. */
async function backend(host: string, port: number, name: string): Promise<net.Server> {
  const s = net.createServer((c) => c.end(name));
  await new Promise<void>((r) => s.listen(port, host, () => r()));
  return s;
}

async function fetchName(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = net.connect(port, '127.0.0.1');
    let out = '';
    c.on('data', (d) => (out += d));
    c.on('end', () => resolve(out));
    c.on('error', reject);
  });
}

const freePort = async (): Promise<number> => {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
};

function table(published: number, target: number, backends: string[]): EndpointTable {
  return {
    ingressNetworkId: 'ing',
    networks: { ing: { name: 'ingress', subnet: '10.0.0.0/24' } },
    services: [
      {
        serviceId: 's1',
        serviceName: 'web',
        mode: 'vip',
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
});
