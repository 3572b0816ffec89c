import { test } from 'node:test';
import assert from 'node:assert/strict';
import { contains, formatCidr, formatIPv4, hostBitsSet, overlaps, parseCidr, parseIPv4 } from '../../control/manager/allocator/ipv4';
import { SubnetPool } from '../../control/manager/allocator/subnet-pool';

test('ipv4: strict parse and format round-trip', () => {
  for (const ip of ['0.0.0.0', '10.0.0.1', '192.168.255.254', '255.255.255.255']) assert.equal(formatIPv4(parseIPv4(ip)!), ip);
  for (const bad of ['10.0.0', '10.0.0.256', '010.0.0.1', '10.0.0.1.2', '', 'a.b.c.d', '10..0.1', '1e1.0.0.1']) {
    assert.equal(parseIPv4(bad), undefined, bad);
  }
  assert.equal(formatCidr(parseCidr('10.0.0.0/8')!), '10.0.0.0/8');
  assert.equal(parseCidr('10.0.0.5/24'), undefined);
  assert.equal(formatCidr(parseCidr('10.0.0.5/24', false)!), '10.0.0.0/24');
  assert.equal(hostBitsSet('10.0.0.5/24'), true);
  assert.equal(hostBitsSet('10.0.0.0/24'), false);
  assert.equal(parseCidr('10.0.0.0/33'), undefined);
  assert.equal(parseCidr('10.0.0.0'), undefined);
  assert.deepEqual(parseCidr('0.0.0.0/0'), { base: 0, prefix: 0 });
});

test('ipv4: contains and overlaps', () => {
  const a = parseCidr('10.0.0.0/16')!;
  const b = parseCidr('10.0.255.0/24')!;
  const c = parseCidr('10.1.0.0/24')!;
  assert.equal(overlaps(a, b), true);
  assert.equal(overlaps(b, a), true);
  assert.equal(overlaps(a, c), false);
  assert.equal(contains(a, parseIPv4('10.0.200.1')!), true);
  assert.equal(contains(a, parseIPv4('10.1.0.0')!), false);
  assert.equal(overlaps(parseCidr('255.255.255.0/24')!, parseCidr('255.255.255.255/32')!), true);
});

test('subnet pool: /24s of 10.0.0.0/8 in order, released ones reused lowest first', () => {
  const pool = new SubnetPool();
  assert.equal(pool.allocate(), '10.0.0.0/24');
  assert.equal(pool.allocate(), '10.0.1.0/24');
  assert.equal(pool.allocate(), '10.0.2.0/24');
  assert.equal(pool.release('10.0.1.0/24'), true);
  assert.equal(pool.release('10.0.1.0/24'), false);
  assert.equal(pool.allocate(), '10.0.1.0/24');
  assert.deepEqual(pool.allocated(), ['10.0.0.0/24', '10.0.1.0/24', '10.0.2.0/24']);
});

test('subnet pool: user subnets are reserved anywhere, skipped by allocation, refused on overlap', () => {
  const pool = new SubnetPool();
  pool.reserve('10.0.0.0/23'); // covers the first two /24s
  pool.reserve('192.168.7.0/24'); // outside the pool: fine
  assert.equal(pool.allocate(), '10.0.2.0/24');
  assert.throws(() => pool.reserve('10.0.1.128/25'), {
    status: 409,
    message: 'invalid pool request: Pool overlaps with other one on this address space (10.0.1.128/25 overlaps 10.0.0.0/23, already in use)',
  });
  assert.throws(() => pool.reserve('10.0.0.0/8'), /Pool overlaps with other one/);
  assert.throws(() => pool.reserve('10.0.3.0/33'), { status: 400, message: /invalid subnet 10.0.3.0\/33/ });
  assert.equal(pool.isAllocated('192.168.7.0/24'), true);
});

test('subnet pool: configurable pools and size, exhaustion explains itself', () => {
  const pool = new SubnetPool({ pools: ['172.20.0.0/24', '172.30.0.0/25'], subnetSize: 26 });
  const got = [1, 2, 3, 4, 5, 6].map(() => pool.allocate());
  assert.deepEqual(got, ['172.20.0.0/26', '172.20.0.64/26', '172.20.0.128/26', '172.20.0.192/26', '172.30.0.0/26', '172.30.0.64/26']);
  assert.throws(() => pool.allocate(), {
    message:
      'could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network ' +
      '(every /26 of 172.20.0.0/24, 172.30.0.0/25 is in use; remove unused networks or give a Subnet)',
  });
  pool.release('172.20.0.64/26');
  assert.equal(pool.allocate(), '172.20.0.64/26');
  assert.throws(() => new SubnetPool({ pools: ['10.0.0.0/16'], subnetSize: 8 }), /invalid subnet size 8/);
  assert.throws(() => new SubnetPool({ pools: ['10.0.0.1/16'] }), /invalid address pool 10.0.0.1\/16/);
});

test('subnet pool: rebuilt after a restart by reserving stored subnets, allocation carries on around them', () => {
  const before = new SubnetPool();
  const stored = [before.allocate(), before.allocate(), before.allocate()];
  before.release(stored[1]);
  const after = new SubnetPool();
  for (const s of [stored[0], stored[2]]) after.reserve(s);
  assert.deepEqual(after.allocated(), before.allocated());
  assert.equal(after.allocate(), '10.0.1.0/24');
  assert.equal(after.allocate(), '10.0.3.0/24');
});

test('subnet pool: first fit stays fast with many subnets in use', () => {
  const pool = new SubnetPool({ pools: ['10.0.0.0/16'] });
  for (let i = 0; i < 256; i++) pool.allocate();
  assert.throws(() => pool.allocate(), /could not find an available/);
  assert.equal(pool.allocated().length, 256);
});
