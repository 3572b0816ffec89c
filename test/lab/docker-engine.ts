/**
 * The private Docker engine the e2e tests use (started by scripts/dockerd.sh, images by scripts/busybox-image.sh),
 * and the check every e2e test awaits first: a missing engine or image fails the test with the fix in the message.
 */
import Docker from 'dockerode';

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
