/**
 * The bridge plumber's plans: which `ip` commands give a network its bridge and a task its veths, as plain data.
 * Nothing here runs anything, so the exact argv for every case is unit-tested; bridge-plumber.ts only executes a
 * plan. Names are derived from IDs (never stored), so a restarted swarmd finds what the previous one made, and
 * they fit Linux's 15-character interface-name limit (IFNAMSIZ - 1).
 */
import { createHash } from 'node:crypto';
import type { LocalNetwork, TaskInterface } from './network-plumber';

/** One command of a plan. `exists` marks a command whose "File exists" answer means "already done". */
export interface PlannedCommand {
  argv: string[];
  exists?: boolean;
}

/** Where a namespace is: a name under /run/netns (ip's own form) or a process whose namespace it is. */
export type NetnsRef = { kind: 'name'; name: string } | { kind: 'pid'; pid: number };

export const IFNAME_MAX = 15;

/** The network's bridge: `shl` + the first 12 characters of its ID (IDs are unique in their first 12). */
export function bridgeName(networkId: string): string {
  return `shl${sanitize(networkId).slice(0, 12)}`;
}

/**
 * The host side of a task's index-th veth: `v` + 11 characters of the task ID + the index (at most 15). Swarm
 * task IDs are 25 random base-36 characters, so 11 of them collide with odds of about 1 in 10^17.
 */
export function hostVethName(taskId: string, index: number): string {
  if (!(Number.isInteger(index) && index >= 0 && index < 1000)) throw new Error(`interface index ${index} out of range 0-999`);
  return `${hostVethPrefix(taskId)}${index}`;
}

/** The prefix every host-side veth of a task starts with (what detach looks for). */
export function hostVethPrefix(taskId: string): string {
  return `v${sanitize(taskId).slice(0, IFNAME_MAX - 4)}`;
}

/** Interface names may not hold '/', ':' or whitespace; swarm IDs never do, but a stray one must not split argv. */
function sanitize(id: string): string {
  return id.replace(/[^A-Za-z0-9_.-]/g, '');
}

/** Reads /run/netns/NAME (or any .../netns/NAME) and /proc/PID/ns/net; anything else is refused. */
export function parseNetnsPath(path: string): NetnsRef {
  const proc = /^\/proc\/(\d+)\/ns\/net$/.exec(path);
  if (proc) return { kind: 'pid', pid: Number(proc[1]) };
  const named = /^\/(?:var\/)?run\/netns\/([^/]+)$/.exec(path);
  if (named) return { kind: 'name', name: named[1] };
  throw new Error(`unsupported network namespace path "${path}": use /run/netns/NAME or /proc/PID/ns/net`);
}

/** The prefix length of a CIDR subnet ("10.0.1.0/24" → 24). */
export function prefixLength(subnet: string): number {
  const m = /\/(\d{1,2})$/.exec(subnet);
  const n = m ? Number(m[1]) : NaN;
  if (!(n >= 0 && n <= 32)) throw new Error(`invalid subnet "${subnet}": expected a CIDR such as 10.0.1.0/24`);
  return n;
}

/** Creates the bridge (unless it is known to exist), gives it the gateway address, brings it up. */
export function ensureNetworkPlan(net: LocalNetwork, bridgeExists = false): PlannedCommand[] {
  const br = bridgeName(net.id);
  // A fixed MAC: a bridge without one takes the lowest MAC of its ports, so adding a task's veth could change the
  // gateway's MAC under every task's ARP cache and cut them off from it (the node, DNS, the mesh) for seconds.
  const create: PlannedCommand[] = bridgeExists
    ? []
    : [{ argv: ['ip', 'link', 'add', br, 'address', bridgeMac(net.id), 'type', 'bridge'], exists: true }];
  return [
    ...create,
    { argv: ['ip', 'addr', 'add', `${net.gateway}/${prefixLength(net.subnet)}`, 'dev', br], exists: true },
    { argv: ['ip', 'link', 'set', br, 'up'] },
  ];
}

/** A stable, locally administered unicast MAC for a network's bridge, derived from the network ID. */
export function bridgeMac(networkId: string): string {
  const h = createHash('sha256').update(networkId).digest();
  const bytes = [0x02, h[0], h[1], h[2], h[3], h[4]];
  return bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
}

