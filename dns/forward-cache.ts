/**
 * The cache of upstream answers: keyed by (name, type, class), kept for the smallest TTL in the answer (for a
 * negative answer, the SOA's minimum, RFC 2308), bounded in entries with the oldest evicted first. On a hit the
 * TTLs are lowered by the time spent in the cache, so clients never keep an answer longer than upstream allowed.
 */
import type * as dnsPacket from 'dns-packet';
import type { Clock } from '../control/base/clock';
import { ExpiringMap } from './expiring-map';

export class ForwardCache {
  private readonly map: ExpiringMap<dnsPacket.Packet>;

  constructor(
    clock: Clock,
    maxEntries: number,
    private readonly maxTtl: number,
  ) {
    this.map = new ExpiringMap(clock, maxEntries);
  }

  get(key: string): dnsPacket.Packet | undefined {
    const hit = this.map.get(key);
    if (!hit) return undefined;
    const { value: packet, ageSeconds: age } = hit;
    if (age === 0) return packet;
    const older = (rs: dnsPacket.Answer[] | undefined): dnsPacket.Answer[] =>
      (rs ?? []).map((r) => (r.type === 'OPT' ? r : { ...r, ttl: Math.max(0, ((r as { ttl?: number }).ttl ?? 0) - age) }) as dnsPacket.Answer);
    return { ...packet, answers: older(packet.answers), authorities: older(packet.authorities), additionals: older(packet.additionals) };
  }

  put(key: string, packet: dnsPacket.Packet): void {
    const ttl = Math.min(cacheTtl(packet), this.maxTtl);
    if (ttl > 0) this.map.set(key, packet, ttl);
  }

  get size(): number {
    return this.map.size;
  }

  clear(): void {
    this.map.clear();
  }
}

/** Seconds an answer may be cached: min TTL of the answers; negative answers by SOA; 0 = do not cache. */
export function cacheTtl(p: dnsPacket.Packet): number {
  const rcode = (p.flags ?? 0) & 0xf;
  if (rcode !== 0 && rcode !== 3) return 0;
  const answers = p.answers ?? [];
  if (answers.length) return Math.min(...answers.map((a) => (a as { ttl?: number }).ttl ?? 0));
  const soa = (p.authorities ?? []).find((a) => a.type === 'SOA') as dnsPacket.SoaAnswer | undefined;
  if (!soa) return 0;
  return Math.min(soa.ttl ?? 0, soa.data.minimum ?? 0);
}
