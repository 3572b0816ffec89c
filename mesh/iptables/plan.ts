/**
 * The iptables mesh's planner: a pure function from the endpoint table (and what this node is) to the rules we
 * want, as data — our chains per table with their rules, the jumps from the built-in chains, the sysctls DNAT
 * needs, and the UDP flows whose conntrack entries must go when a backend does. Nothing here runs anything.
 *
 * Layout (kube-proxy's, with our names; chain hashes are stable so a restarted swarmd finds its own chains):
 *   nat PREROUTING/OUTPUT → SHOAL-SERVICES: `-d VIP -j SHOAL-SVC-x` per (service, network); last, for traffic to
 *     this node's own addresses (not 127/8: see below), → SHOAL-INGRESS: `[-d host_ip] -p P --dport N -j SVC`.
 *   SHOAL-SVC-x: one rule per backend, rule i of n with `-m statistic --probability 1/(n−i)`, the last without →
 *     uniform; each DNATs to its backend (ingress: ip:targetPort; VIP: ip, any port, as Docker's fwmark VIP).
 *     Only a remote backend gets a SHOAL-SEP-x chain (mark for masquerade, then DNAT): kube-proxy's per-endpoint
 *     chain exists for its hairpin mark, which we do not need (POSTROUTING below catches hairpin by conntrack).
 *   nat POSTROUTING → SHOAL-POSTROUTING: masquerade (a) DNATed packets leaving a bridge whose source is on that
 *     bridge — hairpin (a task reaching its own service) and neighbours, whose replies would otherwise go straight
 *     over the bridge and skip the un-DNAT; (b) packets marked by SHOAL-MARK-MASQ (remote backends, whose replies
 *     must come back through the node that took the connection). Ingress traffic from outside to a task on this
 *     node is NOT masqueraded: the task sees the client's real address (Docker hides it, moby#25526). That holds
 *     because a local task's replies route through this node's namespace (its gateway is our bridge).
 *   filter FORWARD → SHOAL-USER (the user's, evaluated first, like DOCKER-USER), SHOAL-SERVICES (REJECT, with the
 *     reason as a comment, for a VIP or published port with no backends), SHOAL-ACCOUNT (below), SHOAL-FORWARD
 *     (accept our bridges' traffic, since dockerd may set the FORWARD policy to DROP). INPUT/OUTPUT →
 *     SHOAL-SERVICES and SHOAL-ACCOUNT too.
 *   Byte accounting, for services labelled shoal.mesh.accounting=bytes only: their SVC chains first set a connmark
 *     bit (ACCOUNT_MARK, first packet only), and packets of connections carrying it — nothing else — enter
 *     SHOAL-ACCOUNT, which holds two RETURN rules per such entry point (original direction = received, reply =
 *     sent), told apart by the connection's original destination; the rules' byte counters are the volume. The
 *     nat counters already give connections for every service; bytes cost a linear walk per packet, so they are
 *     opt-in and VIP rules come first (a VIP flow to a port someone publishes is the VIP's).
 * 127.0.0.1:PUBLISHED is deliberately not served: it needs route_localnet, which lets neighbours reach the node's
 * loopback services (CVE-2020-8558); kube-proxy's nftables mode dropped it for the same reason.
 * mode=host ports go in SHOAL-INGRESS too, spread only over this node's tasks (by their ingress address: tasks of
 * a service that publishes any port join ingress), and are absent on nodes without one.
 * Remote backends (nodeId ≠ this node) are skipped until VXLAN lands; `remoteBackends: 'masquerade'` already
 * plans them (marked for masquerade) so adding the overlay changes no rule shape.
 */
import { createHash } from 'node:crypto';
import { bridgeName as defaultBridgeName } from '../../overlay/bridge-plan';
import type { EndpointBackend, EndpointPort, EndpointTable, ServiceEndpoint } from '../endpoint-table';
import type { EntryPoint } from './rule-counters';

export type TableName = 'nat' | 'filter';
export const TABLES: readonly TableName[] = ['nat', 'filter'];

/** Our chains of one table, in render order; each rule is the text after `-A CHAIN ` in iptables-save's form. */
export type ChainRules = Map<string, string[]>;

/** A rule in a built-in chain that enters ours; jumps of one built-in chain sit at its head in this order. */
export interface Jump {
  table: TableName;
  chain: string;
  spec: string;
}

