/**
 * `service logs` with the process executor on a real swarmd, read by swarmctl and by the real docker CLI
 * (Debian's 20.10 client, which builds its `NAME.SLOT.TASKID@NODE    | line` prefix from the details Shoal
 * sends): both streams, --tail, --timestamps, --no-task-ids, --raw, a task ID instead of the service, and
 * --follow, which also streams a task that starts after the stream began (a scale-up), as Docker does.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { SwarmdProcess } from '../lab/swarmd-process';
import { requireCommands } from '../lab/require';

// No embedded DNS: these tasks need none, and its host-wide address may be taken by another run.
const d = new SwarmdProcess(['--dns-addr', '']);
let node = '';
const SWARMCTL = join(__dirname, '..', '..', 'control', 'cli', 'swarmctl.js');

before(async () => {
  requireCommands(['ip', 'unshare', 'sleep', 'docker']);
  await d.start();
  d.ok('swarm', 'init', '--advertise-addr', '127.0.0.1');
  node = d.ok('node', 'inspect', '--format', '{{.Description.Hostname}}', 'self').trim();
  d.ok('service', 'create', '-d', '--name', 'lg', '--replicas', '2', 'busybox', 'sh', '-c', 'for i in 1 2 3; do echo out$i; done; echo oops >&2; exec sleep 3600');
  await d.until('both tasks printed', () => (d.cli('service', 'logs', '--raw', 'lg').stderr.match(/oops/g) ?? []).length === 2);
});
after(() => d.destroy());

/** The docker CLI against swarmd's socket, with no config or context of the developer's. */
function docker(...args: string[]): { code: number; stdout: string; stderr: string } {
  const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_CONFIG: join(d.dir, 'docker-config'), DOCKER_CLI_HINTS: 'false' };
  delete env.DOCKER_HOST;
  delete env.DOCKER_CONTEXT;
  const r = spawnSync('docker', ['-H', d.host, ...args], { encoding: 'utf8', env, timeout: 30_000 });
  return { code: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

const tasks = () => d.ok('service', 'ps', '--format', '{{.Name}}.{{.ID}}', 'lg').trim().split('\n').sort();
const lines = (text: string) => text.split('\n').filter(Boolean).sort();

test('NAME.SLOT.TASKID@NODE    | line, stdout and stderr apart, for swarmctl and the docker CLI alike', () => {
  const names = tasks();
  const expectOut = names.flatMap((n) => [1, 2, 3].map((i) => `${n}@${node}    | out${i}`)).sort();
  const expectErr = names.map((n) => `${n}@${node}    | oops`).sort();
  const mine = d.cli('service', 'logs', 'lg');
  assert.equal(mine.code, 0);
  assert.deepEqual(lines(mine.stdout), expectOut);
  assert.deepEqual(lines(mine.stderr), expectErr);
  const theirs = docker('service', 'logs', 'lg');
  assert.equal(theirs.code, 0, theirs.stderr);
  assert.deepEqual(lines(theirs.stdout), expectOut);
  assert.deepEqual(lines(theirs.stderr), expectErr);
});

test('--tail, --timestamps, --no-task-ids, --raw and a task ID', () => {
  const tail = d.cli('service', 'logs', '--tail', '2', 'lg');
  assert.deepEqual(lines(tail.stdout).map((l) => l.split('| ')[1]), ['out3', 'out3']);
  assert.equal(lines(tail.stderr).length, 2);
  assert.deepEqual(lines(docker('service', 'logs', '--tail', '2', 'lg').stdout), lines(tail.stdout));

  const ts = docker('service', 'logs', '--timestamps', '--tail', '1', 'lg');
  for (const l of lines(ts.stderr)) assert.match(l, new RegExp(`^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{9}Z lg\\.\\d\\.\\w+@${node}    \\| oops$`));
  assert.deepEqual(lines(d.cli('service', 'logs', '--timestamps', '--tail', '1', 'lg').stderr), lines(ts.stderr));

  assert.deepEqual(lines(d.cli('service', 'logs', '--no-task-ids', '--tail', '1', 'lg').stderr), [`lg.1@${node}    | oops`, `lg.2@${node}    | oops`]);
  assert.deepEqual(lines(d.cli('service', 'logs', '--raw', 'lg').stdout), ['out1', 'out1', 'out2', 'out2', 'out3', 'out3']);

  const [first] = tasks();
  const id = first.split('.')[2];
  const one = d.cli('service', 'logs', id);
  assert.deepEqual(lines(one.stdout), [1, 2, 3].map((i) => `${first}@${node}    | out${i}`));
  assert.deepEqual(lines(docker('service', 'logs', id).stdout), lines(one.stdout));
});

test('--follow streams new lines and tasks that start later, until interrupted', async () => {
  const f = spawn(process.execPath, [SWARMCTL, '-H', d.host, 'service', 'logs', '-f', '--tail', '0', 'lg'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  f.stdout.on('data', (b) => (out += b));
  try {
    // Scale only once the stream is open: a task started before it would count as old, and --tail 0 skips it.
    await d.until('the log stream open', () => d.logs(400).split('\n').some((l) => l.includes('"msg":"log stream open"') && l.includes('"follow":true')));
    d.ok('service', 'scale', '-d', 'lg=3');
    const line = await d.until('the new task\'s lines in the stream', () => out.split('\n').find((l) => /^lg\.3\.\w+@.*\| out1$/.test(l)));
    assert.match(line!, new RegExp(`@${node}    \\| out1$`));
    assert.doesNotMatch(out, /lg\.[12]\./, '--tail 0: nothing old from the tasks that were there');
  } finally {
    f.kill('SIGINT');
  }
  d.ok('service', 'scale', '-d', 'lg=2');
});
