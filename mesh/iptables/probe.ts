/**
 * Whether this node can run the iptables mesh: the binaries are there and the nat table answers (a kernel
 * without nf_tables/ip_tables NAT, or a container without CAP_NET_ADMIN, fails here). swarmd's default mesh
 * follows the answer, and says why in its log.
 */
import { commandExists, exec as defaultExec, type Exec } from '../../control/base/exec';
import { errorMessage } from '../../control/base/errors';

export type IptablesProbe = { usable: true; detail: string } | { usable: false; reason: string };

export async function probeIptables(exec: Exec = defaultExec): Promise<IptablesProbe> {
  for (const bin of ['iptables', 'iptables-save', 'iptables-restore']) {
    if (!(await commandExists(bin))) return { usable: false, reason: `${bin} is not installed (apt-get install iptables)` };
  }
  try {
    await exec(['iptables', '-w', '5', '-t', 'nat', '-S', 'PREROUTING']);
    const { stdout } = await exec(['iptables', '--version']);
    return { usable: true, detail: stdout.trim() };
  } catch (e) {
    return { usable: false, reason: `the nat table does not answer: ${errorMessage(e)}` };
  }
}
