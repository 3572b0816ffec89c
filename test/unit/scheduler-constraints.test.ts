import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  compileConstraints,
  parseConstraint,
  validateConstraints,
} from '../../control/manager/scheduler/constraints';
import { isShoalError } from '../../control/base/errors';
import { fakeNode } from '../fakes/objects';

const matches = (list: string[], node = fakeNode()) => compileConstraints(list)(node);

test('parse splits key, operator and value, trimming spaces', () => {
  assert.deepEqual(parseConstraint('node.role == manager'), {
    key: 'node.role',
    operator: '==',
    value: 'manager',
    expression: 'node.role == manager',
  });
  assert.equal(parseConstraint('node.labels.zone!=east').operator, '!=');
});

test('parse refuses anything but exactly one == or != and names the expression', () => {
  for (const bad of ['node.role=manager', 'node.role', 'a==b==c', 'a!==b', 'node.role>=1', 'a==b!=c']) {
    assert.throws(
      () => parseConstraint(bad),
      (e: unknown) =>
        isShoalError(e, 'invalid-argument') &&
        e.message.startsWith('constraint expected one operator from ==, !=') &&
        e.message.includes(`"${bad}"`),
      bad,
    );
  }
});

test('parse refuses malformed keys and values', () => {
  assert.throws(() => parseConstraint('==manager'), /key '' is invalid/);
  assert.throws(() => parseConstraint('9node==x'), /key '9node' is invalid/);
  assert.throws(() => parseConstraint('node.role=='), /value '' is invalid/);
  assert.throws(() => parseConstraint('node.labels.a==x@y'), /value 'x@y' is invalid/);
});

test('validateConstraints rejects unknown keys, listing the valid ones', () => {
  assert.doesNotThrow(() =>
    validateConstraints([
      'node.id==abc',
      'node.hostname!=h',
      'node.ip==10.0.0.0/8',
      'NODE.ROLE==manager',
      'node.platform.os==linux',
      'node.platform.arch==x86_64',
      'node.labels.Zone==east',
      'engine.labels.disk==ssd',
    ]),
  );
  assert.doesNotThrow(() => validateConstraints(undefined));
  assert.throws(
    () => validateConstraints(['node.role==manager', 'node.zone==east']),
    (e: unknown) =>
      isShoalError(e, 'invalid-argument') &&
      /node\.zone==east/.test(e.message) &&
      /valid keys: node\.id, node\.hostname, node\.ip, node\.role/.test(e.message) &&
      /node\.labels\.<name>, engine\.labels\.<name>/.test(e.message),
  );
  assert.throws(() => validateConstraints(['node.labels.==x']), /missing label name/);
  assert.throws(() => validateConstraints(['node.ip==10.0.0']), /not an IP address or CIDR subnet/);
  assert.throws(() => validateConstraints(['node.ip==10.0.0.0/33']), /not an IP address or CIDR subnet/);
  assert.throws(() => validateConstraints(['node.role']), /constraint expected one operator from ==, !=/);
});

test('plain keys match case-insensitively in key and value', () => {
  const node = fakeNode({ id: 'Node-A', hostname: 'Worker1', role: 'manager', os: 'linux', arch: 'x86_64' });
  assert.equal(matches(['node.id==node-a'], node), true);
  assert.equal(matches(['Node.Hostname==WORKER1'], node), true);
  assert.equal(matches(['node.role==MANAGER'], node), true);
  assert.equal(matches(['node.role!=manager'], node), false);
  assert.equal(matches(['node.role==worker'], node), false);
  assert.equal(matches(['node.platform.os==Linux', 'node.platform.arch==X86_64'], node), true);
  assert.equal(matches(['node.platform.arch==amd64'], node), false, 'constraints compare the raw arch');
});

test('label names are case-sensitive, label values are not', () => {
  const node = fakeNode({ labels: { Zone: 'East' }, engineLabels: { disk: 'SSD' } });
  assert.equal(matches(['node.labels.Zone==east'], node), true);
  assert.equal(matches(['node.labels.zone==east'], node), false);
  assert.equal(matches(['NODE.LABELS.Zone==EAST'], node), true, 'the prefix is case-insensitive');
  assert.equal(matches(['engine.labels.disk==ssd'], node), true);
  assert.equal(matches(['engine.labels.Disk==ssd'], node), false);
  assert.equal(matches(['node.labels.disk==ssd'], node), false, 'engine labels are not node labels');
});

test('a missing attribute reads as empty: == fails, != holds', () => {
  const node = fakeNode({ labels: {} });
  assert.equal(matches(['node.labels.zone==east'], node), false);
  assert.equal(matches(['node.labels.zone!=east'], node), true);
  assert.equal(matches(['engine.labels.x!=y'], node), true);
});

test('all constraints must hold; none means every node', () => {
  const node = fakeNode({ role: 'worker', labels: { zone: 'east' } });
  assert.equal(matches(['node.role==worker', 'node.labels.zone==east'], node), true);
  assert.equal(matches(['node.role==worker', 'node.labels.zone==west'], node), false);
  assert.equal(matches([], node), true);
});

test('an unknown key never matches, with either operator', () => {
  assert.equal(matches(['node.zone==east']), false);
  assert.equal(matches(['node.zone!=east']), false);
});

test('an unparsable list matches no node', () => {
  assert.equal(matches(['node.role=worker']), false);
});

test('node.ip compares IPs and CIDR subnets against Status.Addr', () => {
  const v4 = fakeNode({ addr: '192.168.1.20' });
  assert.equal(matches(['node.ip==192.168.1.20'], v4), true);
  assert.equal(matches(['node.ip!=192.168.1.20'], v4), false);
  assert.equal(matches(['node.ip==192.168.1.0/24'], v4), true);
  assert.equal(matches(['node.ip==192.168.2.0/24'], v4), false);
  assert.equal(matches(['node.ip!=192.168.2.0/24'], v4), true);
  assert.equal(matches(['node.ip==0.0.0.0/0'], v4), true);
  const v6 = fakeNode({ addr: '2001:db8::2' });
  assert.equal(matches(['node.ip==2001:0db8:0:0::2'], v6), true, 'compared as addresses, not strings');
  assert.equal(matches(['node.ip==2001:db8::/32'], v6), true);
  assert.equal(matches(['node.ip==192.168.1.0/24'], v6), false);
  assert.equal(matches(['node.ip==10.0.0.1'], fakeNode({ addr: '' })), false, 'no address never matches ==');
  assert.equal(matches(['node.ip==not-an-ip']), false, 'a malformed address never matches');
  assert.equal(matches(['node.ip!=not-an-ip']), false);
});
