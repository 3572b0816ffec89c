import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkUpdateAllowed, normalizeServiceSpec } from '../../control/api/normalize-service';
import { isShoalError } from '../../control/base/errors';

/** The "Spec" of `docker service inspect redis` on Docker 20.10 (docker-20.10-swarm-outputs.txt), verbatim. */
const REFERENCE_SPEC = `{
    "Name": "redis",
    "Labels": {},
    "TaskTemplate": {
        "ContainerSpec": {
            "Image": "localbusy:1",
            "Args": [
                "sleep",
                "3600"
            ],
            "Init": false,
            "StopGracePeriod": 10000000000,
            "DNSConfig": {},
            "Isolation": "default"
        },
        "Resources": {
            "Limits": {},
            "Reservations": {}
        },
        "RestartPolicy": {
            "Condition": "any",
            "Delay": 5000000000,
            "MaxAttempts": 0
        },
        "Placement": {},
        "ForceUpdate": 0,
        "Runtime": "container"
    },
    "Mode": {
        "Replicated": {
            "Replicas": 3
        }
    },
    "UpdateConfig": {
        "Parallelism": 1,
        "Delay": 10000000000,
        "FailureAction": "pause",
        "Monitor": 5000000000,
        "MaxFailureRatio": 0,
        "Order": "stop-first"
    },
    "RollbackConfig": {
        "Parallelism": 1,
        "FailureAction": "pause",
        "Monitor": 5000000000,
        "MaxFailureRatio": 0,
        "Order": "stop-first"
    },
    "EndpointSpec": {
        "Mode": "vip",
        "Ports": [
            {
                "Protocol": "tcp",
                "TargetPort": 80,
                "PublishedPort": 8080,
                "PublishMode": "ingress"
            }
        ]
    }
}`;

/** What a hand-written request for `--replicas 3 --name redis --update-delay 10s -p 8080:80 localbusy:1 sleep 3600` says. */
const minimalBody = () => ({
  Name: 'redis',
  TaskTemplate: { ContainerSpec: { Image: 'localbusy:1', Args: ['sleep', '3600'] } },
  Mode: { Replicated: { Replicas: 3 } },
  UpdateConfig: { Parallelism: 1, Delay: 10e9 },
  EndpointSpec: { Ports: [{ TargetPort: 80, PublishedPort: 8080 }] },
});

/** What the docker CLI sends for the same command: every default spelled out, empty fields as zero values. */
const cliBody = () => ({
  Name: 'redis',
  Labels: {},
  TaskTemplate: {
    ContainerSpec: {
      Image: 'localbusy:1', Labels: null, Command: null, Args: ['sleep', '3600'], Hostname: '', Env: null, Dir: '',
      User: '', Init: false, TTY: false, OpenStdin: false, ReadOnly: false, Mounts: null, StopGracePeriod: 10e9,
      Healthcheck: null, Hosts: null, DNSConfig: {}, Secrets: null, Configs: null, Isolation: 'default',
    },
    Resources: { Limits: {}, Reservations: {} },
    RestartPolicy: { Condition: 'any', Delay: 5e9, MaxAttempts: 0 },
    Placement: {},
    Networks: null,
    LogDriver: null,
    ForceUpdate: 0,
    Runtime: '',
  },
  Mode: { Replicated: { Replicas: 3 } },
  UpdateConfig: { Parallelism: 1, Delay: 10e9, FailureAction: 'pause', Monitor: 5e9, MaxFailureRatio: 0, Order: 'stop-first' },
  RollbackConfig: { Parallelism: 1, Delay: 0, FailureAction: 'pause', Monitor: 5e9, MaxFailureRatio: 0, Order: 'stop-first' },
  EndpointSpec: { Mode: 'vip', Ports: [{ Protocol: 'tcp', TargetPort: 80, PublishedPort: 8080, PublishMode: 'ingress' }] },
});

test('the reference create normalizes to the Spec Docker 20.10 stores, byte for byte', () => {
  assert.equal(JSON.stringify(normalizeServiceSpec(minimalBody()), null, 4), REFERENCE_SPEC);
  assert.equal(JSON.stringify(normalizeServiceSpec(cliBody()), null, 4), REFERENCE_SPEC);
});

