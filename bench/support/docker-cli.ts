/**
 * Debian's docker client (/usr/bin/docker) against the private engine, for the benchmark anchors: runs one
 * command and returns its stdout, or throws with argv, exit code and stderr.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';

export const DOCKER_HOST = process.env.SHOAL_BENCH_DOCKER_HOST ?? 'unix:///run/shoal-docker.sock';
export const DOCKER_SOCKET = DOCKER_HOST.replace(/^unix:\/\//, '');
const DOCKER_BIN = existsSync('/usr/bin/docker') ? '/usr/bin/docker' : 'docker';

export function docker(...args: string[]): Promise<string> {
  const argv = ['-H', DOCKER_HOST, ...args];
  return new Promise((resolve, reject) => {
    execFile(DOCKER_BIN, argv, { maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err) {
        const code = (err as NodeJS.ErrnoException & { code?: unknown }).code;
        reject(new Error(`${DOCKER_BIN} ${argv.join(' ')} exited ${String(code)}: ${stderr.trim() || err.message}`));
      } else resolve(stdout);
    });
  });
}

/** Removes (-f) every container carrying this label (key=value); returns how many there were. */
export async function removeContainersByLabel(label: string): Promise<number> {
  const ids = (await docker('ps', '-aq', '--filter', `label=${label}`)).split('\n').filter(Boolean);
  for (let i = 0; i < ids.length; i += 50) await docker('rm', '-f', ...ids.slice(i, i + 50));
  return ids.length;
}

/** Runs fn over items with at most `limit` in flight. */
export async function inParallel<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
