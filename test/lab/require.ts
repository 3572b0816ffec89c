/**
 * Tests that need a real component fail loudly when it is missing, naming what to install — they never pass
 * by skipping.
 */
import { spawnSync } from 'node:child_process';

const PACKAGES: Record<string, string> = {
  ip: 'iproute2',
  ping: 'iputils-ping',
  iptables: 'iptables',
  dockerd: 'docker.io',
  docker: 'docker.io',
  busybox: 'busybox-static',
  unshare: 'util-linux',
  haproxy: 'haproxy',
  prometheus: 'prometheus',
  promtool: 'prometheus',
  nsenter: 'util-linux',
};

export function requireCommands(names: string[]): void {
  const missing = names.filter((n) => spawnSync('sh', ['-c', `command -v ${n}`]).status !== 0);
  if (missing.length) {
    const pkgs = [...new Set(missing.map((n) => PACKAGES[n] ?? n))].join(' ');
    throw new Error(`missing ${missing.join(', ')}: install them (apt-get install ${pkgs}) — this test needs the real thing`);
  }
  if (process.getuid && process.getuid() !== 0) throw new Error('this test needs root (network namespaces, veth, bridges)');
}
