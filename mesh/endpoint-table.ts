/**
 * The endpoint model both mesh backends (and later the DNS server) read: per service its virtual IPs, its ports
 * and its backends — the tasks that run now, with their addresses on each network and their node. It is plain
 * data, rebuilt by the control side and handed over whole; the data plane never reads the store.
 */

export interface EndpointPort {
  /** The port's name, when declared (SRV records use it). */
  name?: string;
  protocol: 'tcp' | 'udp' | 'sctp';
  targetPort: number;
  publishedPort: number;
  publishMode: 'ingress' | 'host';
  /** Bind the published port to this node address only (Shoal extension); all addresses when absent. */
  hostIP?: string;
}

export interface EndpointBackend {
  taskId: string;
  /** Docker's task name: SERVICE.SLOT.TASKID (replicated) or SERVICE.NODEID.TASKID (global). */
  name: string;
  nodeId: string;
  /** Plain IPs (no prefix) by network ID. */
  addrs: Record<string, string>;
}

/**
 * How a service's connections are spread over its backends, chosen by the service label `shoal.mesh.balance`
 * (a label rather than a spec field, so Docker's API and CLI carry it unchanged).
 */
export const BALANCE_LABEL = 'shoal.mesh.balance';
/**
 * `shoal.mesh.accounting=bytes` asks the iptables mesh to count the service's traffic volume too (its
 * connections are always counted). Opt-in because bytes can only be counted per packet: each such entry point
 * adds two rules that every packet the mesh forwards may pass (see mesh/iptables/plan.ts). The userspace mesh
 * counts bytes for every service anyway.
 */
export const ACCOUNTING_LABEL = 'shoal.mesh.accounting';
export const ACCOUNTING_VALUES = ['bytes'] as const;
export const BALANCE_STRATEGIES = ['round-robin', 'least-connections'] as const;
export type Balance = (typeof BALANCE_STRATEGIES)[number];

export interface ServiceEndpoint {
  serviceId: string;
  serviceName: string;
  mode: 'vip' | 'dnsrr';
  /** Backend choice for new connections and flows (the service's label; buildEndpointTable always sets it). Absent: round-robin. */
  balance?: Balance;
  /** Count bytes per entry point in the iptables mesh (the label above). */
  accounting?: boolean;
  /** Plain VIPs by network ID. */
  vips: Record<string, string>;
  /** Extra DNS names of the service per network ID (TaskTemplate.Networks[].Aliases). */
  aliases: Record<string, string[]>;
  ports: EndpointPort[];
  backends: EndpointBackend[];
}

export interface EndpointTable {
  /** The ingress network's ID, whose addresses published ports reach tasks by. */
  ingressNetworkId?: string;
  /** Every network by ID: name and subnet (DNS scoping and PTR zones). */
  networks: Record<string, { name: string; subnet: string }>;
  services: ServiceEndpoint[];
}

/** Whatever consumes endpoint tables (a mesh backend, the DNS server). */
export interface EndpointSink {
  /**
   * Called with the whole table after every change; implementations diff against what they have. Tables are
   * never changed after they are handed over, and a service that did not change is the same ServiceEndpoint
   * object as in the previous table (control/endpoints/endpoint-table-builder.ts), so a sink may skip it by
   * identity.
   */
  apply(table: EndpointTable): void | Promise<void>;
  /** Resolves once every table handed to apply() is in force (rules in the kernel, listeners open). */
  settled?(): Promise<void>;
}
