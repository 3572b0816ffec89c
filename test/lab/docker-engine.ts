/**
 * The private Docker engine the e2e tests use (started by scripts/dockerd.sh, images by scripts/busybox-image.sh),
 * and the check every e2e test awaits first: a missing engine or image fails the test with the fix in the message.
 */
import Docker from 'dockerode';
import { Agent, request } from 'undici';
import type { SwarmdProcess } from './swarmd-process';

export const ENGINE = 'unix:///run/shoal-docker.sock';
export const TEST_IMAGE = 'shoal-busybox:1';

export function engineClient(host = ENGINE): Docker {
  return new Docker({ socketPath: host.replace(/^unix:\/\//, '') });
}

export async function requireEngine(docker: Docker, image = TEST_IMAGE, host = ENGINE): Promise<void> {
  try {
    await docker.ping();
  } catch {
    throw new Error(`no Docker engine at ${host}: run scripts/dockerd.sh start (needs Debian's docker.io)`);
  }
  await docker.getImage(image).inspect().catch(() => {
    throw new Error(`no image ${image} at ${host}: run scripts/busybox-image.sh`);
  });
}

/** Docker's label on every swarm container: the node that runs it. */
export const LABEL_NODE = 'com.docker.swarm.node.id';

/**
 * The e2e tests' teardown for a swarmd on the docker executor: leave the swarm through the API (which removes the
 * node's containers), then remove any container of this node the engine still holds (a daemon that died first
 * left them), then stop swarmd and delete its files. Runs whatever state a failed test left.
 */
export async function leaveAndSweep(d: SwarmdProcess, docker: Docker, nodeId: string): Promise<void> {
  try {
    if (await d.ping()) {
      const r = await request('http://swarmd/swarm/leave?force=true', { method: 'POST', dispatcher: new Agent({ connect: { socketPath: d.socket } }) });
      await r.body.text();
    }
  } catch {
    // the daemon is gone: the container sweep below still runs
  }
  if (nodeId) {
    const left = await docker.listContainers({ all: true, filters: { label: [`${LABEL_NODE}=${nodeId}`] } }).catch(() => []);
    await Promise.all(left.map((c) => docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined)));
  }
  await d.destroy();
}