test('normalizing a normalized spec changes nothing', () => {
  const once = normalizeServiceSpec(cliBody());
  assert.deepEqual(normalizeServiceSpec(JSON.parse(JSON.stringify(once))), once);
});

test('a bare spec gets every default', () => {
  const s = normalizeServiceSpec({ Name: 'web', TaskTemplate: { ContainerSpec: { Image: 'nginx' } } });
  assert.deepEqual(s.Mode, { Replicated: { Replicas: 1 } });
  assert.deepEqual(s.Labels, {});
  assert.deepEqual(s.UpdateConfig, { Parallelism: 1, FailureAction: 'pause', Monitor: 5e9, MaxFailureRatio: 0, Order: 'stop-first' });
  assert.deepEqual(s.RollbackConfig, s.UpdateConfig);
  assert.deepEqual(s.EndpointSpec, { Mode: 'vip' });
  assert.equal('Ports' in s.EndpointSpec!, false);
  assert.deepEqual(s.TaskTemplate.RestartPolicy, { Condition: 'any', Delay: 5e9, MaxAttempts: 0 });
  assert.deepEqual(normalizeServiceSpec({ Name: 'web', TaskTemplate: { ContainerSpec: { Image: 'nginx' } }, Mode: { Replicated: {} } }).Mode, {
    Replicated: { Replicas: 1 },
  });
});

test('a partial update config is taken literally except where Docker fills in', () => {
  const s = normalizeServiceSpec({ Name: 'web', TaskTemplate: { ContainerSpec: { Image: 'nginx' } }, UpdateConfig: { Parallelism: 0, Order: 'start-first' } });
  assert.deepEqual(s.UpdateConfig, { Parallelism: 0, FailureAction: 'pause', Monitor: 5e9, MaxFailureRatio: 0, Order: 'start-first' });
  const r = normalizeServiceSpec({ Name: 'web', TaskTemplate: { ContainerSpec: { Image: 'nginx' } }, RollbackConfig: { Delay: '2s', Monitor: 0 } });
  assert.deepEqual(r.RollbackConfig, { Parallelism: 0, Delay: 2e9, FailureAction: 'pause', Monitor: 5e9, MaxFailureRatio: 0, Order: 'stop-first' });
});

test('ports get tcp and ingress; published 0 is omitted like Docker; HostIP is kept', () => {
  const s = normalizeServiceSpec({
    Name: 'web',
    TaskTemplate: { ContainerSpec: { Image: 'nginx' } },
    EndpointSpec: { Ports: [{ TargetPort: 80 }, { TargetPort: 53, PublishedPort: 53, Protocol: 'udp', PublishMode: 'host', HostIP: '192.0.2.1' }] },
  });
  assert.deepEqual(s.EndpointSpec!.Ports, [
    { Protocol: 'tcp', TargetPort: 80, PublishMode: 'ingress' },
    { Protocol: 'udp', TargetPort: 53, PublishedPort: 53, PublishMode: 'host', HostIP: '192.0.2.1' },
  ]);
});

test('legacy Spec.Networks move into TaskTemplate.Networks', () => {
  const s = normalizeServiceSpec({ Name: 'web', TaskTemplate: { ContainerSpec: { Image: 'nginx' } }, Networks: [{ Target: 'backend', Aliases: ['api'] }] });
  assert.deepEqual(s.TaskTemplate.Networks, [{ Target: 'backend', Aliases: ['api'] }]);
  assert.equal('Networks' in s, false);
});

test('global mode, constraints, resources and healthcheck pass through in Docker form', () => {
  const s = normalizeServiceSpec({
    Name: 'agent',
    Mode: { Global: {} },
    TaskTemplate: {
      ContainerSpec: { Image: 'registry.example.com:5000/team/agent:v1.2@sha256:' + 'a'.repeat(64), Healthcheck: { Test: ['CMD', 'true'], Interval: 0, Retries: 3 } },
      Resources: { Limits: { NanoCPUs: 5e8, MemoryBytes: 64 * 1024 * 1024 } },
      Placement: { Constraints: ['node.role==manager', 'node.labels.zone != east', 'engine.labels.gpu==true'] },
    },
  });
  assert.deepEqual(s.Mode, { Global: {} });
  assert.deepEqual(s.TaskTemplate.Resources, { Limits: { NanoCPUs: 5e8, MemoryBytes: 64 * 1024 * 1024 }, Reservations: {} });
  assert.deepEqual(s.TaskTemplate.ContainerSpec.Healthcheck, { Test: ['CMD', 'true'], Retries: 3 });
  assert.equal(s.TaskTemplate.Placement!.Constraints!.length, 3);
});

