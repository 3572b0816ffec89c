/**
 * `swarmd --cleanup`: removes what a swarmd that is no longer running left in the node's network stack — the
 * mesh's iptables chains and jumps (never anyone else's, nor a SHOAL-USER chain the user filled), the service
 * VIPs on lo, the resolver's address. Tasks and their bridges are left alone: they belong to the swarm, and the
 * next swarmd adopts them (`swarm leave` removes those).
 */
import { exec as defaultExec, type Exec } from './base/exec';
import type { Logger } from './base/log';
import { IptablesApplier } from '../mesh/iptables/applier';
import { renderCleanup } from '../mesh/iptables/render';
import { probeIptables } from '../mesh/iptables/probe';
import { VipAddresses } from '../overlay/vip-addresses';
import { removeDnsAddress } from '../overlay/dns-address';

export async function cleanupNode(opts: { log: Logger; dnsAddress?: string; exec?: Exec }): Promise<void> {
  const exec = opts.exec ?? defaultExec;
  const probe = await probeIptables(exec);
  if (probe.usable) {
    const applier = new IptablesApplier({ exec });
    const text = renderCleanup(await applier.readKernel());
    await applier.restore(text);
    opts.log.info(text ? 'removed the mesh iptables chains' : 'no mesh iptables chains found');
  } else {
    opts.log.info('iptables not usable here; no rules to remove', { reason: probe.reason });
  }
  const vips = new VipAddresses({ log: opts.log, exec });
  await vips.start();
  await vips.stop();
  if (opts.dnsAddress) await removeDnsAddress(opts.dnsAddress, exec);
  opts.log.info('cleanup done');
}
