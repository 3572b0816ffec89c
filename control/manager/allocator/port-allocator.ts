/**
 * Cluster-wide published ports of the routing mesh (PublishMode "ingress"): each (protocol, port) belongs to
 * at most one service, because every node listens on it. A fixed port is reserved for its service or refused
 * with swarmkit's message naming the owner; PublishedPort 0 gets a dynamic port from 30000–32767, walking a
 * cursor so a port a deleted service just gave up is not handed straight to another (clients may still be
 * connecting to it). Host-mode ports are not here: they conflict per node, which the scheduler checks.
 * State is the owner of each port plus the cursors; the allocator rebuilds it at start by reserving the ports
 * stored in every service's Endpoint.
 */
import { invalidArgument, ShoalError } from '../../base/errors';

export type PortProtocol = 'tcp' | 'udp' | 'sctp';

/** The service a port belongs to, for conflict messages and for releasing everything a service held. */
export interface PortOwner {
  id: string;
  name: string;
}

export interface PortAllocatorOptions {
  dynamicStart?: number;
  dynamicEnd?: number;
}

export const DYNAMIC_PORT_START = 30000;
export const DYNAMIC_PORT_END = 32767;

export interface PublishedPort {
  protocol: PortProtocol;
  port: number;
  owner: PortOwner;
}

export class PortAllocator {
  readonly dynamicStart: number;
  readonly dynamicEnd: number;
  private readonly owners = new Map<PortProtocol, Map<number, PortOwner>>();
  private readonly cursors = new Map<PortProtocol, number>();

  constructor(options: PortAllocatorOptions = {}) {
    this.dynamicStart = options.dynamicStart ?? DYNAMIC_PORT_START;
    this.dynamicEnd = options.dynamicEnd ?? DYNAMIC_PORT_END;
    if (!validPort(this.dynamicStart) || !validPort(this.dynamicEnd) || this.dynamicStart > this.dynamicEnd) {
      throw invalidArgument('dynamicPorts', `invalid dynamic port range ${this.dynamicStart}-${this.dynamicEnd}: need 1 <= start <= end <= 65535`);
    }
  }

  /** Gives the owner the next free dynamic port for the protocol. */
  allocate(protocol: PortProtocol, owner: PortOwner): number {
    const ports = this.table(protocol);
    const span = this.dynamicEnd - this.dynamicStart + 1;
    const from = this.cursors.get(protocol) ?? this.dynamicStart;
    for (let i = 0; i < span; i++) {
      const port = this.dynamicStart + ((from - this.dynamicStart + i) % span);
      if (ports.has(port)) continue;
      ports.set(port, owner);
      this.advance(protocol, port);
      return port;
    }
    throw new ShoalError(
      'failed-precondition',
      `no free port in ${this.dynamicStart}-${this.dynamicEnd} for ${protocol} (service '${owner.name}'): ` +
        'every dynamic port is published; remove unused services or publish fixed ports',
    );
  }

  /**
   * Gives a specific port to the owner. Reserving a port the same service already holds is a no-op, so a
   * service update can re-reserve its whole port list; another owner's port is refused with swarmkit's text.
   */
  reserve(protocol: PortProtocol, port: number, owner: PortOwner): void {
    if (!validPort(port)) {
      throw invalidArgument('EndpointSpec.Ports', `invalid published port ${port}: must be 1-65535 (0 asks for a dynamic one)`);
    }
    const ports = this.table(protocol);
    const holder = ports.get(port);
    if (holder !== undefined) {
      if (holder.id === owner.id) return;
      throw invalidArgument(
        'EndpointSpec.Ports',
        `port '${port}' is already in use by service '${holder.name}' (${holder.id}) as an ingress port`,
      );
    }
    ports.set(port, owner);
    // Rebuilding at start: continue above the highest dynamic port in use rather than refill freed ones.
    const cursor = this.cursors.get(protocol) ?? this.dynamicStart;
    if (port >= cursor && port <= this.dynamicEnd) this.advance(protocol, port);
  }

  /** Frees a port; false when it was not in use. */
  release(protocol: PortProtocol, port: number): boolean {
    return this.table(protocol).delete(port);
  }

  /** Frees every port the service holds (service removed); returns how many. */
  releaseOwner(ownerId: string): number {
    let n = 0;
    for (const ports of this.owners.values()) {
      for (const [port, owner] of ports) if (owner.id === ownerId && ports.delete(port)) n++;
    }
    return n;
  }

  ownerOf(protocol: PortProtocol, port: number): PortOwner | undefined {
    return this.owners.get(protocol)?.get(port);
  }

  /** Every published port, by protocol then number (the serialisable state, with the owners). */
  inUse(): PublishedPort[] {
    const out: PublishedPort[] = [];
    for (const protocol of ['tcp', 'udp', 'sctp'] as PortProtocol[]) {
      const ports = this.owners.get(protocol);
      if (!ports) continue;
      for (const port of [...ports.keys()].sort((a, b) => a - b)) out.push({ protocol, port, owner: ports.get(port)! });
    }
    return out;
  }

  private table(protocol: PortProtocol): Map<number, PortOwner> {
    let t = this.owners.get(protocol);
    if (t === undefined) {
      if (protocol !== 'tcp' && protocol !== 'udp' && protocol !== 'sctp') {
        throw invalidArgument('EndpointSpec.Ports.Protocol', `invalid protocol ${JSON.stringify(protocol)}: use tcp, udp or sctp`);
      }
      t = new Map();
      this.owners.set(protocol, t);
    }
    return t;
  }

  private advance(protocol: PortProtocol, port: number): void {
    this.cursors.set(protocol, port >= this.dynamicEnd ? this.dynamicStart : port + 1);
  }
}

function validPort(n: number): boolean {
  return Number.isInteger(n) && n >= 1 && n <= 65535;
}