test('a generated name is used when the body has none and a namer is given', () => {
  assert.equal(normalizeServiceSpec({ TaskTemplate: { ContainerSpec: { Image: 'nginx' } } }, { randomName: () => 'quirky_hopper' }).Name, 'quirky_hopper');
});

/** Each bad body, the field it must blame, and (a part of) the message. */
const image = { ContainerSpec: { Image: 'nginx' } };
const BAD: [string, unknown, string, string][] = [
  ['not an object', 'hello', 'Spec', 'must be a JSON object'],
  ['no name', { TaskTemplate: image }, 'Name', 'meta: name must be provided'],
  ['bad name', { Name: 'Bad Name!', TaskTemplate: image }, 'Name', 'invalid name "Bad Name!": name must be valid as a DNS name component'],
  ['long name', { Name: 'a'.repeat(64), TaskTemplate: image }, 'Name', 'name must be 63 characters or fewer'],
  ['no image', { Name: 'x' }, 'TaskTemplate.ContainerSpec.Image', 'ContainerSpec: image reference must be provided'],
  ['bad image', { Name: 'x', TaskTemplate: { ContainerSpec: { Image: 'Local Busy' } } }, 'TaskTemplate.ContainerSpec.Image', 'ContainerSpec: "Local Busy" is not a valid repository/tag'],
  ['negative replicas', { Name: 'x', TaskTemplate: image, Mode: { Replicated: { Replicas: -3 } } }, 'Mode.Replicated.Replicas', 'invalid Mode.Replicated.Replicas -3: replicas must be a non-negative integer'],
  ['string replicas', { Name: 'x', TaskTemplate: image, Mode: { Replicated: { Replicas: 'abc' } } }, 'Mode.Replicated.Replicas', 'invalid Mode.Replicated.Replicas "abc": replicas must be a non-negative integer'],
  ['global replicas', { Name: 'x', TaskTemplate: image, Mode: { Global: { Replicas: 2 } } }, 'Mode.Global.Replicas', 'replicas can only be used with replicated mode'],
  ['two modes', { Name: 'x', TaskTemplate: image, Mode: { Global: {}, Replicated: { Replicas: 1 } } }, 'Mode', 'must specify only one service mode'],
  ['job mode', { Name: 'x', TaskTemplate: image, Mode: { ReplicatedJob: {} } }, 'Mode.ReplicatedJob', 'job services are not supported'],
  ['unknown mode', { Name: 'x', TaskTemplate: image, Mode: { replicated: {} } }, 'Mode.replicated', 'unknown service mode "replicated"'],
  ['labels not strings', { Name: 'x', TaskTemplate: image, Labels: { a: 1 } }, 'Labels', 'value of "a" must be a string'],
  ['tiny cpu', { Name: 'x', TaskTemplate: { ...image, Resources: { Limits: { NanoCPUs: 500000 } } } }, 'TaskTemplate.Resources.Limits.NanoCPUs', 'invalid cpu value 0.0005: Must be at least 0.001'],
  ['tiny memory', { Name: 'x', TaskTemplate: { ...image, Resources: { Reservations: { MemoryBytes: 1024 } } } }, 'TaskTemplate.Resources.Reservations.MemoryBytes', 'invalid memory value 1024: Must be at least 4MiB'],
  ['restart condition', { Name: 'x', TaskTemplate: { ...image, RestartPolicy: { Condition: 'always' } } }, 'TaskTemplate.RestartPolicy.Condition', 'invalid RestartCondition: "always"'],
  ['restart delay', { Name: 'x', TaskTemplate: { ...image, RestartPolicy: { Delay: -1 } } }, 'TaskTemplate.RestartPolicy.Delay', 'TaskSpec: restart-delay cannot be negative'],
  ['restart window', { Name: 'x', TaskTemplate: { ...image, RestartPolicy: { Window: '-5s' } } }, 'TaskTemplate.RestartPolicy.Window', 'TaskSpec: restart-window cannot be negative'],
  ['stop grace', { Name: 'x', TaskTemplate: { ContainerSpec: { Image: 'nginx', StopGracePeriod: 'soon' } } }, 'TaskTemplate.ContainerSpec.StopGracePeriod', 'durations are integer nanoseconds'],
  ['health interval', { Name: 'x', TaskTemplate: { ContainerSpec: { Image: 'nginx', Healthcheck: { Interval: 1000 } } } }, 'TaskTemplate.ContainerSpec.Healthcheck.Interval', 'ContainerSpec: Interval in HealthConfig cannot be less than 1ms'],
  ['health retries', { Name: 'x', TaskTemplate: { ContainerSpec: { Image: 'nginx', Healthcheck: { Retries: -1 } } } }, 'TaskTemplate.ContainerSpec.Healthcheck.Retries', 'ContainerSpec: Retries in HealthConfig cannot be negative'],
  ['health test type', { Name: 'x', TaskTemplate: { ContainerSpec: { Image: 'nginx', Healthcheck: { Test: ['SHELL', 'true'] } } } }, 'TaskTemplate.ContainerSpec.Healthcheck.Test', 'use ["NONE"], ["CMD", "executable", "arg"...] or ["CMD-SHELL", "command"]'],
  ['health shell args', { Name: 'x', TaskTemplate: { ContainerSpec: { Image: 'nginx', Healthcheck: { Test: ['CMD-SHELL', 'a', 'b'] } } } }, 'TaskTemplate.ContainerSpec.Healthcheck.Test', 'invalid TaskTemplate.ContainerSpec.Healthcheck.Test'],
  ['health timeout', { Name: 'x', TaskTemplate: { ContainerSpec: { Image: 'nginx', Healthcheck: { Test: ['CMD', 'true'], Timeout: 999999 } } } }, 'TaskTemplate.ContainerSpec.Healthcheck.Timeout', 'ContainerSpec: Timeout in HealthConfig cannot be less than 1ms'],
  ['duplicate mount', { Name: 'x', TaskTemplate: { ContainerSpec: { Image: 'nginx', Mounts: [{ Type: 'volume', Target: '/d' }, { Type: 'tmpfs', Target: '/d' }] } } }, 'TaskTemplate.ContainerSpec.Mounts[1].Target', 'ContainerSpec: duplicate mount point: /d'],
  ['bind without source', { Name: 'x', TaskTemplate: { ContainerSpec: { Image: 'nginx', Mounts: [{ Target: '/d' }] } } }, 'TaskTemplate.ContainerSpec.Mounts[0].Source', 'invalid mount config for type "bind": field Source must not be empty'],
  ['constraint operator', { Name: 'x', TaskTemplate: { ...image, Placement: { Constraints: ['node.role=manager'] } } }, 'TaskTemplate.Placement.Constraints[0]', 'constraint expected one operator from ==, !='],
  ['constraint key', { Name: 'x', TaskTemplate: { ...image, Placement: { Constraints: ['node.colour==red'] } } }, 'TaskTemplate.Placement.Constraints[0]', "key 'node.colour' is invalid"],
  ['constraint label', { Name: 'x', TaskTemplate: { ...image, Placement: { Constraints: ['node.labels.==red'] } } }, 'TaskTemplate.Placement.Constraints[0]', "key 'node.labels.' is invalid"],
  ['constraint value', { Name: 'x', TaskTemplate: { ...image, Placement: { Constraints: ['node.role=='] } } }, 'TaskTemplate.Placement.Constraints[0]', "value '' is invalid"],
  ['runtime', { Name: 'x', TaskTemplate: { ...image, Runtime: 'plugin' } }, 'TaskTemplate.Runtime', 'unsupported runtime'],
  ['both networks', { Name: 'x', TaskTemplate: { ...image, Networks: [{ Target: 'a' }] }, Networks: [{ Target: 'b' }] }, 'Networks', 'Spec.Networks is deprecated'],
  ['network twice', { Name: 'x', TaskTemplate: { ...image, Networks: [{ Target: 'a' }, { Target: 'a' }] } }, 'TaskTemplate.Networks[1].Target', 'attached twice'],
  ['update delay', { Name: 'x', TaskTemplate: image, UpdateConfig: { Delay: -1 } }, 'UpdateConfig.Delay', 'TaskSpec: update-delay cannot be negative'],
  ['update monitor', { Name: 'x', TaskTemplate: image, UpdateConfig: { Monitor: -1 } }, 'UpdateConfig.Monitor', 'TaskSpec: update-monitor cannot be negative'],
  ['failure ratio', { Name: 'x', TaskTemplate: image, UpdateConfig: { MaxFailureRatio: 1.5 } }, 'UpdateConfig.MaxFailureRatio', 'TaskSpec: update-maxfailureratio cannot be less than 0 or bigger than 1'],
  ['parallelism', { Name: 'x', TaskTemplate: image, UpdateConfig: { Parallelism: -1 } }, 'UpdateConfig.Parallelism', 'parallelism must be a non-negative integer'],
  ['failure action', { Name: 'x', TaskTemplate: image, UpdateConfig: { FailureAction: 'explode' } }, 'UpdateConfig.FailureAction', 'unrecognized update failure action explode'],
  ['rollback order', { Name: 'x', TaskTemplate: image, RollbackConfig: { Order: 'random' } }, 'RollbackConfig.Order', 'unrecognized rollback order random'],
  ['endpoint mode', { Name: 'x', TaskTemplate: image, EndpointSpec: { Mode: 'rr' } }, 'EndpointSpec.Mode', 'invalid resolution mode: "rr"'],
  ['dnsrr ingress', { Name: 'x', TaskTemplate: image, EndpointSpec: { Mode: 'dnsrr', Ports: [{ TargetPort: 80 }] } }, 'EndpointSpec.Ports[0]', "EndpointSpec: port published with ingress mode can't be used with dnsrr mode"],
  ['duplicate ports', { Name: 'x', TaskTemplate: image, EndpointSpec: { Ports: [{ TargetPort: 80, PublishedPort: 8080 }, { TargetPort: 81, PublishedPort: 8080 }] } }, 'EndpointSpec.Ports[1]', 'EndpointSpec: duplicate published ports provided'],
  ['target port', { Name: 'x', TaskTemplate: image, EndpointSpec: { Ports: [{ PublishedPort: 80 }] } }, 'EndpointSpec.Ports[0].TargetPort', 'the target port must be 1-65535'],
  ['port range', { Name: 'x', TaskTemplate: image, EndpointSpec: { Ports: [{ TargetPort: 80, PublishedPort: 70000 }] } }, 'EndpointSpec.Ports[0].PublishedPort', 'must be at most 65535'],
  ['protocol', { Name: 'x', TaskTemplate: image, EndpointSpec: { Ports: [{ TargetPort: 80, Protocol: 'icmp' }] } }, 'EndpointSpec.Ports[0].Protocol', 'use tcp, udp or sctp'],
  ['publish mode', { Name: 'x', TaskTemplate: image, EndpointSpec: { Ports: [{ TargetPort: 80, PublishMode: 'mesh' }] } }, 'EndpointSpec.Ports[0].PublishMode', 'use ingress or host'],
  ['host ip', { Name: 'x', TaskTemplate: image, EndpointSpec: { Ports: [{ TargetPort: 80, HostIP: '300.1.1.1' }] } }, 'EndpointSpec.Ports[0].HostIP', 'must be an IP address'],
  ['mode type', { Name: 'x', TaskTemplate: image, Mode: 'replicated' }, 'Mode', 'must be an object'],
  ['mesh balance label', { Name: 'x', TaskTemplate: image, Labels: { 'shoal.mesh.balance': 'random' } }, 'Labels.shoal.mesh.balance', 'invalid label shoal.mesh.balance="random": use round-robin or least-connections'],
  ['mesh accounting label', { Name: 'x', TaskTemplate: image, Labels: { 'shoal.mesh.accounting': 'packets' } }, 'Labels.shoal.mesh.accounting', 'invalid label shoal.mesh.accounting="packets": use bytes (connections only when the label is absent)'],
];

