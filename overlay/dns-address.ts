/**
 * The node address the embedded DNS resolver answers on: a /32 on the node's loopback device, so it exists before
 * any network bridge does and every task reaches it through its default route — the node owns the address, and
 * the packet keeps the task's own source IP, which is how the resolver scopes its answers. (Docker uses
 * 127.0.0.11 inside each container instead, which needs NAT rules in every namespace; this kernel may also lack
 * the dummy link type, so loopback it is.)
 */
import { exec as defaultExec, ExecError, type Exec } from '../control/base/exec';

export const DEFAULT_DNS_ADDRESS = '169.254.53.53';

/** Adds the address to lo (replacing it if present). Idempotent. */
export async function ensureDnsAddress(address: string, exec: Exec = defaultExec): Promise<void> {
  await exec(['ip', 'addr', 'replace', `${address}/32`, 'dev', 'lo']);
}

/** Removes the address from lo. Idempotent. */
export async function removeDnsAddress(address: string, exec: Exec = defaultExec): Promise<void> {
  try {
    await exec(['ip', 'addr', 'del', `${address}/32`, 'dev', 'lo']);
  } catch (e) {
    if (!(e instanceof ExecError && /Cannot assign|not found|No such/i.test(e.stderr))) throw e;
  }
}
