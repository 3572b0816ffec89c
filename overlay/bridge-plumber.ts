/**
 * The bridge plumber: runs the plans of bridge-plan.ts with `ip`. It only decides what the kernel's answers mean
 * ("File exists" on a create = already done, "Cannot find device" on a delete = already gone), so every method is
 * idempotent and a restarted swarmd can re-run any of them over what the previous one left.
 */
import { exec as defaultExec, ExecError, type Exec } from '../control/base/exec';
import type { Logger } from '../control/base/log';
import type { LocalNetwork, NetworkPlumber, TaskInterface } from './network-plumber';
import {
  attachPlan,
  batchesOf,
  bridgeName,
  detachPlan,
  ensureNetworkPlan,
  parseNetnsPath,
  removeNetworkPlan,
  taskVethsIn,
  type PlannedCommand,
} from './bridge-plan';

export interface BridgePlumberOptions {
  exec?: Exec;
  log: Logger;
}

// Kernels answer an existing address with "File exists" or, since 5.x, "Address already assigned".
const EXISTS = /File exists|Address already assigned/;
const GONE = /Cannot find device|does not exist|No such device/;

export class BridgePlumber implements NetworkPlumber {
  private readonly exec: Exec;
  private readonly log: Logger;

  constructor(opts: BridgePlumberOptions) {
    this.exec = opts.exec ?? defaultExec;
    this.log = opts.log.child({ component: 'bridge-plumber' });
  }

  async ensureNetwork(net: LocalNetwork): Promise<void> {
    // Checked first so a steady-state call costs one read and never retries an address add.
    const exists = await this.linkExists(bridgeName(net.id));
    if (!exists) {
      this.log.info('creating network bridge', { network: net.id, bridge: bridgeName(net.id), subnet: net.subnet });
      await this.removeStaleBridges(net);
    }
    await this.run(ensureNetworkPlan(net, exists));
  }

  async removeNetwork(networkId: string): Promise<void> {
    await this.run(removeNetworkPlan(networkId), true);
  }

  async attach(taskId: string, netnsPath: string, ifaces: TaskInterface[]): Promise<void> {
    await this.run(attachPlan(taskId, parseNetnsPath(netnsPath), ifaces));
  }

  async detach(taskId: string): Promise<void> {
    const { stdout } = await this.exec(['ip', '-o', 'link', 'show', 'type', 'veth']);
    await this.run(detachPlan(taskVethsIn(stdout, taskId)), true);
  }

  /**
   * Our bridges that hold this network's gateway address under another name belong to a network that no longer
   * exists (a swarm left while a task was still being set up, a crash): two bridges with one subnet would split
   * the node's routes to it, so the stale one goes.
   */
  private async removeStaleBridges(net: LocalNetwork): Promise<void> {
    const { stdout } = await this.exec(['ip', '-o', '-4', 'addr', 'show', 'type', 'bridge']);
    for (const name of staleBridges(stdout, net)) {
      this.log.warn('removing a stale bridge that holds this network\'s subnet', { bridge: name, network: net.id, subnet: net.subnet });
      await this.run([{ argv: ['ip', 'link', 'del', name] }], true);
    }
  }

  private async linkExists(name: string): Promise<boolean> {
    try {
      await this.exec(['ip', 'link', 'show', 'dev', name]);
      return true;
    } catch (e) {
      if (e instanceof ExecError && GONE.test(e.stderr)) return false;
      throw e;
    }
  }

  /**
   * Runs a plan in order; stops at the first real failure (the ExecError names argv and stderr). The fast path
   * sends each run of consecutive `ip` commands for the same namespace as one `ip [-n NS] -batch -`, so a task's
   * attach costs ~3 execs instead of 7 per interface. A batch stops at its first error, whose meaning `ip -batch`
   * does not tell precisely; then the plan runs again command by command (every step is idempotent), which
   * decides "already exists" and "already gone" exactly as before.
   */
  private async run(plan: PlannedCommand[], tolerateGone = false): Promise<void> {
    const batches = plan.length > 1 ? batchesOf(plan) : undefined;
    if (batches) {
      try {
        for (const b of batches) await this.exec(b.argv, { input: b.input });
        return;
      } catch {
        /* fall back to one exec per command below */
      }
    }
    for (const cmd of plan) {
      try {
        await this.exec(cmd.argv);
      } catch (e) {
        if (e instanceof ExecError && cmd.exists && EXISTS.test(e.stderr)) continue;
        if (e instanceof ExecError && tolerateGone && GONE.test(e.stderr)) continue;
        throw e;
      }
    }
  }
}

/** Names of our bridges (shl*) in `ip -o -4 addr show type bridge` output that hold net's gateway, other than its own. */
export function staleBridges(ipAddrOutput: string, net: LocalNetwork): string[] {
  const own = bridgeName(net.id);
  const out = new Set<string>();
  for (const m of ipAddrOutput.matchAll(/^\d+:\s+(\S+)\s+inet\s+([\d.]+)\//gm)) {
    if (m[1].startsWith('shl') && m[1] !== own && m[2] === net.gateway) out.add(m[1]);
  }
  return [...out];
}