export interface RulesModel {
  tables: Record<TableName, ChainRules>;
  jumps: Jump[];
  /** Sysctl name → value, applied in the mesh's namespace before the rules. */
  sysctls: Record<string, string>;
  /** One entry per (UDP entry point, backend): key → conntrack filter args; a key that disappears is flushed. */
  udpFlows: Map<string, string[]>;
  /** Why something in the table got no rules (host-mode ports, dnsrr, remote backends, ...). */
  notes: string[];
  /** Each service entry point that got a dispatch rule, by its SVC chain (metrics read their rule counters). */
  entryPoints: EntryPoint[];
}

export interface NodeContext {
  nodeId: string;
  /** This node's addresses (a host_ip that is none of them gets a note, its rule still matches nothing). */
  addresses: string[];
  /** The Linux bridge of a network on this node; overlay/bridge-plan's naming by default. */
  bridgeName?: (networkId: string) => string;
  remoteBackends?: 'skip' | 'masquerade';
  /** Node addresses that are not entry points for published ports (the embedded resolver's: a service publishing
   * 53 must not capture the tasks' DNS queries). */
  notIngress?: string[];
}

export const CHAIN = {
  services: 'SHOAL-SERVICES',
  ingress: 'SHOAL-INGRESS',
  postrouting: 'SHOAL-POSTROUTING',
  markMasq: 'SHOAL-MARK-MASQ',
  forward: 'SHOAL-FORWARD',
  user: 'SHOAL-USER',
  account: 'SHOAL-ACCOUNT',
} as const;
export const CHAIN_PREFIX = 'SHOAL-';
/** iptables' limit on chain names (XT_EXTENSION_MAXNAMELEN − 1). */
export const CHAIN_NAME_MAX = 28;
/** One bit of the packet mark, clear of kube-proxy's 0x4000/0x8000 and Docker's none. */
export const MASQ_MARK = '0x200000';
/** One bit of the connection mark: the connection belongs to an entry point whose bytes are counted. */
export const ACCOUNT_MARK = '0x400000';
/** Protocol numbers, as iptables-save prints `--ctproto`. */
const PROTO_NUMBER = { tcp: 6, udp: 17, sctp: 132 } as const;

