/**
 * Every service VIP as a /32 on this node's loopback, labelled `lo:shoal` so a restarted swarmd finds its own.
 * That is all a task needs to reach a VIP: the VIP is in the task's subnet, so the task ARPs for it on its bridge,
 * and Linux answers ARP for any address the node owns (arp_ignore=0); the packet then arrives at the node, where
 * the iptables mesh DNATs it or the userspace mesh, listening on VIP:port, takes it. No per-task state, no rule
 * inside task namespaces, and binding works before any bridge exists. (Docker puts the VIP inside every container
 * and balances with IPVS there; this kernel has no IPVS.)
 */
import type { Component } from '../control/base/component';
import { exec as defaultExec, type Exec } from '../control/base/exec';
import type { Logger } from '../control/base/log';
import type { EndpointSink, EndpointTable } from '../mesh/endpoint-table';

export const VIP_LABEL = 'lo:shoal';

/** The VIPs a table wants on the node: every VIP of every vip-mode service. */
export function wantedVips(table: EndpointTable): Set<string> {
  const out = new Set<string>();
  for (const s of table.services) if (s.mode === 'vip') for (const vip of Object.values(s.vips)) out.add(vip);
  return out;
}

/** `ip -batch` lines turning `have` into `want`. */
export function vipBatch(have: ReadonlySet<string>, want: ReadonlySet<string>): string[] {
  const lines: string[] = [];
  for (const vip of have) if (!want.has(vip)) lines.push(`addr del ${vip}/32 dev lo`);
  for (const vip of want) if (!have.has(vip)) lines.push(`addr replace ${vip}/32 dev lo label ${VIP_LABEL}`);
  return lines;
}

/** Addresses in `ip -o -4 addr show dev lo label lo:shoal` output. */
export function parseVips(text: string): Set<string> {
  const out = new Set<string>();
  for (const m of text.matchAll(/\binet (\d+\.\d+\.\d+\.\d+)\/32\b/g)) out.add(m[1]);
  return out;
}

export class VipAddresses implements Component, EndpointSink {
  readonly name = 'vip-addresses';
  private have = new Set<string>();
  private queue: Promise<void> = Promise.resolve();

  constructor(private readonly opts: { log: Logger; exec?: Exec }) {}

  private get exec(): Exec {
    return this.opts.exec ?? defaultExec;
  }

  /** Learns what is on lo (a previous run's VIPs too, so the first apply removes those of deleted services). */
  async start(): Promise<void> {
    const { stdout } = await this.exec(['ip', '-o', '-4', 'addr', 'show', 'dev', 'lo', 'label', VIP_LABEL]);
    this.have = parseVips(stdout);
  }

  apply(table: EndpointTable): Promise<void> {
    const want = wantedVips(table);
    this.queue = this.queue.then(() => this.converge(want)).catch((e) => this.opts.log.error('programming service VIPs failed', { err: e }));
    return this.queue;
  }

  settled(): Promise<void> {
    return this.queue;
  }

  async stop(): Promise<void> {
    await this.queue;
    await this.converge(new Set()).catch((e) => this.opts.log.warn('removing service VIPs failed', { err: e }));
  }

  private async converge(want: Set<string>): Promise<void> {
    const lines = vipBatch(this.have, want);
    if (!lines.length) return;
    // -force: one address already gone (removed by hand) must not stop the rest of the batch.
    try {
      await this.exec(['ip', '-force', '-batch', '-'], { input: lines.join('\n') + '\n' });
    } finally {
      // Read back rather than assume: after a partial failure the next apply then does exactly what is left.
      await this.start();
    }
  }
}
