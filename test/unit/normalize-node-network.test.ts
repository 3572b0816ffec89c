import { test } from 'node:test';
import assert from 'node:assert/strict';
import { normalizeNetworkCreate, normalizeNodeSpec } from '../../control/api/normalize-service';

test('node spec: role and availability are required, matched case-insensitively, stored lowercase', () => {
  assert.deepEqual(normalizeNodeSpec({ Role: 'Manager', Availability: 'DRAIN', Labels: { zone: 'a' } }), {
    Labels: { zone: 'a' },
    Role: 'manager',
    Availability: 'drain',
  });
  assert.deepEqual(normalizeNodeSpec({ Name: 'n1', Role: 'worker', Availability: 'active' }), {
    Name: 'n1',
    Labels: {},
    Role: 'worker',
    Availability: 'active',
  });
  assert.throws(() => normalizeNodeSpec({ Availability: 'active' }), { field: 'Role', message: 'invalid Role: "" (use worker or manager)' });
  assert.throws(() => normalizeNodeSpec({ Role: 'boss', Availability: 'active' }), { field: 'Role', message: /invalid Role: "boss"/ });
  assert.throws(() => normalizeNodeSpec({ Role: 'worker', Availability: 'sleep' }), {
    field: 'Availability',
    message: 'invalid Availability: "sleep" (use active, pause or drain)',
  });
  assert.throws(() => normalizeNodeSpec({ Role: 'worker', Availability: 'active', Labels: { a: true } }), { field: 'Labels' });
  assert.throws(() => normalizeNodeSpec([]), { field: 'Spec' });
});

test('network create: overlay by default, with every field filled', () => {
  assert.deepEqual(normalizeNetworkCreate({ Name: 'backend' }), {
    Name: 'backend',
    Driver: 'overlay',
    Scope: 'swarm',
    EnableIPv6: false,
    IPAM: { Driver: 'default', Options: null, Config: [] },
    Internal: false,
    Attachable: false,
    Ingress: false,
    Options: {},
    Labels: {},
  });
  const n = normalizeNetworkCreate({
    Name: 'front',
    Driver: 'overlay',
    Attachable: true,
    Internal: true,
    Labels: { team: 'web' },
    IPAM: { Config: [{ Subnet: '10.20.0.0/16', Gateway: '10.20.0.254' }] },
  });
  assert.deepEqual(n.IPAM.Config, [{ Subnet: '10.20.0.0/16', Gateway: '10.20.0.254' }]);
  assert.equal(n.Attachable, true);
  assert.equal(n.Internal, true);
  assert.deepEqual(n.Labels, { team: 'web' });
});

const BAD_NETWORKS: [unknown, string, string | RegExp][] = [
  [{}, 'Name', 'meta: name must be provided'],
  [{ Name: 'bad name' }, 'Name', /name must be valid as a DNS name component/],
  [{ Name: 'host' }, 'Name', 'host is a pre-defined network and cannot be created'],
  [{ Name: 'n', Driver: 'bridge' }, 'Driver', 'invalid Driver "bridge": swarm-scoped networks use the "overlay" driver only'],
  [{ Name: 'n', Scope: 'local' }, 'Scope', /swarm-scoped networks only/],
  [{ Name: 'n', Ingress: true, Attachable: true }, 'Attachable', 'ingress network cannot be attachable'],
  [{ Name: 'n', IPAM: { Config: [{ Subnet: '10.0.0.0/33' }] } }, 'IPAM.Config[0].Subnet', /invalid subnet 10.0.0.0\/33: use IPv4 CIDR/],
  [{ Name: 'n', IPAM: { Config: [{ Subnet: '10.0.0.5/24' }] } }, 'IPAM.Config[0].Subnet', /host bits are set; use 10.0.0.0\/24/],
  [{ Name: 'n', IPAM: { Config: [{ Subnet: 'fd00::/64' }] } }, 'IPAM.Config[0].Subnet', /invalid subnet fd00::\/64/],
  [{ Name: 'n', IPAM: { Config: [{ Subnet: '10.0.0.0/31' }] } }, 'IPAM.Config[0].Subnet', /too small for tasks/],
  [{ Name: 'n', IPAM: { Config: [{ Subnet: '10.0.0.0/24', Gateway: '10.0.1.1' }] } }, 'IPAM.Config[0].Gateway', 'ipam configuration: subnet 10.0.0.0/24 does not contain gateway 10.0.1.1'],
  [{ Name: 'n', IPAM: { Config: [{ Subnet: '10.0.0.0/24', Gateway: 'gw' }] } }, 'IPAM.Config[0].Gateway', 'ipam configuration: invalid gateway gw'],
  [{ Name: 'n', IPAM: { Config: [{ Subnet: '10.0.0.0/24' }, { Subnet: '10.0.1.0/24' }] } }, 'IPAM.Config', /at most one subnet/],
  [{ Name: 'n', IPAM: { Driver: 'dhcp' } }, 'IPAM.Driver', /only the "default" IPAM driver/],
  [{ Name: 'n', EnableIPv6: true }, 'EnableIPv6', /IPv6/],
  [{ Name: 'n', Attachable: 'yes' }, 'Attachable', 'invalid Attachable "yes": must be true or false'],
];

for (const [body, field, message] of BAD_NETWORKS) {
  test(`network create refuses ${JSON.stringify(body)}`, () => {
    assert.throws(() => normalizeNetworkCreate(body), { name: 'ShoalError', status: 400, field, message });
  });
}