export function removeNetworkPlan(networkId: string): PlannedCommand[] {
  return [{ argv: ['ip', 'link', 'del', bridgeName(networkId)] }];
}

/** argv run inside the namespace: `ip -n NAME ...` for a named one, nsenter for a process's. */
export function inNetns(ns: NetnsRef, ipArgs: string[]): string[] {
  return ns.kind === 'name' ? ['ip', '-n', ns.name, ...ipArgs] : ['nsenter', `--net=/proc/${ns.pid}/ns/net`, 'ip', ...ipArgs];
}

/**
 * Gives the namespace eth0..ethN-1: each veth is created with its peer directly inside the namespace under its
 * final name (no temporary host-side name that two tasks could race for), the host side joins the bridge, the
 * peer gets its address; lo comes up and the default route goes through the first network's gateway.
 */
export function attachPlan(taskId: string, ns: NetnsRef, ifaces: TaskInterface[]): PlannedCommand[] {
  const target = ns.kind === 'name' ? ns.name : String(ns.pid);
  const cmds: PlannedCommand[] = [{ argv: inNetns(ns, ['link', 'set', 'lo', 'up']) }];
  ifaces.forEach((iface, i) => {
    const host = hostVethName(taskId, i);
    const peer = `eth${i}`;
    cmds.push(
      { argv: ['ip', 'link', 'add', host, 'type', 'veth', 'peer', 'name', peer, 'netns', target], exists: true },
      { argv: ['ip', 'link', 'set', host, 'master', bridgeName(iface.network.id)] },
      // Hairpin: with br_netfilter, a task reaching its own service's VIP is DNATed back to itself at the bridge
      // and must leave through the port it came in by, which a bridge refuses unless the port allows it.
      { argv: ['ip', 'link', 'set', host, 'type', 'bridge_slave', 'hairpin', 'on'] },
      { argv: ['ip', 'link', 'set', host, 'up'] },
      { argv: inNetns(ns, ['addr', 'add', iface.address, 'dev', peer]), exists: true },
      { argv: inNetns(ns, ['link', 'set', peer, 'up']) },
    );
  });
  if (ifaces.length > 0) {
    cmds.push({ argv: inNetns(ns, ['route', 'replace', 'default', 'via', ifaces[0].network.gateway, 'dev', 'eth0']) });
  }
  return cmds;
}

/** Deletes the named host-side veths (the peers die with them); the caller lists which exist. */
export function detachPlan(existingHostVeths: string[]): PlannedCommand[] {
  return existingHostVeths.map((name) => ({ argv: ['ip', 'link', 'del', name] }));
}

/** From `ip -o link show` output, the host veths that belong to a task (`5: vabc0@if2: <...` → vabc0). */
export function taskVethsIn(ipLinkOutput: string, taskId: string): string[] {
  const prefix = hostVethPrefix(taskId);
  const out: string[] = [];
  for (const line of ipLinkOutput.split('\n')) {
    const m = /^\d+:\s+([^:@\s]+)/.exec(line);
    if (m && m[1].startsWith(prefix) && /^\d+$/.test(m[1].slice(prefix.length))) out.push(m[1]);
  }
  return out;
}

/**
 * The plan as `ip -batch` runs: consecutive commands with the same `-n NS` (or none) go together, order kept.
 * Undefined when a command is not `ip` or has an argument a batch line cannot carry (spaces, quotes, empty).
 */
export function batchesOf(plan: PlannedCommand[]): { argv: string[]; input: string }[] | undefined {
  const out: { ns: string; lines: string[] }[] = [];
  for (const { argv } of plan) {
    if (argv[0] !== 'ip') return undefined;
    let rest = argv.slice(1);
    let ns = '';
    if (rest[0] === '-n') {
      ns = rest[1] ?? '';
      rest = rest.slice(2);
    }
    if (rest.length === 0 || rest[0].startsWith('-') || rest.some((a) => a === '' || /[\s"'\\#]/.test(a))) return undefined;
    const last = out[out.length - 1];
    if (last && last.ns === ns) last.lines.push(rest.join(' '));
    else out.push({ ns, lines: [rest.join(' ')] });
  }
  return out.map((b) => ({ argv: ['ip', ...(b.ns ? ['-n', b.ns] : []), '-batch', '-'], input: b.lines.join('\n') + '\n' }));
}
