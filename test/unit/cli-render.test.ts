/**
 * Renderers against real docker 20.10 output (the reference transcripts, embedded below byte for byte): service
 * ls/ps, inspect --pretty and JSON, node ls/inspect --pretty, plus history rows, ports and units.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Node, Service, Task } from '../../control/api/types';
import { renderServiceList, servicePorts } from '../../control/cli/render-service';
import { renderTaskList } from '../../control/cli/render-task';
import { renderNodeList } from '../../control/cli/render-node';
import { renderNetworkList } from '../../control/cli/render-network';
import { prettyService } from '../../control/cli/pretty-service';
import { prettyNode } from '../../control/cli/pretty-node';
import { inspectJson } from '../../control/cli/display';
import { tabwrite } from '../../control/cli/table';
import { formatBytes, humanDuration, goTimeString, parseBytes, parseCpus } from '../../control/cli/units';

// Reference outputs (docker 20.10), from /work/shared/reference/docker-20.10-swarm-outputs.txt.
const serviceLs = "ID             NAME      MODE         REPLICAS   IMAGE         PORTS\nxhdi4n93f5ti   redis     replicated   3/3        localbusy:1   *:8080->80/tcp\n";
const servicePs = "ID             NAME      IMAGE         NODE      DESIRED STATE   CURRENT STATE           ERROR     PORTS\nrcv7qrjn6zep   redis.1   localbusy:1   vm        Running         Running 7 seconds ago             \njrhkdokvpulc   redis.2   localbusy:1   vm        Running         Running 7 seconds ago             \n8ln242an59mi   redis.3   localbusy:1   vm        Running         Running 7 seconds ago             \n";
const servicePretty = "\nID:\t\txhdi4n93f5tid9mubgeumo2b4\nName:\t\tredis\nService Mode:\tReplicated\n Replicas:\t3\nPlacement:\nUpdateConfig:\n Parallelism:\t1\n Delay:\t\t10s\n On failure:\tpause\n Monitoring Period: 5s\n Max failure ratio: 0\n Update order:      stop-first\nRollbackConfig:\n Parallelism:\t1\n On failure:\tpause\n Monitoring Period: 5s\n Max failure ratio: 0\n Rollback order:    stop-first\nContainerSpec:\n Image:\t\tlocalbusy:1\n Args:\t\tsleep 3600 \n Init:\t\tfalse\nResources:\nEndpoint Mode:\tvip\nPorts:\n PublishedPort = 8080\n  Protocol = tcp\n  TargetPort = 80\n  PublishMode = ingress \n\n";
const serviceJson = "[\n    {\n        \"ID\": \"xhdi4n93f5tid9mubgeumo2b4\",\n        \"Version\": {\n            \"Index\": 216\n        },\n        \"CreatedAt\": \"2026-11-27T01:18:51.532380424Z\",\n        \"UpdatedAt\": \"2026-11-27T01:18:51.533016197Z\",\n        \"Spec\": {\n            \"Name\": \"redis\",\n            \"Labels\": {},\n            \"TaskTemplate\": {\n                \"ContainerSpec\": {\n                    \"Image\": \"localbusy:1\",\n                    \"Args\": [\n                        \"sleep\",\n                        \"3600\"\n                    ],\n                    \"Init\": false,\n                    \"StopGracePeriod\": 10000000000,\n                    \"DNSConfig\": {},\n                    \"Isolation\": \"default\"\n                },\n                \"Resources\": {\n                    \"Limits\": {},\n                    \"Reservations\": {}\n                },\n                \"RestartPolicy\": {\n                    \"Condition\": \"any\",\n                    \"Delay\": 5000000000,\n                    \"MaxAttempts\": 0\n                },\n                \"Placement\": {},\n                \"ForceUpdate\": 0,\n                \"Runtime\": \"container\"\n            },\n            \"Mode\": {\n                \"Replicated\": {\n                    \"Replicas\": 3\n                }\n            },\n            \"UpdateConfig\": {\n                \"Parallelism\": 1,\n                \"Delay\": 10000000000,\n                \"FailureAction\": \"pause\",\n                \"Monitor\": 5000000000,\n                \"MaxFailureRatio\": 0,\n                \"Order\": \"stop-first\"\n            },\n            \"RollbackConfig\": {\n                \"Parallelism\": 1,\n                \"FailureAction\": \"pause\",\n                \"Monitor\": 5000000000,\n                \"MaxFailureRatio\": 0,\n                \"Order\": \"stop-first\"\n            },\n            \"EndpointSpec\": {\n                \"Mode\": \"vip\",\n                \"Ports\": [\n                    {\n                        \"Protocol\": \"tcp\",\n                        \"TargetPort\": 80,\n                        \"PublishedPort\": 8080,\n                        \"PublishMode\": \"ingress\"\n                    }\n                ]\n            }\n        },\n        \"Endpoint\": {\n            \"Spec\": {\n                \"Mode\": \"vip\",\n                \"Ports\": [\n                    {\n                        \"Protocol\": \"tcp\",\n                        \"TargetPort\": 80,\n                        \"PublishedPort\": 8080,\n                        \"PublishMode\": \"ingress\"\n                    }\n                ]\n            },\n            \"Ports\": [\n                {\n                    \"Protocol\": \"tcp\",\n                    \"TargetPort\": 80,\n                    \"PublishedPort\": 8080,\n                    \"PublishMode\": \"ingress\"\n                }\n            ],\n            \"VirtualIPs\": [\n                {\n                    \"NetworkID\": \"oqrxyietyw6s1yw40iqtdagea\",\n                    \"Addr\": \"10.0.0.6/24\"\n                }\n            ]\n        }\n    }\n]\n";
const nodeLs = "ID                            HOSTNAME   STATUS    AVAILABILITY   MANAGER STATUS   ENGINE VERSION\nv05wa5q12efwguyv511q915lg *   vm         Ready     Active         Leader           20.10.24+dfsg1\n";
const nodePretty = "ID:\t\t\tv05wa5q12efwguyv511q915lg\nHostname:              \tvm\nJoined at:             \t2026-11-27 01:09:50.32696163 +0000 utc\nStatus:\n State:\t\t\tReady\n Availability:         \tActive\n Address:\t\t127.0.0.1\nManager Status:\n Address:\t\t127.0.0.1:2377\n Raft Status:\t\tReachable\n Leader:\t\tYes\nPlatform:\n Operating System:\tlinux\n Architecture:\t\tx86_64\nResources:\n CPUs:\t\t\t2\n Memory:\t\t23.54GiB\nPlugins:\n Log:\t\tawslogs, fluentd, gcplogs, gelf, journald, json-file, local, logentries, splunk, syslog\n Network:\t\tbridge, host, ipvlan, macvlan, null, overlay\n Volume:\t\tlocal\nEngine Version:\t\t20.10.24+dfsg1\nTLS Info:\n TrustRoot:\n-----BEGIN CERTIFICATE-----\nMIIBaTCCARCgAwIBAgIUBhzzwqmPgwOKlPKA1eSyicvgYnMwCgYIKoZIzj0EAwIw\nEzERMA8GA1UEAxMIc3dhcm0tY2EwHhcNMjYxMTI3MDEwNTAwWhcNNDYxMTIyMDEw\nNTAwWjATMREwDwYDVQQDEwhzd2FybS1jYTBZMBMGByqGSM49AgEGCCqGSM49AwEH\nA0IABARxpZHBnOxHj3FRcEPnZKEOix5O6N+Lff5WSfelEn5lY2BlhHjR3G6BmVzO\nRDISuOPmEM065esR6jU7ux9DWRCjQjBAMA4GA1UdDwEB/wQEAwIBBjAPBgNVHRMB\nAf8EBTADAQH/MB0GA1UdDgQWBBSvS7PL5z9NoSXfKp7rA5aVd5Z8KzAKBggqhkjO\nPQQDAgNHADBEAiBP5UwytZfX2/twgseQMHY0XlyCbm0rKGi6OoXuXUmb8AIgOmoC\nYvYgzPCXplD9MAbgfo3/oQo9j4jmVZGX9EaIM3U=\n-----END CERTIFICATE-----\n\n Issuer Subject:\tMBMxETAPBgNVBAMTCHN3YXJtLWNh\n Issuer Public Key:\tMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEBHGlkcGc7EePcVFwQ+dkoQ6LHk7o34t9/lZJ96USfmVjYGWEeNHcboGZXM5EMhK44+YQzTrl6xHqNTu7H0NZEA==\n";
const joinToken = "To add a worker to this swarm, run the following command:\n\n    docker swarm join --token SWMTKN-1-5uui5cphwfa3ibjsw6dznxjyloedd8dls060bgnyqpl9e8b9ul-epk752kqri64b35pota3tsap8 127.0.0.1:2377\n\n";
const templateError = "\ntemplate parsing error: template: :1:2: executing \"\" at <json>: wrong number of args for json: want 1 got 0\n";

const NOW = Date.parse('2026-11-27T01:19:00Z');
const redis = (JSON.parse(serviceJson) as Service[])[0];

function task(id: string, slot: number, opts: Partial<Task> & { state?: Task['Status']['State']; ago?: number; err?: string; image?: string; created?: string } = {}): Task {
  return {
    ID: id.padEnd(25, '0'),
    Version: { Index: 1 },
    CreatedAt: opts.created ?? '2026-11-27T01:18:51Z',
    UpdatedAt: '2026-11-27T01:18:51Z',
    Labels: {},
    Spec: { ContainerSpec: { Image: opts.image ?? 'localbusy:1' } },
    ServiceID: redis.ID,
    Slot: slot,
    NodeID: 'v05wa5q12efwguyv511q915lg',
    Status: { Timestamp: new Date(NOW - (opts.ago ?? 7000)).toISOString(), State: opts.state ?? 'running', Message: 'started', Err: opts.err },
    DesiredState: opts.DesiredState ?? 'running',
  };
}

const self: Node = {
  ID: 'v05wa5q12efwguyv511q915lg',
  Version: { Index: 9 },
  CreatedAt: '2026-11-27T01:09:50.32696163Z',
  UpdatedAt: '2026-11-27T01:09:50.9Z',
  Spec: { Role: 'manager', Availability: 'active', Labels: {} },
  Description: {
    Hostname: 'vm',
    Platform: { Architecture: 'x86_64', OS: 'linux' },
    Resources: { NanoCPUs: 2e9, MemoryBytes: 25275850506 },
    Engine: {
      EngineVersion: '20.10.24+dfsg1',
      Plugins: [
        ...['awslogs', 'fluentd', 'gcplogs', 'gelf', 'journald', 'json-file', 'local', 'logentries', 'splunk', 'syslog'].map((Name) => ({ Type: 'Log', Name })),
        ...['bridge', 'host', 'ipvlan', 'macvlan', 'null', 'overlay'].map((Name) => ({ Type: 'Network', Name })),
        { Type: 'Volume', Name: 'local' },
      ].reverse(),
    },
    TLSInfo: {
      TrustRoot: /TrustRoot:\n([\s\S]*?\n)\n Issuer/.exec(nodePretty)?.[1],
      CertIssuerSubject: /Issuer Subject:\t(.*)/.exec(nodePretty)?.[1],
      CertIssuerPublicKey: /Issuer Public Key:\t(.*)/.exec(nodePretty)?.[1],
    },
  },
  Status: { State: 'ready', Addr: '127.0.0.1' },
  ManagerStatus: { Leader: true, Reachability: 'reachable', Addr: '127.0.0.1:2377' },
};

test('service ls matches docker byte for byte', () => {
  const out = renderServiceList([{ ...redis, ServiceStatus: { RunningTasks: 3, DesiredTasks: 3 } }]);
  assert.equal(out, serviceLs);
});

test('service ps matches docker byte for byte, trailing padding included', () => {
  const tasks = [task('jrhkdokvpulc', 2), task('8ln242an59mi', 3), task('rcv7qrjn6zep', 1)];
  const out = renderTaskList(tasks, { serviceNames: new Map([[redis.ID, 'redis']]), nodeNames: new Map([[self.ID, 'vm']]), now: NOW });
  assert.equal(out, servicePs);
});

test('service ps shows history indented, newest first, errors quoted and cut', () => {
  const tasks = [
    task('old1', 1, { state: 'failed', DesiredState: 'shutdown', ago: 50_000, created: '2026-11-27T01:10:00Z', err: 'No such container: webserver.1.abcdefghijklmnop' }),
    task('new1', 1, { ago: 44_000, created: '2026-11-27T01:12:00Z' }),
    task('older1', 1, { state: 'shutdown', DesiredState: 'shutdown', ago: 5 * 3600_000, created: '2026-11-26T20:00:00Z', image: 'redis:3.0.6@sha256:6a69' }),
  ];
  const out = renderTaskList(tasks, { serviceNames: new Map([[redis.ID, 'webserver']]), nodeNames: new Map([[self.ID, 'UbuntuVM']]), now: NOW });
  const lines = out.split('\n');
  assert.match(lines[1], /^new1\S*\s+webserver\.1\s+localbusy:1\s+UbuntuVM\s+Running\s+Running 44 seconds ago\s*$/);
  assert.match(lines[2], /^old1\S*\s+ \\_ webserver\.1 .*Shutdown\s+Failed 50 seconds ago\s+"No such container: webserver\.…"\s*$/);
  assert.match(lines[3], /^older1\S*\s+ \\_ webserver\.1\s+redis:3\.0\.6\s+.*Shutdown 5 hours ago/);
  const full = renderTaskList(tasks, { serviceNames: new Map([[redis.ID, 'webserver']]), nodeNames: new Map(), now: NOW, noTrunc: true });
  assert.match(full, /"No such container: webserver\.1\.abcdefghijklmnop"/);
  assert.match(full, /redis:3\.0\.6@sha256:6a69/);
});

test('service inspect --pretty matches docker byte for byte', () => {
  assert.equal(prettyService(redis, { now: NOW }), servicePretty);
});

test('service inspect --pretty shows update status, placement, resources, networks', () => {
  const svc: Service = JSON.parse(JSON.stringify(redis));
  svc.UpdateStatus = { State: 'updating', StartedAt: new Date(NOW - 27_000).toISOString(), Message: 'update in progress' };
  svc.Spec.TaskTemplate.Placement = { Constraints: ['node.role==manager'], Preferences: [{ Spread: { SpreadDescriptor: 'node.labels.zone' } }], MaxReplicas: 2 };
  svc.Spec.TaskTemplate.Resources = { Limits: { MemoryBytes: 512 * 1024 * 1024, NanoCPUs: 1.5e9 }, Reservations: { NanoCPUs: 5e8 } };
  svc.Spec.TaskTemplate.Networks = [{ Target: 'netid1' }];
  svc.Spec.Labels = { tier: 'web' };
  const out = prettyService(svc, { now: NOW, networkNames: new Map([['netid1', 'backend']]) });
  assert.ok(out.includes('\nLabels:\n tier=web\nService Mode:\tReplicated\n'));
  assert.ok(out.includes('\nUpdateStatus:\n State:\t\tupdating\n Started:\t27 seconds ago\n Message:\tupdate in progress\nPlacement:\n'));
  assert.ok(out.includes(' Constraints:\t[node.role==manager]\n Preferences:   [spread=node.labels.zone]\n Max Replicas Per Node:   2\n'));
  assert.ok(out.includes('Resources:\n Reservations:\n  CPU:\t\t0.5\n Limits:\n  CPU:\t\t1.5\n  Memory:\t512MiB\nNetworks: backend \nEndpoint Mode:\tvip\n'));
});

test('node ls matches docker byte for byte', () => {
  assert.equal(renderNodeList([self], self.ID), nodeLs);
  const worker: Node = { ...self, ID: 'z6ju1d6zpvayt88lcfw388fwg', ManagerStatus: undefined, Spec: { ...self.Spec, Role: 'worker', Availability: 'drain' }, Description: { ...self.Description, Hostname: 'myvm1' } };
  const out = renderNodeList([worker, self], self.ID);
  assert.equal(out.split('\n')[1], 'z6ju1d6zpvayt88lcfw388fwg     myvm1      Ready     Drain                           20.10.24+dfsg1');
  assert.equal(renderNodeList([self], self.ID, { quiet: true }), `${self.ID}\n`);
  assert.equal(renderNodeList([self], self.ID, { format: '{{.Hostname}}: {{.ManagerStatus}}' }), 'vm: Leader\n');
});

test('node inspect --pretty matches docker byte for byte', () => {
  assert.equal(prettyNode(self), nodePretty);
});

test('service inspect JSON uses four spaces like docker', () => {
  assert.equal(inspectJson([redis]), serviceJson);
  assert.equal(inspectJson([]), '[]\n');
});

test('network ls uses docker columns', () => {
  const out = renderNetworkList([
    { ID: 'oqrxyietyw6s1yw40iqtdagea', Name: 'ingress', Driver: 'overlay', Scope: 'swarm' } as never,
    { ID: 'abcdefabcdef1234', Name: 'backend', Driver: 'overlay', Scope: 'swarm' } as never,
  ]);
  assert.equal(out, 'NETWORK ID     NAME      DRIVER    SCOPE\nabcdefabcdef   backend   overlay   swarm\noqrxyietyw6s   ingress   overlay   swarm\n');
});

test('service ports merge ranges and skip host-mode ports', () => {
  assert.equal(
    servicePorts([
      { Protocol: 'tcp', TargetPort: 81, PublishedPort: 8081, PublishMode: 'ingress' },
      { Protocol: 'tcp', TargetPort: 80, PublishedPort: 8080, PublishMode: 'ingress' },
      { Protocol: 'udp', TargetPort: 53, PublishedPort: 53, PublishMode: 'ingress' },
      { Protocol: 'tcp', TargetPort: 22, PublishedPort: 2222, PublishMode: 'host' },
    ]),
    '*:8080-8081->80-81/tcp, *:53->53/udp',
  );
});

test('tabwriter pads like Go with minwidth 10 and padding 3', () => {
  assert.equal(tabwrite('a\tbb\tc\nlonger-cell-here\tx\t\n'), 'a                  bb        c\nlonger-cell-here   x         \n');
});

test('units: human durations, bytes, CPUs, Go times', () => {
  assert.equal(humanDuration(500), 'Less than a second');
  assert.equal(humanDuration(1000), '1 second');
  assert.equal(humanDuration(7000), '7 seconds');
  assert.equal(humanDuration(61_000), 'About a minute');
  assert.equal(humanDuration(16 * 60_000), '16 minutes');
  assert.equal(humanDuration(3600_000), 'About an hour');
  assert.equal(humanDuration(5 * 3600_000), '5 hours');
  assert.equal(humanDuration(3 * 86400_000), '3 days');
  assert.equal(formatBytes(25275850506), '23.54GiB');
  assert.equal(formatBytes(1037468467), '989.4MiB');
  assert.equal(parseBytes('512m'), 512 * 1024 ** 2);
  assert.equal(parseBytes('1g'), 1024 ** 3);
  assert.equal(parseBytes('10MiB'), 10 * 1024 ** 2);
  assert.throws(() => parseBytes('12x'), /invalid size: '12x'/);
  assert.equal(parseCpus('1.5'), 1.5e9);
  assert.equal(parseCpus('0.001'), 1e6);
  assert.throws(() => parseCpus('abc'), /invalid CPU value/);
  assert.equal(goTimeString('2026-11-27T01:09:50.326961630Z'), '2026-11-27 01:09:50.32696163 +0000 UTC');
});
