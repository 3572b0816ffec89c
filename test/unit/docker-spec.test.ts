import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Task } from '../../control/api/types';
import { LABEL, containerLabels, containerName, createOptions } from '../../control/agent/docker-spec';

const task = (more: Partial<Task> = {}): Task =>
  ({
    ID: 'task1',
    ServiceID: 'svc1',
    ServiceAnnotations: { Name: 'web' },
    Slot: 3,
    NodeID: 'node1',
    Labels: {},
    Spec: { ContainerSpec: { Image: 'shoal-busybox:1', Args: ['sleep', '1'] } },
    ...more,
  }) as Task;

test('names follow Docker: SERVICE.SLOT.TASKID, SERVICE.NODEID.TASKID for global, none without a service', () => {
  assert.equal(containerName(task(), 'node1'), 'web.3.task1');
  assert.equal(containerName(task({ Slot: undefined }), 'node1'), 'web.node1.task1');
  assert.equal(containerName(task({ ServiceAnnotations: undefined }), 'node1'), undefined);
});

test('swarm labels win over user labels of the same key', () => {
  const t = task();
  t.Spec.ContainerSpec.Labels = { team: 'a', [LABEL.nodeId]: 'forged' };
  const l = containerLabels(t, 'node1');
  assert.equal(l.team, 'a');
  assert.equal(l[LABEL.nodeId], 'node1');
  assert.equal(l[LABEL.taskName], 'web.3.task1');
});

test('create options: no network, Command as Entrypoint, Args as Cmd, hosts in both forms, tmpfs without source', () => {
  const t = task();
  Object.assign(t.Spec.ContainerSpec, {
    Command: ['/bin/sh', '-c'],
    Hosts: ['10.0.0.7 db db.local', 'cache:10.0.0.8'],
    Mounts: [{ Type: 'tmpfs', Source: 'ignored', Target: '/t' }, { Type: 'bind', Source: '/srv', Target: '/srv', ReadOnly: true }],
  });
  const o = createOptions(t, 'node1');
  assert.equal(o.name, 'web.3.task1');
  assert.equal(o.HostConfig?.NetworkMode, 'none');
  assert.deepEqual(o.Entrypoint, ['/bin/sh', '-c']);
  assert.deepEqual(o.Cmd, ['sleep', '1']);
  assert.deepEqual(o.HostConfig?.ExtraHosts, ['db:10.0.0.7', 'db.local:10.0.0.7', 'cache:10.0.0.8']);
  assert.deepEqual(o.HostConfig?.Mounts, [
    { Type: 'tmpfs', Source: '', Target: '/t', ReadOnly: false },
    { Type: 'bind', Source: '/srv', Target: '/srv', ReadOnly: true },
  ]);
  assert.deepEqual(o.HostConfig?.RestartPolicy, { Name: 'no' });
});
