/**
 * The values the record table holds per key — addresses of a name, an SRV list entry, a reverse entry — and the
 * address spellings used as keys. Plain data shared by records.ts (the indexes), service-records.ts (what one
 * service contributes) and answer.ts (which encodes them). Values are never changed once in an index, only
 * replaced, so answer.ts may cache encodings per value object.
 */

/** Addresses answered for one name in one network. */
export interface NameRecord {
  v4: string[];
  v6: string[];
  /** True when the addresses are task IPs (short TTL, shuffled); false for VIPs (long TTL, stable). */
  taskIps: boolean;
}

export interface SrvRecord {
  port: number;
  /** A name this resolver answers too: the service (VIP mode) or a task name (dnsrr). */
  target: string;
  taskIps: boolean;
}

/** A reverse entry; the NAME.NETWORK text is made when asked (PTR queries are rare, tasks are many). */
export class PtrRecord {
  constructor(
    private readonly base: string,
    private readonly netName: string | undefined,
    readonly taskIps: boolean,
  ) {}

  get name(): string {
    return this.netName ? `${this.base}.${this.netName}` : this.base;
  }
}

export function v4ToInt(ip: string): number | undefined {
  const p = ip.split('.');
  if (p.length !== 4) return undefined;
  let x = 0;
  for (const s of p) {
    const n = Number(s);
    if (!/^\d{1,3}$/.test(s) || n > 255) return undefined;
    x = x * 256 + n;
  }
  return x >>> 0;
}

export function parseCidr(cidr: string): { base: number; mask: number } | undefined {
  const [ip, len] = cidr.split('/');
  const x = v4ToInt(ip);
  const bits = Number(len ?? 32);
  if (x === undefined || !(bits >= 0 && bits <= 32)) return undefined;
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  return { base: (x & mask) >>> 0, mask };
}

/** IPv6 in its full, lower-case 8×4-hex form so PTR keys match however the table spelled them; IPv4 as is. */
export function canonicalIp(ip: string): string {
  if (!ip.includes(':')) return ip;
  const [head, tail] = ip.toLowerCase().split('::');
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail ? tail.split(':') : [];
  const fill = tail === undefined ? [] : new Array(8 - h.length - t.length).fill('0');
  return [...h, ...fill, ...t].map((g) => g.padStart(4, '0')).join(':');
}

/** The address a reverse name stands for ("4.3.2.1.in-addr.arpa" → "1.2.3.4"), or undefined. */
export function reverseNameToIp(name: string): string | undefined {
  if (name.endsWith('.in-addr.arpa')) {
    const p = name.slice(0, -'.in-addr.arpa'.length).split('.');
    if (p.length !== 4) return undefined;
    const ip = p.reverse().join('.');
    return v4ToInt(ip) === undefined ? undefined : ip;
  }
  if (name.endsWith('.ip6.arpa')) {
    const p = name.slice(0, -'.ip6.arpa'.length).split('.');
    if (p.length !== 32 || !p.every((c) => /^[0-9a-f]$/.test(c))) return undefined;
    const hex = p.reverse().join('');
    return hex.match(/.{4}/g)!.join(':');
  }
  return undefined;
}
