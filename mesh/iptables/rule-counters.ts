/**
 * Per-service traffic from the kernel's own rule counters: `iptables -S CHAIN -v` prints `-c PACKETS BYTES` in
 * each rule (`iptables-save -c`, `[packets:bytes]` before it; both are read), and each of our service entry points is exactly one rule in a dispatch chain (SHOAL-SERVICES
 * for a VIP, SHOAL-INGRESS for a published port) jumping to that entry point's own SHOAL-SVC chain. So the
 * counters of the rule that jumps to a SVC chain are that entry point's. The nat table sees only the first packet
 * of each connection (later ones follow conntrack), so these counters count connections (UDP: flows), not
 * traffic volume. Volume is counted only for services that opt in (shoal.mesh.accounting=bytes): their entry
 * points have two RETURN rules in the filter chain SHOAL-ACCOUNT, commented "SVC-CHAIN in" (what clients sent)
 * and "SVC-CHAIN out" (what they got back), whose byte counters are that volume (IP packets, headers included).
 * Reading them is pure parsing here; the mesh execs once per chain per scrape.
 */
import { CHAIN } from './plan';

/** One service entry point the planner wrote: the SHOAL-SVC chain its dispatch rule jumps to, and its labels. */
export interface EntryPoint {
  svcChain: string;
  serviceId: string;
  serviceName: string;
  /** ingress: routing-mesh published port; host: mode=host published port; vip: the service's virtual IP. */
  entry: 'ingress' | 'host' | 'vip';
  /** The published port, or 'any' for a VIP (its rule matches every port). */
  port: string;
  protocol: 'tcp' | 'udp' | 'sctp' | 'any';
}

export interface EntryPointCount extends Omit<EntryPoint, 'svcChain'> {
  /** Connections (UDP: flows) that took this entry point since its rule was written. */
  connections: number;
  /** Bytes clients sent / received through it, for an accounted service (absent otherwise). */
  bytesIn?: number;
  bytesOut?: number;
}

/** Bytes per SVC chain from SHOAL-ACCOUNT's rules, by direction (see the file comment). */
export function parseAccountCounters(text: string): Map<string, { in: number; out: number }> {
  const out = new Map<string, { in: number; out: number }>();
  for (const line of text.split('\n')) {
    const m = /--comment "?(SHOAL-SVC-[A-Z2-7]+) (in|out)"? -c \d+ (\d+) -j RETURN$/.exec(line);
    if (!m || !line.startsWith(`-A ${CHAIN.account} `)) continue;
    const row = out.get(m[1]) ?? { in: 0, out: 0 };
    row[m[2] as 'in' | 'out'] += Number(m[3]);
    out.set(m[1], row);
  }
  return out;
}

/** The chains holding the dispatch rules: the only ones the counter reader lists. */
export const DISPATCH_CHAINS: readonly string[] = [CHAIN.services, CHAIN.ingress];

/** The counters of every dispatch rule, by the SVC chain it jumps to (summed, should one chain be named twice). */
export function parseDispatchCounters(text: string): Map<string, number> {
  const out = new Map<string, number>();
  const dispatch = new Set(DISPATCH_CHAINS);
  for (const line of text.split('\n')) {
    const saved = /^\[(\d+):\d+\] -A (\S+) .*-j (SHOAL-SVC-[A-Z2-7]+)$/.exec(line);
    const listed = saved ? null : /^-A (\S+) .* -c (\d+) \d+ -j (SHOAL-SVC-[A-Z2-7]+)$/.exec(line);
    const [chain, packets, svc] = saved ? [saved[2], saved[1], saved[3]] : listed ? [listed[1], listed[2], listed[3]] : [];
    if (!chain || !dispatch.has(chain)) continue;
    out.set(svc!, (out.get(svc!) ?? 0) + Number(packets));
  }
  return out;
}

/**
 * Entry points with their connection counts, entry points of one service and label set summed (a VIP on two
 * networks is one series). An entry point whose rule the kernel lacks (between a plan and its sync) counts 0.
 */
export function countEntryPoints(entryPoints: readonly EntryPoint[], counters: Map<string, number>, bytes: Map<string, { in: number; out: number }> = new Map()): EntryPointCount[] {
  const rows = new Map<string, EntryPointCount>();
  for (const { svcChain, ...labels } of entryPoints) {
    const key = `${labels.serviceId}/${labels.entry}/${labels.protocol}/${labels.port}`;
    const row = rows.get(key) ?? { ...labels, connections: 0 };
    row.connections += counters.get(svcChain) ?? 0;
    const b = bytes.get(svcChain);
    if (b) {
      row.bytesIn = (row.bytesIn ?? 0) + b.in;
      row.bytesOut = (row.bytesOut ?? 0) + b.out;
    }
    rows.set(key, row);
  }
  return [...rows.values()];
}
