import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NetworkIpam } from '../../control/manager/allocator/ipam';
import { PortAllocator } from '../../control/manager/allocator/port-allocator';

test('ipam: gateway is the first host, allocation skips network, gateway and broadcast', () => {
  const ipam = new NetworkIpam({ name: 'backend', subnet: '10.0.1.0/24' });
  assert.equal(ipam.gateway, '10.0.1.1');
  assert.equal(ipam.allocate(), '10.0.1.2/24');
  assert.equal(ipam.allocate(), '10.0.1.3/24');
  assert.equal(ipam.available(), 253 - 2);
  const custom = new NetworkIpam({ name: 'x', subnet: '10.9.0.0/30', gateway: '10.9.0.2' });
  assert.equal(custom.allocate(), '10.9.0.1/30');
  assert.throws(() => custom.allocate(), { message: 'no available IP addresses on network x (all 1 task addresses of 10.9.0.0/30 are in use)' });
});

test('ipam: a released address is not handed out again until the cursor comes round', () => {
  const ipam = new NetworkIpam({ name: 'tiny', subnet: '10.0.0.0/29' }); // hosts .1-.6, gateway .1
  const got = [ipam.allocate(), ipam.allocate(), ipam.allocate()];
  assert.deepEqual(got, ['10.0.0.2/29', '10.0.0.3/29', '10.0.0.4/29']);
  assert.equal(ipam.release('10.0.0.3/29'), true);
  assert.equal(ipam.release('10.0.0.3/29'), false);
  assert.equal(ipam.allocate(), '10.0.0.5/29');
  assert.equal(ipam.allocate(), '10.0.0.6/29');
  assert.equal(ipam.allocate(), '10.0.0.3/29'); // wrapped round to the freed one
  assert.throws(() => ipam.allocate(), { status: 400, message: /^no available IP addresses on network tiny/ });
  assert.deepEqual(ipam.inUse(), ['10.0.0.2/29', '10.0.0.3/29', '10.0.0.4/29', '10.0.0.5/29', '10.0.0.6/29']);
});

test('ipam: rebuilt after a restart, it continues above the highest address in use', () => {
  const ipam = new NetworkIpam({ name: 'ingress', subnet: '10.0.0.0/24' });
  for (const a of ['10.0.0.6/24', '10.0.0.2', '10.0.0.9/24']) ipam.reserve(a);
  assert.equal(ipam.has('10.0.0.6/24'), true);
  assert.equal(ipam.allocate(), '10.0.0.10/24');
  assert.throws(() => ipam.reserve('10.0.0.6'), { status: 409, message: 'address 10.0.0.6 is already in use on network ingress' });
  assert.throws(() => ipam.reserve('10.0.0.1'), { message: 'address 10.0.0.1 is the gateway of network ingress' });
  assert.throws(() => ipam.reserve('10.0.0.255'), { message: 'address 10.0.0.255 is the broadcast address of network ingress' });
  assert.throws(() => ipam.reserve('10.0.0.0'), { message: 'address 10.0.0.0 is the network address of network ingress' });
  assert.throws(() => ipam.reserve('10.0.5.1/24'), { message: 'address 10.0.5.1/24 is not in subnet 10.0.0.0/24 of network ingress' });
  assert.throws(() => ipam.reserve('10.0.0.7/16'), /invalid address 10.0.0.7\/16 for network ingress/);
  assert.equal(ipam.release('nonsense'), false);
});

test('ipam: the cursor wraps at the end of the subnet', () => {
  const ipam = new NetworkIpam({ name: 'n', subnet: '10.0.0.0/29' });
  ipam.reserve('10.0.0.6');
  assert.equal(ipam.allocate(), '10.0.0.2/29');
  assert.throws(() => new NetworkIpam({ name: 'n', subnet: '10.0.0.0/24', gateway: '10.0.1.1' }), /does not contain gateway 10.0.1.1/);
  assert.throws(() => new NetworkIpam({ name: 'n', subnet: '10.0.0.0/31' }), /need an IPv4 CIDR of \/30 or larger/);
});

const web = { id: 'w3b1d', name: 'web' };
const api = { id: 'ap1id', name: 'api' };

test('ports: fixed ports are reserved per protocol, conflicts name the owner like swarmkit', () => {
  const ports = new PortAllocator();
  ports.reserve('tcp', 8080, web);
  ports.reserve('tcp', 8080, web); // same owner: no-op
  ports.reserve('udp', 8080, api); // another protocol: free
  assert.throws(() => ports.reserve('tcp', 8080, api), {
    status: 400,
    field: 'EndpointSpec.Ports',
    message: "port '8080' is already in use by service 'web' (w3b1d) as an ingress port",
  });
  assert.deepEqual(ports.ownerOf('udp', 8080), api);
  assert.throws(() => ports.reserve('tcp', 0, web), /invalid published port 0/);
  assert.throws(() => ports.reserve('tcp', 70000, web), /invalid published port 70000/);
  assert.equal(ports.release('tcp', 8080), true);
  assert.equal(ports.release('tcp', 8080), false);
  ports.reserve('tcp', 8080, api);
});

test('ports: dynamic ports come from 30000-32767 and rotate', () => {
  const ports = new PortAllocator();
  assert.equal(ports.allocate('tcp', web), 30000);
  assert.equal(ports.allocate('tcp', web), 30001);
  assert.equal(ports.allocate('udp', web), 30000);
  ports.release('tcp', 30000);
  assert.equal(ports.allocate('tcp', api), 30002); // the freed one is not reused at once
  ports.reserve('tcp', 30003, api); // a fixed port inside the range is fine...
  assert.equal(ports.allocate('tcp', api), 30004); // ...and skipped
  assert.throws(() => ports.reserve('tcp', 30001, api), /port '30001' is already in use by service 'web'/);
});

test('ports: exhaustion and wrap-around in a small range', () => {
  const ports = new PortAllocator({ dynamicStart: 40000, dynamicEnd: 40002 });
  assert.deepEqual([ports.allocate('tcp', web), ports.allocate('tcp', web), ports.allocate('tcp', web)], [40000, 40001, 40002]);
  assert.throws(() => ports.allocate('tcp', api), {
    message: "no free port in 40000-40002 for tcp (service 'api'): every dynamic port is published; remove unused services or publish fixed ports",
  });
  ports.release('tcp', 40001);
  assert.equal(ports.allocate('tcp', api), 40001);
  assert.throws(() => new PortAllocator({ dynamicStart: 5, dynamicEnd: 4 }), /invalid dynamic port range 5-4/);
});

test('ports: rebuilt after a restart from stored endpoints; releasing a service frees all its ports', () => {
  const ports = new PortAllocator();
  ports.reserve('tcp', 8080, web);
  ports.reserve('tcp', 30005, web);
  ports.reserve('udp', 53, api);
  assert.equal(ports.allocate('tcp', api), 30006);
  assert.deepEqual(ports.inUse(), [
    { protocol: 'tcp', port: 8080, owner: web },
    { protocol: 'tcp', port: 30005, owner: web },
    { protocol: 'tcp', port: 30006, owner: api },
    { protocol: 'udp', port: 53, owner: api },
  ]);
  assert.equal(ports.releaseOwner('w3b1d'), 2);
  assert.deepEqual(ports.inUse().map((p) => p.port), [30006, 53]);
});