test('the mesh balance label accepts round-robin and least-connections', () => {
  for (const v of ['round-robin', 'least-connections']) {
    assert.deepEqual(normalizeServiceSpec({ Name: 'x', TaskTemplate: image, Labels: { 'shoal.mesh.balance': v } }).Labels, { 'shoal.mesh.balance': v });
  }
});

for (const [what, body, field, message] of BAD) {
  test(`refuses ${what} with its field and message`, () => {
    assert.throws(
      () => normalizeServiceSpec(body),
      (e: unknown) => {
        assert.ok(isShoalError(e, 'invalid-argument'), `not an invalid-argument error: ${String(e)}`);
        assert.equal(e.status, 400);
        assert.equal(e.field, field);
        assert.ok(e.message.includes(message), `message ${JSON.stringify(e.message)} lacks ${JSON.stringify(message)}`);
        return true;
      },
    );
  });
}

test('accepts the usual image references', () => {
  for (const ref of ['nginx', 'nginx:1.25-alpine', 'library/nginx', 'localhost:5000/a/b:c', 'ghcr.io/o/r@sha256:' + 'f'.repeat(64), 'a_b__c-d.e']) {
    assert.equal(normalizeServiceSpec({ Name: 'x', TaskTemplate: { ContainerSpec: { Image: ref } } }).TaskTemplate.ContainerSpec.Image, ref);
  }
});

