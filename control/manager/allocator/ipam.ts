/**
 * Address management inside one overlay network: the gateway (first host address unless given), then task
 * addresses and service VIPs, all in CIDR form ("10.0.0.5/24") as Docker stores them. Allocation walks a
 * cursor forward and wraps, like libnetwork's serial bitmap, so a just-released address is the last to be
 * handed out again: a DNS answer or mesh rule still pointing at a dead task must not reach a new one.
 * State is the set of addresses in use plus the cursor; at start the allocator rebuilds it by reserving every
 * address found in stored tasks and services, and reserve() moves the cursor past what it marks, so the
 * rebuilt allocator carries on above the highest address in use instead of refilling recently freed ones.
 */
import { conflict, invalidArgument, ShoalError } from '../../base/errors';
import { Cidr, contains, formatCidr, formatIPv4, lastOf, parseCidr, parseIPv4 } from './ipv4';

export interface NetworkIpamOptions {
  /** Network name, for messages. */
  name: string;
  /** The network's subnet, e.g. "10.0.1.0/24". */
  subnet: string;
  /** Gateway address; the first host address of the subnet when absent. */
  gateway?: string;
}

export class NetworkIpam {
  readonly name: string;
  readonly subnet: string;
  /** The gateway as a plain address ("10.0.1.1"), as Docker shows it in IPAM.Config. */
  readonly gateway: string;
  private readonly cidr: Cidr;
  private readonly gatewayNum: number;
  private readonly used = new Set<number>();
  /** Next address to try; always a host address of the subnet. */
  private cursor: number;

  constructor(options: NetworkIpamOptions) {
    this.name = options.name;
    const cidr = parseCidr(options.subnet);
    if (cidr === undefined || cidr.prefix > 30) {
      throw invalidArgument('IPAM.Config.Subnet', `invalid subnet ${options.subnet} for network ${this.name}: need an IPv4 CIDR of /30 or larger`);
    }
    this.cidr = cidr;
    this.subnet = formatCidr(cidr);
    const gw = options.gateway === undefined ? cidr.base + 1 : parseIPv4(options.gateway);
    if (gw === undefined || !this.isHost(gw)) {
      throw invalidArgument('IPAM.Config.Gateway', `ipam configuration: subnet ${this.subnet} does not contain gateway ${options.gateway}`);
    }
    this.gatewayNum = gw;
    this.gateway = formatIPv4(gw);
    this.cursor = cidr.base + 1;
  }

  /** Hands out the next free address after the cursor, wrapping once around the subnet. */
  allocate(): string {
    const first = this.cidr.base + 1;
    const last = lastOf(this.cidr) - 1;
    const span = last - first + 1;
    for (let i = 0; i < span; i++) {
      const ip = first + ((this.cursor - first + i) % span);
      if (ip === this.gatewayNum || this.used.has(ip)) continue;
      this.used.add(ip);
      this.cursor = ip === last ? first : ip + 1;
      return this.format(ip);
    }
    throw new ShoalError(
      'failed-precondition',
      `no available IP addresses on network ${this.name} (all ${span - 1} task addresses of ${this.subnet} are in use)`,
    );
  }

  /** Marks an address ("10.0.1.7" or "10.0.1.7/24") as used: a stored task or VIP at start, or a static choice. */
  reserve(addr: string): void {
    const ip = this.parse(addr);
    if (ip === this.gatewayNum) throw invalidArgument('Addresses', `address ${formatIPv4(ip)} is the gateway of network ${this.name}`);
    if (this.used.has(ip)) throw conflict(`address ${formatIPv4(ip)} is already in use on network ${this.name}`);
    this.used.add(ip);
    if (ip >= this.cursor) this.cursor = ip === lastOf(this.cidr) - 1 ? this.cidr.base + 1 : ip + 1;
  }

  /** Frees an address; false when it was not in use (or is not in this subnet). */
  release(addr: string): boolean {
    let ip: number;
    try {
      ip = this.parse(addr);
    } catch {
      return false;
    }
    return this.used.delete(ip);
  }

  has(addr: string): boolean {
    const ip = parseIPv4(addr.split('/')[0]);
    return ip !== undefined && this.used.has(ip);
  }

  /** Addresses in use, lowest first, in CIDR form (the gateway is not listed). */
  inUse(): string[] {
    return [...this.used].sort((a, b) => a - b).map((ip) => this.format(ip));
  }

  /** How many more addresses allocate() can hand out. */
  available(): number {
    return lastOf(this.cidr) - this.cidr.base - 1 - 1 - this.used.size;
  }

  private format(ip: number): string {
    return `${formatIPv4(ip)}/${this.cidr.prefix}`;
  }

  private isHost(ip: number): boolean {
    return contains(this.cidr, ip) && ip !== this.cidr.base && ip !== lastOf(this.cidr);
  }

  private parse(addr: string): number {
    const [text, prefix] = addr.split('/');
    const ip = parseIPv4(text);
    if (ip === undefined || (prefix !== undefined && Number(prefix) !== this.cidr.prefix)) {
      throw invalidArgument('Addresses', `invalid address ${addr} for network ${this.name}: use an address of ${this.subnet}`);
    }
    if (!contains(this.cidr, ip)) throw invalidArgument('Addresses', `address ${addr} is not in subnet ${this.subnet} of network ${this.name}`);
    if (!this.isHost(ip)) {
      const what = ip === this.cidr.base ? 'network' : 'broadcast';
      throw invalidArgument('Addresses', `address ${addr} is the ${what} address of network ${this.name}`);
    }
    return ip;
  }
}
