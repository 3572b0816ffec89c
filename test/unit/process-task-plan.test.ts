import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Task } from '../../control/api/types';
import { resolvConf, stopSignal, taskCommand, taskEnv, taskInterfaces, taskLaunch } from '../../control/agent/process-task-plan';
import { LineSplitter, MAX_LINE_BYTES, parseLogLine, formatLogLine, timestampNow } from '../../control/agent/task-log-files';
import { dockerArchitecture } from '../../control/agent/process-executor';

function task(spec: Partial<Task['Spec']['ContainerSpec']>, extra: Partial<Task> = {}): Task {
  return {
    ID: 'abcdefghijklmnopqrstuvwxy',
    Spec: { ContainerSpec: { Image: 'nginx:1', ...spec } },
    ...extra,
  } as Task;
}

test('the command is Entrypoint (Command) then Cmd (Args), as Docker runs them', () => {
  assert.deepEqual(taskCommand(task({ Command: ['sh', '-c'], Args: ['echo hi'] })), ['sh', '-c', 'echo hi']);
  assert.deepEqual(taskCommand(task({ Args: ['sleep', '5'] })), ['sleep', '5']);
  assert.throws(() => taskCommand(task({})), {
    message:
      "task has no command: the process executor runs the service's command from the host filesystem " +
      '(image nginx:1 is not unpacked); give one, e.g. swarmctl service create nginx:1 sleep 3600',
  });
});

test('the environment is PATH/HOME/HOSTNAME under the task Env', () => {
  const env = taskEnv(task({ Env: ['A=1', 'PATH=/opt/bin', 'B=x=y', 'BARE'] }), 'h');
  assert.deepEqual(env, { PATH: '/opt/bin', HOME: '/root', HOSTNAME: 'h', A: '1', B: 'x=y' });
});

test('stop signals by name, short name or number', () => {
  assert.equal(stopSignal(task({})), 'SIGTERM');
  assert.equal(stopSignal(task({ StopSignal: 'SIGINT' })), 'SIGINT');
  assert.equal(stopSignal(task({ StopSignal: 'quit' })), 'SIGQUIT');
  assert.equal(stopSignal(task({ StopSignal: '9' })), 'SIGKILL');
  assert.throws(() => stopSignal(task({ StopSignal: 'SIGNOPE' })), /invalid stop signal "SIGNOPE"/);
});

test('the launch enters the namespace and a UTS namespace, then runs the command', () => {
  const l = taskLaunch(task({ Command: ['sleep'], Args: ['5'], Hostname: 'web' }));
  // Helpers by absolute path (the task's PATH may not hold them), then the command as the task's PATH finds it.
  const base = (p: string) => p.replace(/^\/(usr\/)?s?bin\//, '');
  assert.deepEqual(
    l.argv.map((a, i) => ([0, 4, 7].includes(i) ? base(a) : a.replace(/'\/(usr\/)?s?bin\/(hostname|ip)'/g, '$2'))),
    ['ip', 'netns', 'exec', 'shoal-abcdefghijklmnopqrstuvwxy', 'unshare', '--uts', '--', 'sh', '-c', 'ip link set lo up && hostname "$1" && shift && exec "$@"', 'sh', 'web', 'sleep', '5'],
  );
  assert.ok(l.argv[0].startsWith('/'));
  assert.equal(l.cwd, '/');
  assert.equal(l.stopSignal, 'SIGTERM');
  assert.equal(taskLaunch(task({ Args: ['true'] })).env.HOSTNAME, 'abcdefghijkl');
  assert.equal(taskLaunch(task({ Args: ['/bin/true'], Env: ['PATH=/nowhere'] })).env.PATH, '/nowhere');
  assert.throws(() => taskLaunch(task({ Args: ['no-such-command-xyz'] })), /command "no-such-command-xyz" not found in PATH/);
  assert.throws(() => taskLaunch(task({ Args: ['true'], Dir: '/no/such/dir' })), /working directory "\/no\/such\/dir" does not exist/);
  assert.throws(() => taskLaunch(task({ Args: ['true'], User: 'nobody' })), /user "nobody" is not supported/);
});

test('resolv.conf only when nameservers are given', () => {
  assert.equal(resolvConf(task({})), undefined);
  assert.equal(resolvConf(task({ DNSConfig: { Nameservers: ['1.2.3.4', '5.6.7.8'], Search: ['a', 'b'], Options: ['ndots:2'] } })),
    'nameserver 1.2.3.4\nnameserver 5.6.7.8\nsearch a b\noptions ndots:2\n');
});

test('interfaces come from NetworksAttachments in order; a missing gateway is the first host', () => {
  const net = (id: string, subnet: string, gateway?: string) => ({ ID: id, Name: id, IPAM: { Config: [{ Subnet: subnet, Gateway: gateway }] } });
  const t = task({}, {
    NetworksAttachments: [
      { Network: net('n1', '10.0.1.0/24', '10.0.1.1'), Addresses: ['10.0.1.5/24'] },
      { Network: net('n2', '10.0.8.0/22'), Addresses: ['10.0.9.7'] },
    ],
  } as unknown as Partial<Task>);
  assert.deepEqual(taskInterfaces(t), [
    { network: { id: 'n1', name: 'n1', subnet: '10.0.1.0/24', gateway: '10.0.1.1', vni: undefined }, address: '10.0.1.5/24' },
    { network: { id: 'n2', name: 'n2', subnet: '10.0.8.0/22', gateway: '10.0.8.1', vni: undefined }, address: '10.0.9.7/22' },
  ]);
  const noAddr = task({}, { NetworksAttachments: [{ Network: net('n1', '10.0.1.0/24'), Addresses: [] }] } as unknown as Partial<Task>);
  assert.throws(() => taskInterfaces(noAddr), /task has no address on network n1/);
});

test('output lines: split on newlines, CR stripped, long lines cut at 16 KiB, the tail flushed at end', () => {
  const lines: string[] = [];
  const s = new LineSplitter((l) => lines.push(l));
  s.push(Buffer.from('one\r\ntw'));
  s.push(Buffer.from('o\nthr'));
  assert.deepEqual(lines, ['one', 'two']);
  s.push(Buffer.from('x'.repeat(MAX_LINE_BYTES + 10) + '\n'));
  s.end();
  assert.deepEqual(lines.slice(2).map((l) => l.length), [MAX_LINE_BYTES, 13]);
  assert.ok(lines[2].startsWith('thrx'));
});

test('log lines round-trip with nanosecond timestamps that never go backwards', () => {
  const a = timestampNow();
  const b = timestampNow();
  assert.match(a, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
  assert.ok(b >= a);
  assert.deepEqual(parseLogLine(formatLogLine('stderr', 'a b  c', a).trimEnd()), { timestamp: a, stream: 'stderr', line: 'a b  c' });
  assert.equal(parseLogLine('garbage'), undefined);
});

test('architecture names as Docker prints them', () => {
  assert.equal(dockerArchitecture('x64'), 'x86_64');
  assert.equal(dockerArchitecture('arm64'), 'aarch64');
  assert.equal(dockerArchitecture('riscv64'), 'riscv64');
});
