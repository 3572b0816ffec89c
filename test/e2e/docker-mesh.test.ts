/**
 * The routing mesh in front of real containers: swarmd with the docker executor against the private dockerd
 * (containers with NetworkMode none and Shoal's veths), a service published with the real docker CLI, and
 * requests to the node — on a non-loopback node address (the iptables mesh's DNAT, or the userspace proxy when
 * iptables is missing) and on 127.0.0.1 — reach every container.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { mkdirSync } from 'node:fs';
import { request } from 'undici';
import { SwarmdProcess } from '../lab/swarmd-process';
import { ENGINE, TEST_IMAGE as IMAGE, engineClient, requireEngine } from '../lab/docker-engine';
import { nodeAddress } from '../lab/http-client';

const DOCKER = '/usr/bin/docker';
const PORT = 18097;
const d = new SwarmdProcess(['--dns-addr', ''], { executor: 'docker', dockerHost: ENGINE });

function docker(...args: string[]): string {
  const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_CONFIG: join(d.dir, 'docker-config'), DOCKER_CLI_HINTS: 'false' };
  delete env.DOCKER_HOST;
  const r = spawnSync(DOCKER, ['-H', d.host, ...args], { encoding: 'utf8', timeout: 120_000, env });
  if (r.status !== 0) throw new Error(`docker ${args.join(' ')} exited ${r.status}: ${r.stderr}\nswarmd:\n${d.logs(30)}`);
  return r.stdout;
}

async function get(url: string): Promise<string | undefined> {
  try {
    const r = await request(url, { reset: true, headersTimeout: 2000, bodyTimeout: 2000 });
    const body = (await r.body.text()).trim();
    return r.statusCode === 200 ? body : undefined;
  } catch {
    return undefined;
  }
}

after(async () => {
  await d.destroy();
});

test('a published port reaches every container, on a node address and on 127.0.0.1', async () => {
  // Set up inside the test: a missing engine must fail it, not cancel it (a failed before() only cancels).
  await requireEngine(engineClient());
  mkdirSync(join(d.dir, 'docker-config'), { recursive: true });
  await d.start();
  docker('swarm', 'init', '--advertise-addr', '127.0.0.1');
  const page = 'mkdir -p /tmp/www && hostname > /tmp/www/index.html && exec httpd -f -p 80 -h /tmp/www';
  docker('service', 'create', '-q', '--name', 'pub', '--replicas', '2', '--hostname', 'pub-{{.Task.Slot}}', '-p', `${PORT}:80`, IMAGE, 'sh', '-c', page);
  for (const host of [nodeAddress(), '127.0.0.1']) {
    const seen = new Set<string>();
    await d.until(`both containers answer on ${host}:${PORT}`, async () => {
      const body = await get(`http://${host}:${PORT}/`);
      if (body) seen.add(body);
      return seen.size === 2;
    }, 60_000);
    assert.deepEqual([...seen].sort(), ['pub-1', 'pub-2']);
  }
  assert.match(docker('service', 'ls', '--format', '{{.Ports}}'), new RegExp(`\\*:${PORT}->80/tcp`));
  docker('service', 'rm', 'pub');
});
