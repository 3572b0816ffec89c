/**
 * swarmctl's flag parsing and spec building: every flag type, every bad input with its message, the seed's
 * commands turned into the ServiceSpec docker would send, publish syntaxes, and update-flag edits.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseFlags, UsageError } from '../../control/cli/flags';
import { CREATE_FLAGS, UPDATE_FLAGS } from '../../control/cli/service-flags';
import { buildCreateSpec } from '../../control/cli/spec-from-flags';
import { applyUpdateFlags, updatePorts } from '../../control/cli/update-spec';
import { parsePublish } from '../../control/cli/publish';
import { splitShell } from '../../control/cli/shell-words';
import { parseScaleArg } from '../../control/cli/commands/service-deploy';
import { applyNodeFlags } from '../../control/cli/commands/node';
import { networkCreateBody } from '../../control/cli/commands/network';
import type { ServiceSpec } from '../../control/api/types';

const create = (argv: string[], env: Record<string, string> = {}): ServiceSpec => {
  const f = parseFlags(CREATE_FLAGS, argv, { stopAtPositional: true });
  return buildCreateSpec(f, f.args, (n) => env[n]);
};
const update = (spec: ServiceSpec, argv: string[]): ServiceSpec => applyUpdateFlags(spec, parseFlags(UPDATE_FLAGS, argv));
const usage = (fn: () => unknown, re: RegExp): void => {
  assert.throws(fn, (e: unknown) => e instanceof UsageError && re.test(e.message));
};

test('seed: service create --replicas 1 --name helloworld alpine ping docker.com', () => {
  const spec = create(['--replicas', '1', '--name', 'helloworld', 'alpine', 'ping', 'docker.com']);
  assert.deepEqual(spec, {
    Name: 'helloworld',
    Labels: {},
    TaskTemplate: {
      ContainerSpec: { Image: 'alpine', Args: ['ping', 'docker.com'], Init: false, DNSConfig: {} },
      Resources: { Limits: {}, Reservations: {} },
      Placement: {},
    },
    Mode: { Replicated: { Replicas: 1 } },
    EndpointSpec: { Mode: 'vip' },
  });
});

test('seed: --update-delay 10s sends the whole UpdateConfig with the flag defaults, as docker does', () => {
  const spec = create(['--replicas', '3', '--name', 'redis', '--update-delay', '10s', 'redis:3.0.6']);
  assert.deepEqual(spec.UpdateConfig, { Parallelism: 1, FailureAction: 'pause', Monitor: 5e9, MaxFailureRatio: 0, Order: 'stop-first', Delay: 10e9 });
  assert.equal(spec.RollbackConfig, undefined);
  assert.equal(spec.TaskTemplate.ContainerSpec.Args, undefined);
  assert.deepEqual(spec.Mode, { Replicated: { Replicas: 3 } });
});

test('no --replicas leaves the count to the daemon; global mode', () => {
  assert.deepEqual(create(['nginx']).Mode, { Replicated: {} });
  assert.deepEqual(create(['--mode', 'global', 'nginx']).Mode, { Global: {} });
  usage(() => create(['--mode', 'global', '--replicas', '2', 'nginx']), /replicas can only be used with replicated mode/);
  usage(() => create(['--mode', 'daemonset', 'nginx']), /"--mode" flag: must be one of "replicated", "global"/);
});

test('flags after IMAGE belong to the container command', () => {
  const spec = create(['--name', 'p', 'alpine', 'ping', '-c', '3', '--name', 'x']);
  assert.deepEqual(spec.TaskTemplate.ContainerSpec.Args, ['ping', '-c', '3', '--name', 'x']);
  assert.equal(spec.Name, 'p');
});

test('every create flag lands where docker puts it', () => {
  const spec = create(
    [
      '--name=web', '-l', 'tier=front', '--label', 'solo', '--container-label', 'c=1', '-e', 'A=1', '--env', 'FROM_CLIENT', '-e', 'UNSET',
      '--hostname', 'h', '-w', '/srv', '-u', 'nobody', '--entrypoint', 'sh -c', '--init', '--stop-grace-period', '30s', '--stop-signal', 'SIGINT',
      '--reserve-cpu', '0.5', '--reserve-memory', '512m', '--limit-cpu', '2', '--limit-memory', '1g', '--limit-pids', '100',
      '--restart-condition', 'on-failure', '--restart-delay', '3s', '--restart-max-attempts', '4', '--restart-window', '1m',
      '--update-parallelism', '2', '--update-failure-action', 'rollback', '--update-monitor', '10s', '--update-max-failure-ratio', '0.25', '--update-order', 'start-first',
      '--rollback-parallelism', '0', '--rollback-failure-action', 'continue', '--rollback-delay', '1s',
      '--constraint', 'node.role==manager', '--placement-pref', 'spread=node.labels.zone', '--replicas-max-per-node', '2',
      '--network', 'backend', '--dns', '10.0.0.2', '--dns-search', 'example.org', '--dns-option', 'ndots:2',
      '--health-cmd', 'curl -f localhost', '--health-interval', '5s', '--health-retries', '3',
      '--endpoint-mode', 'dnsrr', '-p', '8080:80', '--publish', 'published=53,target=53,protocol=udp,mode=host', '-d', '-q',
      'nginx:1.25', 'echo', 'hi',
    ],
    { FROM_CLIENT: 'yes' },
  );
  const cs = spec.TaskTemplate.ContainerSpec;
  assert.deepEqual(spec.Labels, { tier: 'front', solo: '' });
  assert.deepEqual(cs.Labels, { c: '1' });
  assert.deepEqual(cs.Env, ['A=1', 'FROM_CLIENT=yes', 'UNSET']);
  assert.deepEqual(cs.Command, ['sh', '-c']);
  assert.deepEqual(cs.Args, ['echo', 'hi']);
  assert.equal(cs.Hostname, 'h');
  assert.equal(cs.Dir, '/srv');
  assert.equal(cs.User, 'nobody');
  assert.equal(cs.Init, true);
  assert.equal(cs.StopGracePeriod, 30e9);
  assert.equal(cs.StopSignal, 'SIGINT');
  assert.deepEqual(cs.DNSConfig, { Nameservers: ['10.0.0.2'], Search: ['example.org'], Options: ['ndots:2'] });
  assert.deepEqual(cs.Healthcheck, { Test: ['CMD-SHELL', 'curl -f localhost'], Interval: 5e9, Retries: 3 });
  assert.deepEqual(spec.TaskTemplate.Resources, {
    Limits: { NanoCPUs: 2e9, MemoryBytes: 1024 ** 3, Pids: 100 },
    Reservations: { NanoCPUs: 5e8, MemoryBytes: 512 * 1024 ** 2 },
  });
  assert.deepEqual(spec.TaskTemplate.RestartPolicy, { Condition: 'on-failure', Delay: 3e9, MaxAttempts: 4, Window: 60e9 });
  assert.deepEqual(spec.UpdateConfig, { Parallelism: 2, FailureAction: 'rollback', Monitor: 10e9, MaxFailureRatio: 0.25, Order: 'start-first' });
  assert.deepEqual(spec.RollbackConfig, { Parallelism: 0, Delay: 1e9, FailureAction: 'continue', Monitor: 5e9, MaxFailureRatio: 0, Order: 'stop-first' });
  assert.deepEqual(spec.TaskTemplate.Placement, {
    Constraints: ['node.role==manager'],
    Preferences: [{ Spread: { SpreadDescriptor: 'node.labels.zone' } }],
    MaxReplicas: 2,
  });
  assert.deepEqual(spec.TaskTemplate.Networks, [{ Target: 'backend' }]);
  assert.deepEqual(spec.EndpointSpec, {
    Mode: 'dnsrr',
    Ports: [
      { Protocol: 'tcp', TargetPort: 80, PublishedPort: 8080, PublishMode: 'ingress' },
      { Protocol: 'udp', TargetPort: 53, PublishedPort: 53, PublishMode: 'host' },
    ],
  });
});

test('bad values are refused with the flag and the fix', () => {
  usage(() => create(['--replicas', 'abc', 'nginx']), /invalid argument "abc" for "--replicas" flag: must be a non-negative integer/);
  usage(() => create(['--replicas', '-1', 'nginx']), /invalid argument "-1" for "--replicas" flag/);
  usage(() => create(['--update-delay', '10', 'nginx']), /"--update-delay" flag: must be a duration with a unit, like 10s/);
  usage(() => create(['--reserve-memory', 'lots', 'nginx']), /"--reserve-memory" flag: must be a size/);
  usage(() => create(['--limit-cpu', 'x', 'nginx']), /"--limit-cpu" flag/);
  usage(() => create(['--limit-cpu', '0.0000000001', 'nginx']), /too precise/);
  usage(() => create(['--restart-condition', 'always', 'nginx']), /"--restart-condition" flag: must be one of "none", "on-failure", "any"/);
  usage(() => create(['--update-failure-action', 'explode', 'nginx']), /"--update-failure-action" flag/);
  usage(() => create(['--rollback-failure-action', 'rollback', 'nginx']), /"--rollback-failure-action" flag: must be one of "pause", "continue"/);
  usage(() => create(['--update-order', 'random', 'nginx']), /"--update-order" flag/);
  usage(() => create(['--update-max-failure-ratio', '2', 'nginx']), /ratio from 0 to 1/);
  usage(() => create(['--endpoint-mode', 'lb', 'nginx']), /"--endpoint-mode" flag/);
  usage(() => create(['--placement-pref', 'pack=x', 'nginx']), /only spread=<label> is supported/);
  usage(() => create(['--no-healthcheck', '--health-cmd', 'x', 'nginx']), /--no-healthcheck conflicts with --health-\* options/);
  usage(() => create(['--health-cmd', 'x', '--health-interval', '0', '--health-retries', '2', 'nginx']), /invalid --health-interval 0 with --health-retries: give the time between checks/);
  usage(() => create(['--bogus', 'nginx']), /unknown flag: --bogus/);
  usage(() => create(['-Z', 'nginx']), /unknown shorthand flag: 'Z'/);
  usage(() => create(['--name']), /flag needs an argument: --name/);
  usage(() => create(['--init=maybe', 'nginx']), /"--init" flag: use true or false/);
  usage(() => create([]), /requires at least 1 argument/);
  usage(() => create(['-e', '=x', 'nginx']), /invalid environment variable/);
});

test('short bool bundles, = forms and --', () => {
  const f = parseFlags(CREATE_FLAGS, ['-dq', '--init=false', '-p80:80', '-e=A=1', '--', '--not-a-flag']);
  assert.equal(f.bool('detach'), true);
  assert.equal(f.bool('quiet'), true);
  assert.equal(f.changed('init'), true);
  assert.equal(f.bool('init'), false);
  assert.deepEqual(f.list('publish'), ['80:80']);
  assert.deepEqual(f.list('env'), ['A=1']);
  assert.deepEqual(f.args, ['--not-a-flag']);
});

test('publish: short syntax', () => {
  assert.deepEqual(parsePublish('8080:80'), [{ Protocol: 'tcp', TargetPort: 80, PublishedPort: 8080, PublishMode: 'ingress' }]);
  assert.deepEqual(parsePublish('53:53/udp'), [{ Protocol: 'udp', TargetPort: 53, PublishedPort: 53, PublishMode: 'ingress' }]);
  assert.deepEqual(parsePublish('80'), [{ Protocol: 'tcp', TargetPort: 80, PublishMode: 'ingress' }]);
  assert.deepEqual(parsePublish('127.0.0.1:8080:80'), [{ Protocol: 'tcp', TargetPort: 80, PublishedPort: 8080, PublishMode: 'ingress', HostIP: '127.0.0.1' }]);
  assert.deepEqual(parsePublish('10.0.0.1::80'), [{ Protocol: 'tcp', TargetPort: 80, PublishMode: 'ingress', HostIP: '10.0.0.1' }]);
  assert.deepEqual(parsePublish('8080-8081:80-81').map((p) => [p.PublishedPort, p.TargetPort]), [[8080, 80], [8081, 81]]);
});

test('publish: long syntax', () => {
  assert.deepEqual(parsePublish('published=8080,target=80'), [{ Protocol: 'tcp', TargetPort: 80, PublishedPort: 8080, PublishMode: 'ingress' }]);
  assert.deepEqual(parsePublish('target=53,published=53,protocol=udp,mode=host,host_ip=192.168.1.5'), [
    { Protocol: 'udp', TargetPort: 53, PublishedPort: 53, PublishMode: 'host', HostIP: '192.168.1.5' },
  ]);
  assert.deepEqual(parsePublish('target=80'), [{ Protocol: 'tcp', TargetPort: 80, PublishMode: 'ingress' }]);
});

test('publish: each wrong part is named', () => {
  usage(() => parsePublish('8080:abc'), /target port "abc" must be a number from 1 to 65535/);
  usage(() => parsePublish('99999:80'), /published port "99999"/);
  usage(() => parsePublish('8080:80/icmp'), /protocol "icmp" must be tcp, udp or sctp/);
  usage(() => parsePublish('1:2:3:4'), /use \[HOST_IP:\]\[PUBLISHED:\]TARGET/);
  usage(() => parsePublish('300.1.1.1:80:80'), /host IP "300.1.1.1" is not an IP address/);
  usage(() => parsePublish('8080-8082:80-81'), /differ in length/);
  usage(() => parsePublish('published=8080'), /missing mandatory field "target"/);
  usage(() => parsePublish('published=8080,target=80,mode=direct'), /mode "direct" must be ingress or host/);
  usage(() => parsePublish('published=8080,target=80,color=red'), /unknown field "color"/);
  usage(() => parsePublish('published=8080,target'), /field "target" must be a key=value pair/);
});

test('update flags edit the spec read from the daemon', () => {
  const base = create(['--name', 'redis', '-e', 'A=1', '-e', 'B=2', '-l', 'x=1', '-p', '8080:80', '--constraint', 'node.role==worker', 'redis:3.0.6']);
  const spec = update(base, [
    '--image', 'redis:3.0.7', '--env-add', 'A=9', '--env-rm', 'B', '--label-add', 'y=2', '--label-rm', 'x',
    '--constraint-rm', 'node.role==worker', '--constraint-add', 'node.labels.ssd==true', '--publish-rm', '80', '--publish-add', '9090:90',
    '--replicas', '4', '--update-delay', '5s', '--args', 'redis-server --appendonly yes', '--force',
  ]);
  const cs = spec.TaskTemplate.ContainerSpec;
  assert.equal(cs.Image, 'redis:3.0.7');
  assert.deepEqual(cs.Env, ['A=9']);
  assert.deepEqual(cs.Args, ['redis-server', '--appendonly', 'yes']);
  assert.deepEqual(spec.Labels, { y: '2' });
  assert.deepEqual(spec.TaskTemplate.Placement?.Constraints, ['node.labels.ssd==true']);
  assert.deepEqual(spec.EndpointSpec?.Ports, [{ Protocol: 'tcp', TargetPort: 90, PublishedPort: 9090, PublishMode: 'ingress' }]);
  assert.deepEqual(spec.Mode, { Replicated: { Replicas: 4 } });
  // The spec read had no UpdateConfig: the flag defaults fill the rest, as docker does.
  assert.deepEqual(spec.UpdateConfig, { Parallelism: 1, FailureAction: 'pause', Monitor: 5e9, MaxFailureRatio: 0, Order: 'stop-first', Delay: 5e9 });
  assert.equal(spec.TaskTemplate.ForceUpdate, 1);
  assert.equal(base.TaskTemplate.ContainerSpec.Image, 'redis:3.0.6', 'the spec read is not changed in place');
  usage(() => update(create(['--mode', 'global', 'x']), ['--replicas', '2']), /replicas can only be used with replicated mode/);
});

test('publish-add keeps the list sorted and deduplicated like docker', () => {
  const ports = updatePorts([{ Protocol: 'tcp', TargetPort: 80, PublishedPort: 8080, PublishMode: 'ingress' }], ['8080:80', '443:443'], []);
  assert.deepEqual(ports.map((p) => p.PublishedPort), [443, 8080]);
});

test('scale arguments, node flags, network bodies, shell words', () => {
  assert.deepEqual(parseScaleArg('helloworld=5'), ['helloworld', 5]);
  usage(() => parseScaleArg('helloworld'), /invalid scale specifier 'helloworld'/);
  usage(() => parseScaleArg('helloworld=-1'), /invalid replicas value "-1"/);
  assert.deepEqual(applyNodeFlags({ Role: 'worker', Availability: 'active', Labels: { a: '1' } }, { availability: 'drain', labelAdd: ['zone=east'], labelRm: ['a'] }), {
    Role: 'worker',
    Availability: 'drain',
    Labels: { zone: 'east' },
  });
  usage(() => applyNodeFlags({ Role: 'worker', Availability: 'active' }, { availability: 'off', labelAdd: [], labelRm: [] }), /"--availability" flag/);
  assert.throws(() => applyNodeFlags({ Role: 'worker', Availability: 'active' }, { labelAdd: [], labelRm: ['nope'] }), /key nope doesn't exist in node's labels/);
  const body = networkCreateBody('backend', { subnets: ['10.0.9.0/24'], attachable: true, internal: false, labels: ['env=prod'] }) as Record<string, unknown>;
  assert.equal(body.Driver, 'overlay');
  assert.deepEqual(body.IPAM, { Driver: 'default', Options: {}, Config: [{ Subnet: '10.0.9.0/24' }] });
  assert.deepEqual(body.Labels, { env: 'prod' });
  usage(() => networkCreateBody('x', { subnets: ['10.0.9.0'], attachable: false, internal: false, labels: [] }), /IPv4 CIDR/);
  assert.deepEqual(splitShell(`sh -c "echo 'hi there'" a\\ b`), ['sh', '-c', "echo 'hi there'", 'a b']);
});
