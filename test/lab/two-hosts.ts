/**
 * Two "hosts" for a test: a node namespace and a client namespace joined by a veth pair, each with its address
 * and lo up — what a client on another machine sees of a node. removeNamespaces() is safe to call twice.
 */
import { execFileSync } from 'node:child_process';

const ip = (...args: string[]) => execFileSync('ip', args, { encoding: 'utf8' });

export interface TwoHosts {
  nodeNs: string;
  clientNs: string;
  nodeIp: string;
  clientIp: string;
  /** veth names on each side (≤ 15 characters). */
  nodeDev: string;
  clientDev: string;
}

export function makeTwoHosts(h: TwoHosts): void {
  ip('netns', 'add', h.nodeNs);
  ip('netns', 'add', h.clientNs);
  ip('link', 'add', h.nodeDev, 'netns', h.nodeNs, 'type', 'veth', 'peer', 'name', h.clientDev, 'netns', h.clientNs);
  ip('-n', h.nodeNs, 'addr', 'add', `${h.nodeIp}/24`, 'dev', h.nodeDev);
  ip('-n', h.clientNs, 'addr', 'add', `${h.clientIp}/24`, 'dev', h.clientDev);
  for (const [ns, dev] of [[h.nodeNs, h.nodeDev], [h.clientNs, h.clientDev]]) {
    ip('-n', ns, 'link', 'set', 'lo', 'up');
    ip('-n', ns, 'link', 'set', dev, 'up');
  }
}

export function removeNamespaces(...names: string[]): void {
  for (const ns of names) {
    try {
      ip('netns', 'del', ns);
    } catch {
      /* already gone */
    }
  }
}
