/**
 * A NetworkPlumber that plumbs nothing and remembers every call, for executor tests that should not need the
 * kernel's bridges. Like the real one it refuses what the kernel would: attaching to a namespace path that does
 * not exist (a container that already exited, a wrong PID) fails.
 */
import { existsSync } from 'node:fs';
import type { LocalNetwork, NetworkPlumber, TaskInterface } from '../../overlay/network-plumber';

export type PlumberCall =
  | { op: 'ensureNetwork'; net: LocalNetwork }
  | { op: 'removeNetwork'; networkId: string }
  | { op: 'attach'; taskId: string; netnsPath: string; ifaces: TaskInterface[] }
  | { op: 'detach'; taskId: string };

export class RecordingPlumber implements NetworkPlumber {
  readonly calls: PlumberCall[] = [];

  async ensureNetwork(net: LocalNetwork): Promise<void> {
    this.calls.push({ op: 'ensureNetwork', net });
  }

  async removeNetwork(networkId: string): Promise<void> {
    this.calls.push({ op: 'removeNetwork', networkId });
  }

  async attach(taskId: string, netnsPath: string, ifaces: TaskInterface[]): Promise<void> {
    if (!existsSync(netnsPath)) throw new Error(`no network namespace at ${netnsPath}`);
    this.calls.push({ op: 'attach', taskId, netnsPath, ifaces });
  }

  async detach(taskId: string): Promise<void> {
    this.calls.push({ op: 'detach', taskId });
  }

  /** The calls of one kind, in order. */
  of<K extends PlumberCall['op']>(op: K): Extract<PlumberCall, { op: K }>[] {
    return this.calls.filter((c): c is Extract<PlumberCall, { op: K }> => c.op === op);
  }
}
