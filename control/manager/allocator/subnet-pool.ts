/**
 * The cluster's address space for overlay networks: Docker's default-addr-pool (10.0.0.0/8) cut into
 * fixed-size subnets (/24). A network created without a subnet gets the lowest free one; a user-given subnet is
 * reserved as is, anywhere, as long as it overlaps nothing already handed out — two overlays sharing addresses
 * would route each other's traffic. State is just the list of subnets in use, so the allocator component
 * rebuilds it at start by reserving every stored network's subnet.
 */
import { conflict, invalidArgument, ShoalError } from '../../base/errors';
import { Cidr, formatCidr, lastOf, overlaps, parseCidr, sizeOf } from './ipv4';

export const DEFAULT_ADDRESS_POOL = '10.0.0.0/8';
export const DEFAULT_SUBNET_SIZE = 24;
/** Subnets smaller than /30 have no address left for a task after network, gateway and broadcast. */
const MAX_SUBNET_SIZE = 30;

export interface SubnetPoolOptions {
  /** Address pools to cut subnets from, in order of preference (Docker's --default-addr-pool). */
  pools?: string[];
  /** Prefix length of automatically allocated subnets (Docker's --default-addr-pool-mask-length). */
  subnetSize?: number;
}

export class SubnetPool {
  private readonly pools: Cidr[];
  readonly subnetSize: number;
  /** Subnets in use, sorted by base address; allocation walks this list to find the first gap. */
  private used: Cidr[] = [];

  constructor(options: SubnetPoolOptions = {}) {
    const texts = options.pools ?? [DEFAULT_ADDRESS_POOL];
    this.subnetSize = options.subnetSize ?? DEFAULT_SUBNET_SIZE;
    if (texts.length === 0) throw invalidArgument('DefaultAddrPool', 'at least one default address pool is needed');
    this.pools = texts.map((t) => {
      const c = parseCidr(t);
      if (c === undefined) throw invalidArgument('DefaultAddrPool', `invalid address pool ${t}: use IPv4 CIDR notation like 10.0.0.0/8`);
      return c;
    });
    const widest = Math.max(...this.pools.map((p) => p.prefix));
    if (!Number.isInteger(this.subnetSize) || this.subnetSize < widest || this.subnetSize > MAX_SUBNET_SIZE) {
      throw invalidArgument(
        'SubnetSize',
        `invalid subnet size ${this.subnetSize}: must be between /${widest} (the smallest pool) and /${MAX_SUBNET_SIZE}`,
      );
    }
  }

  /** Hands out the lowest free subnet of the configured size, trying pools in order. */
  allocate(): string {
    const size = sizeOf(this.subnetSize);
    for (const pool of this.pools) {
      let candidate = pool.base;
      for (const u of this.used) {
        if (lastOf(u) < candidate) continue;
        if (u.base > candidate + size - 1) break; // a gap big enough before this one
        // Skip past the used block, staying aligned to the subnet size.
        candidate = Math.ceil((lastOf(u) + 1) / size) * size;
      }
      if (candidate + size - 1 <= lastOf(pool)) {
        const subnet = { base: candidate, prefix: this.subnetSize };
        this.insert(subnet);
        return formatCidr(subnet);
      }
    }
    throw new ShoalError(
      'failed-precondition',
      'could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network ' +
        `(every /${this.subnetSize} of ${this.pools.map(formatCidr).join(', ')} is in use; remove unused networks or give a Subnet)`,
    );
  }

  /** Marks a given subnet as used: a user's choice at network create, or a stored network at start. */
  reserve(cidr: string): void {
    const subnet = parseStrict(cidr);
    const clash = this.used.find((u) => overlaps(u, subnet));
    if (clash !== undefined) {
      throw conflict(
        `invalid pool request: Pool overlaps with other one on this address space (${cidr} overlaps ${formatCidr(clash)}, already in use)`,
      );
    }
    this.insert(subnet);
  }

  /** Frees a subnet; false when it was not in use (releasing twice is harmless). */
  release(cidr: string): boolean {
    const subnet = parseCidr(cidr);
    if (subnet === undefined) return false;
    const i = this.used.findIndex((u) => u.base === subnet.base && u.prefix === subnet.prefix);
    if (i < 0) return false;
    this.used.splice(i, 1);
    return true;
  }

  isAllocated(cidr: string): boolean {
    const subnet = parseCidr(cidr);
    return subnet !== undefined && this.used.some((u) => u.base === subnet.base && u.prefix === subnet.prefix);
  }

  /** The subnets in use, lowest first (the whole serialisable state). */
  allocated(): string[] {
    return this.used.map(formatCidr);
  }

  private insert(subnet: Cidr): void {
    const at = this.used.findIndex((u) => u.base > subnet.base);
    this.used.splice(at < 0 ? this.used.length : at, 0, subnet);
  }
}

function parseStrict(cidr: string): Cidr {
  const subnet = parseCidr(cidr);
  if (subnet === undefined) throw invalidArgument('IPAM.Config.Subnet', `invalid subnet ${cidr}: use IPv4 CIDR notation like 10.1.2.0/24`);
  return subnet;
}
