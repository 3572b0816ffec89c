/**
 * The node-local side of swarm networks: what an executor calls to give a task its interfaces. Each network is
 * a Linux bridge on this node (the overlay issue later adds a VXLAN device to the same bridge); each task gets
 * one veth per attached network, moved into its namespace, with its allocated address and, on the first network,
 * a default route through the network's gateway.
 */

export interface LocalNetwork {
  /** The swarm network ID. */
  id: string;
  name: string;
  /** e.g. "10.0.1.0/24" */
  subnet: string;
  /** e.g. "10.0.1.1": the bridge's own address on this node. */
  gateway: string;
  /** VXLAN network identifier (used by the overlay later). */
  vni?: number;
}

export interface TaskInterface {
  network: LocalNetwork;
  /** The task's address on that network, in CIDR form ("10.0.1.5/24"). */
  address: string;
}

export interface NetworkPlumber {
  /** Creates the network's bridge if missing (idempotent). */
  ensureNetwork(net: LocalNetwork): Promise<void>;
  /** Deletes the bridge (and anything the plumber made for it). Idempotent. */
  removeNetwork(networkId: string): Promise<void>;
  /**
   * Gives the namespace at netnsPath (e.g. /run/netns/NAME or /proc/PID/ns/net) one interface per entry
   * (eth0, eth1, ... in order), addresses them, brings them up, and routes by default through the first
   * network's gateway. Idempotent for a namespace that already has them.
   */
  attach(taskId: string, netnsPath: string, ifaces: TaskInterface[]): Promise<void>;
  /** Deletes the host side of the task's veths (the namespace side goes with the namespace). Idempotent. */
  detach(taskId: string): Promise<void>;
}
