/**
 * IPv4 addresses and CIDR blocks as unsigned 32-bit numbers. Everything the subnet pool and the per-network IPAM
 * do is arithmetic on these numbers; strings appear only at the edges. Parsers are strict (no leading zeros, no
 * shorthand like "10.1") because a lenient parse of a subnet is how two networks end up overlapping.
 */

export interface Cidr {
  /** Network address (host bits zero), as an unsigned 32-bit number. */
  base: number;
  prefix: number;
}

const OCTET = /^(?:0|[1-9]\d{0,2})$/;

/** Parses dotted-quad IPv4; undefined when it is not one. */
export function parseIPv4(text: string): number | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let n = 0;
  for (const p of parts) {
    if (!OCTET.test(p)) return undefined;
    const v = Number(p);
    if (v > 255) return undefined;
    n = n * 256 + v;
  }
  return n;
}

export function formatIPv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** The netmask of a prefix length, as an unsigned number (prefix 0 → 0). */
export function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** Number of addresses in a block. */
export function sizeOf(prefix: number): number {
  return 2 ** (32 - prefix);
}

/**
 * Parses "a.b.c.d/p". With `strict` (the default) host bits must be zero, so "10.0.0.5/24" is refused rather
 * than silently read as 10.0.0.0/24; `hostBitsSet` explains which it was.
 */
export function parseCidr(text: string, strict = true): Cidr | undefined {
  const slash = text.indexOf('/');
  if (slash < 0) return undefined;
  const addr = parseIPv4(text.slice(0, slash));
  const p = text.slice(slash + 1);
  if (addr === undefined || !/^(?:\d|[12]\d|3[0-2])$/.test(p)) return undefined;
  const prefix = Number(p);
  const base = (addr & maskOf(prefix)) >>> 0;
  if (strict && base !== addr) return undefined;
  return { base, prefix };
}

/** True when the text is a CIDR whose address has host bits set (e.g. "10.0.0.5/24"). */
export function hostBitsSet(text: string): boolean {
  return parseCidr(text, true) === undefined && parseCidr(text, false) !== undefined;
}

export function formatCidr(c: Cidr): string {
  return `${formatIPv4(c.base)}/${c.prefix}`;
}

/** Last address of a block (the broadcast address). */
export function lastOf(c: Cidr): number {
  return c.base + sizeOf(c.prefix) - 1;
}

export function contains(c: Cidr, ip: number): boolean {
  return ip >= c.base && ip <= lastOf(c);
}

export function overlaps(a: Cidr, b: Cidr): boolean {
  return a.base <= lastOf(b) && b.base <= lastOf(a);
}