/** `PREFIX` + 16 base32 characters of sha256(key): 26 characters, stable across restarts (kube-proxy's scheme). */
export function chainName(prefix: 'SHOAL-SVC-' | 'SHOAL-SEP-', key: string): string {
  const digest = createHash('sha256').update(key).digest();
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  let out = '';
  for (let i = 0; out.length < 16; i++) {
    value = (value << 8) | digest[i];
    bits += 8;
    while (bits >= 5 && out.length < 16) {
      out += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  return prefix + out;
}

/**
 * Probability for rule i of n so that each backend is picked with 1/n overall, exactly as iptables-save prints
 * it: xt_statistic keeps it as a 31-bit fraction (round(p·2³¹)), and save prints that fraction with 11 decimals —
 * 1/3 comes back as 0.33333333349. Writing the kernel's own text lets a full sync compare chains with what the
 * kernel holds and leave equal ones alone.
 */
export function spreadProbability(i: number, n: number): string {
  return (Math.round(0x80000000 / (n - i)) / 0x80000000).toFixed(11);
}

/** What one service contributes to the model: its entries in the shared chains, its own chains, its UDP flows. */
export interface ServicePlan {
  /** SHOAL-SERVICES (nat) rules for its VIPs. */
  vipRules: string[];
  /** SHOAL-INGRESS rules: host_ip-bound ports (they go first in the chain) and wildcard ones. */
  ingressBound: string[];
  ingressAny: string[];
  /** SHOAL-SERVICES (filter) rejects: entry points with no backend. */
  rejects: string[];
  /** SHOAL-ACCOUNT rules (accounted services only): VIP entry points', then published ports'. */
  accountVip: string[];
  accountPorts: string[];
  /** Its SVC chains then its SEP chains, in render order. The arrays are shared by every model built from a
   * cached plan, which is what lets the incremental render skip an unchanged chain by identity. */
  chains: [string, string[]][];
  udpFlows: [string, string[]][];
  notes: string[];
  /** Its SVC chains by entry point, for the kernel's rule counters (metrics). */
  entryPoints: EntryPoint[];
}

/** The part of the table and the node a service's plan depends on (besides the service itself). */
export interface ServiceContext {
  ingressNetworkId?: string;
  nodeId: string;
  addresses: string[];
  remoteBackends?: 'skip' | 'masquerade';
}

/** The whole model; plan() is planService() for each service, then assemble(). */
export function plan(table: EndpointTable, node: NodeContext): RulesModel {
  const ctx = serviceContext(table, node);
  return assemble(sortedServices(table).map((svc) => planService(svc, ctx)), table, node);
}

export function serviceContext(table: EndpointTable, node: NodeContext): ServiceContext {
  return { ingressNetworkId: table.ingressNetworkId, nodeId: node.nodeId, addresses: node.addresses, remoteBackends: node.remoteBackends };
}

export function sortedServices(table: EndpointTable): ServiceEndpoint[] {
  return [...table.services].sort((a, b) => (a.serviceId < b.serviceId ? -1 : 1));
}

/**
 * One service's rules. A local backend is DNATed straight from the SVC chain's statistic rule (no per-endpoint
 * chain: hairpin is caught in POSTROUTING by `--ctstate DNAT` on the bridge, so nothing is marked per endpoint);
 * only a remote backend, which must be marked for masquerade before the DNAT, gets a SHOAL-SEP chain. Fewer
 * chains is what makes a full restore on iptables-nft cheaper: its cost grows faster than the chain count.
 * Reads only what incremental-planner's serviceFingerprint() lists; reading another field means adding it there.
 */
export function planService(svc: ServiceEndpoint, ctx: ServiceContext): ServicePlan {
  const out: ServicePlan = { vipRules: [], ingressBound: [], ingressAny: [], rejects: [], accountVip: [], accountPorts: [], chains: [], udpFlows: [], notes: [], entryPoints: [] };
  const seps: [string, string[]][] = [];
  const backends = [...svc.backends].sort((x, y) => (x.taskId < y.taskId ? -1 : x.taskId > y.taskId ? 1 : 0));

  /** Writes SHOAL-SVC for the backends reachable on a network; returns its name or undefined when none is. */
  const spread = (svcKey: string, networkId: string, dnat: (pick: string, ip: string) => string, localOnly = false): string | undefined => {
    const usable: [EndpointBackend, string][] = [];
    for (const b of backends) {
      const ip = b.addrs[networkId];
      if (!ip) continue;
      const remote = b.nodeId !== ctx.nodeId;
      if (remote && localOnly) continue;
      if (remote && ctx.remoteBackends !== 'masquerade') {
        out.notes.push(`${svc.serviceName}: task ${b.name} runs on node ${b.nodeId}; remote backends need the overlay`);
        continue;
      }
      usable.push([b, ip]);
    }
    if (usable.length === 0) return undefined;
    const svcChain = chainName('SHOAL-SVC-', svcKey);
    const rules: string[] = svc.accounting ? [`-j CONNMARK --set-xmark ${ACCOUNT_MARK}/${ACCOUNT_MARK}`] : [];
    usable.forEach(([b, ip], i) => {
      const pick = i === usable.length - 1 ? '' : `-m statistic --mode random --probability ${spreadProbability(i, usable.length)} `;
      if (b.nodeId === ctx.nodeId) return void rules.push(dnat(pick, ip));
      const sep = chainName('SHOAL-SEP-', `${svcKey}/${b.taskId}/${ip}`);
      rules.push(`${pick}-j ${sep}`);
      seps.push([sep, [`-j ${CHAIN.markMasq}`, dnat('', ip)]]);
    });
    out.chains.push([svcChain, rules]);
    return svcChain;
  };

  if (svc.mode === 'vip') {
    for (const networkId of Object.keys(svc.vips).sort()) {
      const vip = svc.vips[networkId];
      const key = `vip/${svc.serviceId}/${networkId}`;
      const svcChain = spread(key, networkId, (pick, ip) => `${pick}-j DNAT --to-destination ${ip}`);
      if (svcChain) {
        out.vipRules.push(`-d ${vip}/32 -j ${svcChain}`);
        if (svc.accounting) out.accountVip.push(...accountRules(svcChain, `--ctorigdst ${vip}`));
        out.entryPoints.push({ svcChain, serviceId: svc.serviceId, serviceName: svc.serviceName, entry: 'vip', port: 'any', protocol: 'any' });
        for (const b of svc.backends) {
          const ip = b.addrs[networkId];
          if (ip) out.udpFlows.push([`${key}/${ip}`, ['-p', 'udp', '--orig-dst', vip, '--reply-src', ip]]);
        }
      } else {
        out.rejects.push(`-d ${vip}/32 ${comment(`${svc.serviceName} has no running task`)} -j REJECT --reject-with icmp-port-unreachable`);
      }
    }
  } else if (Object.keys(svc.vips).length) {
    out.notes.push(`${svc.serviceName}: endpoint mode dnsrr has no VIP rules`);
  }
  for (const port of svc.ports) ingressPort(port);
  out.chains.push(...seps);
  return out;

  function ingressPort(port: EndpointPort): void {
    const what = `${svc.serviceName} ${port.publishedPort}/${port.protocol}`;
    const host = port.publishMode === 'host';
    if (svc.mode === 'dnsrr' && !host) return void out.notes.push(`${what}: ingress publishing is refused with dnsrr`);
    if (!ctx.ingressNetworkId) return void out.notes.push(`${what}: no ingress network`);
    if (port.hostIP && !ctx.addresses.includes(port.hostIP)) out.notes.push(`${what}: host_ip ${port.hostIP} is not an address of this node`);
    const match = `${port.hostIP ? `-d ${port.hostIP}/32 ` : ''}-p ${port.protocol} -m ${port.protocol} --dport ${port.publishedPort}`;
    const key = `${host ? 'host' : 'ingress'}/${svc.serviceId}/${port.protocol}/${port.hostIP ?? ''}/${port.publishedPort}`;
    const netId = ctx.ingressNetworkId;
    // iptables-save's order: the protocol first, then the matches in the order given.
    const dnat = (pick: string, ip: string) => `-p ${port.protocol} ${pick}-j DNAT --to-destination ${ip}:${port.targetPort}`;
    const svcChain = spread(key, netId, dnat, host);
    // mode=host: only this node's tasks, and a node without one leaves the port closed (no reject: it is not ours).
    if (host && !svcChain) return;
    if (svcChain) {
      (port.hostIP ? out.ingressBound : out.ingressAny).push(`${match} -j ${svcChain}`);
      if (svc.accounting) out.accountPorts.push(...accountRules(svcChain, `--ctproto ${PROTO_NUMBER[port.protocol]} ${port.hostIP ? `--ctorigdst ${port.hostIP} ` : ''}--ctorigdstport ${port.publishedPort}`));
      out.entryPoints.push({ svcChain, serviceId: svc.serviceId, serviceName: svc.serviceName, entry: host ? 'host' : 'ingress', port: String(port.publishedPort), protocol: port.protocol });
      if (port.protocol === 'udp') {
        for (const b of svc.backends) {
          const ip = b.addrs[netId];
          if (ip) out.udpFlows.push([`${key}/${ip}`, ['-p', 'udp', '--orig-port-dst', String(port.publishedPort), '--reply-src', ip, '--reply-port-src', String(port.targetPort)]]);
        }
      }
    } else {
      const reset = port.protocol === 'tcp' ? 'tcp-reset' : 'icmp-port-unreachable';
      out.rejects.push(`${match} -m addrtype --dst-type LOCAL ${comment(`${what} has no running task`)} -j REJECT --reject-with ${reset}`);
    }
  }
}

/** Joins the services' plans (in serviceId order) with the chains every node has into the model. */
export function assemble(plans: ServicePlan[], table: EndpointTable, node: NodeContext): RulesModel {
  const bridge = node.bridgeName ?? defaultBridgeName;
  const nat: ChainRules = new Map();
  const filter: ChainRules = new Map();
  const notes: string[] = [];
  const udpFlows = new Map<string, string[]>();
  const vipRules: string[] = [];
  const ingressBound: string[] = [];
  const ingressAny: string[] = [];
  const rejects: string[] = [];
  const accountVip: string[] = [];
  const accountPorts: string[] = [];
  const entryPoints: EntryPoint[] = [];
  for (const p of plans) {
    vipRules.push(...p.vipRules);
    accountVip.push(...p.accountVip);
    accountPorts.push(...p.accountPorts);
    ingressBound.push(...p.ingressBound);
    ingressAny.push(...p.ingressAny);
    rejects.push(...p.rejects);
    notes.push(...p.notes);
    entryPoints.push(...p.entryPoints);
    for (const [k, f] of p.udpFlows) udpFlows.set(k, f);
  }

  // nat: dispatch, then one chain per service entry point (and per remote backend).
  const notIngress = (node.notIngress ?? []).map((a) => `-d ${a}/32 -j RETURN`);
  nat.set(CHAIN.services, [...vipRules, ...notIngress, `! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j ${CHAIN.ingress}`]);
  // host_ip-bound ports first, so a bound port wins over a wildcard one of the same number.
  nat.set(CHAIN.ingress, [...ingressBound, ...ingressAny]);
  nat.set(CHAIN.markMasq, [`-j MARK --set-xmark ${MASQ_MARK}/${MASQ_MARK}`]);
  const post = [`-m mark --mark ${MASQ_MARK}/${MASQ_MARK} -j MASQUERADE`];
  const forward: string[] = [];
  for (const networkId of Object.keys(table.networks).sort()) {
    const br = bridge(networkId);
    post.push(`-s ${table.networks[networkId].subnet} -o ${br} -m conntrack --ctstate DNAT -j MASQUERADE`);
    // From tasks (egress, and task to task across the bridge when br_netfilter is on); to tasks only what is a
    // reply or what our DNAT chose, so the mesh does not open every task port to the world.
    forward.push(`-i ${br} -j ACCEPT`, `-o ${br} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`, `-o ${br} -m conntrack --ctstate DNAT -j ACCEPT`);
  }
  nat.set(CHAIN.postrouting, post);
  for (const p of plans) for (const [name, rules] of p.chains) nat.set(name, rules);

  filter.set(CHAIN.services, rejects);
  filter.set(CHAIN.account, [...accountVip, ...accountPorts]);
  filter.set(CHAIN.forward, forward);

  const isNew = '-m conntrack --ctstate NEW';
  const accounted = `-m connmark --mark ${ACCOUNT_MARK}/${ACCOUNT_MARK}`;
  const jumps: Jump[] = [
    { table: 'nat', chain: 'PREROUTING', spec: `-j ${CHAIN.services}` },
    { table: 'nat', chain: 'OUTPUT', spec: `-j ${CHAIN.services}` },
    { table: 'nat', chain: 'POSTROUTING', spec: `-j ${CHAIN.postrouting}` },
    { table: 'filter', chain: 'FORWARD', spec: `-j ${CHAIN.user}` },
    { table: 'filter', chain: 'FORWARD', spec: `${isNew} -j ${CHAIN.services}` },
    { table: 'filter', chain: 'FORWARD', spec: `${accounted} -j ${CHAIN.account}` },
    { table: 'filter', chain: 'FORWARD', spec: `-j ${CHAIN.forward}` },
    { table: 'filter', chain: 'INPUT', spec: `${isNew} -j ${CHAIN.services}` },
    { table: 'filter', chain: 'INPUT', spec: `${accounted} -j ${CHAIN.account}` },
    { table: 'filter', chain: 'OUTPUT', spec: `${isNew} -j ${CHAIN.services}` },
    { table: 'filter', chain: 'OUTPUT', spec: `${accounted} -j ${CHAIN.account}` },
  ];
  // DNAT to a bridge is forwarding; and a router that sends ICMP redirects for DNATed hairpin traffic teaches
  // the task to send VIP traffic straight to a backend, which drops it.
  const sysctls = { 'net.ipv4.ip_forward': '1', 'net.ipv4.conf.all.send_redirects': '0', 'net.ipv4.conf.default.send_redirects': '0' };
  return { tables: { nat, filter }, jumps, sysctls, udpFlows, notes, entryPoints };
}

/** The two counting rules of one entry point: what clients sent (original direction) and what they got back. */
function accountRules(svcChain: string, match: string): string[] {
  return (['ORIGINAL', 'REPLY'] as const).map((dir) => `-m conntrack ${match} --ctdir ${dir} -m comment --comment "${svcChain} ${dir === 'ORIGINAL' ? 'in' : 'out'}" -j RETURN`);
}

function comment(text: string): string {
  return `-m comment --comment "${text.replace(/["\\]/g, '')}"`;
}