test('checkUpdateAllowed refuses a mode change and a rename, with Docker messages', () => {
  const base = normalizeServiceSpec(minimalBody());
  const global = normalizeServiceSpec({ ...minimalBody(), Mode: { Global: {} } });
  const renamed = normalizeServiceSpec({ ...minimalBody(), Name: 'cache' });
  const scaled = normalizeServiceSpec({ ...minimalBody(), Mode: { Replicated: { Replicas: 9 } } });
  assert.throws(() => checkUpdateAllowed(base, global), { message: 'service mode change is not allowed', field: 'Mode' });
  assert.throws(() => checkUpdateAllowed(base, renamed), { message: 'renaming services is not supported', field: 'Name' });
  checkUpdateAllowed(base, scaled);
});

test('Docker fields Shoal does not model yet are kept in Go order, empty ones dropped', () => {
  const s = normalizeServiceSpec({
    Name: 'x',
    TaskTemplate: {
      ContainerSpec: {
        Image: 'nginx', Secrets: [{ SecretID: 's1', SecretName: 'db', File: { Name: 'db', UID: '0', GID: '0', Mode: 292 } }],
        Configs: [], CapabilityAdd: ['NET_ADMIN'], Sysctls: {}, TTY: true,
      },
      LogDriver: { Name: 'json-file', Options: { 'max-size': '10m' } },
    },
  });
  const c = s.TaskTemplate.ContainerSpec as unknown as Record<string, unknown>;
  assert.deepEqual(Object.keys(c), ['Image', 'Init', 'TTY', 'StopGracePeriod', 'DNSConfig', 'Secrets', 'Isolation', 'CapabilityAdd']);
  assert.deepEqual(s.TaskTemplate.LogDriver, { Name: 'json-file', Options: { 'max-size': '10m' } });
});

test('cpu values print like Go %g in Docker\'s message', () => {
  const cpu = (n: number) => () =>
    normalizeServiceSpec({ Name: 'x', TaskTemplate: { ContainerSpec: { Image: 'nginx' }, Resources: { Reservations: { NanoCPUs: n } } } });
  assert.throws(cpu(500), { message: 'invalid cpu value 5e-07: Must be at least 0.001' });
  assert.throws(cpu(999999), { message: 'invalid cpu value 0.000999999: Must be at least 0.001' });
  assert.throws(cpu(1.5), { message: /invalid TaskTemplate.Resources.Reservations.NanoCPUs 1.5: NanoCPUs must be a non-negative integer/ });
});
