/**
 * Upstream answers kept as the bytes that came, for plain queries (wire.ts isPlainQuery: nothing in them is one
 * client's), so a hit is served like a relayed answer — a copy with the client's ID and question case and the
 * TTLs lowered by the time spent here — with no decode and no encode. Decoding the cached packet and encoding
 * it again per hit made a cached external name cost 6-11 µs of JavaScript, ten times a local answer; tasks ask
 * for the same external names over and over (libc resolvers keep no cache).
 *
 * The key is the query's bytes after the ID with the name in lower case: the flags (RD, CD, AD) and the EDNS
 * size and DO bit are part of what the upstream answered, so they are part of the key; the name's case is not
 * (a 0x20-randomising client gets its own case back in the question). Kept for the answer's cache TTL
 * (wire.ts wireCacheTtl: the smallest answer TTL, or a negative answer's SOA minimum), capped by maxTtl; the
 * oldest entry goes first when full.
 */
import type { Clock } from '../control/base/clock';
import { ExpiringMap } from './expiring-map';
import { ttlOffsets, wireCacheTtl } from './wire';

interface Entry {
  bytes: Buffer;
  /** Offsets of the TTL fields to lower by the entry's age. */
  ttls: number[];
}

export class WireCache {
  private readonly map: ExpiringMap<Entry>;

  constructor(
    clock: Clock,
    maxEntries: number,
    private readonly maxTtl: number,
  ) {
    this.map = new ExpiringMap(clock, maxEntries);
  }

  /** The key of a plain query whose question ends at qEnd. */
  static key(query: Buffer, qEnd: number): string {
    return query.toString('latin1', 2, 12) + query.toString('latin1', 12, qEnd).toLowerCase() + query.toString('latin1', qEnd);
  }

  /**
   * A copy of the answer for this client (its question bytes, from 12 to qEnd, written over the stored ones;
   * the caller writes its ID), or undefined. The copy is the caller's to change and send.
   */
  get(key: string, query: Buffer, qEnd: number): Buffer | undefined {
    const hit = this.map.get(key);
    if (!hit) return undefined;
    const { bytes, ttls } = hit.value;
    const out = Buffer.from(bytes);
    query.copy(out, 12, 12, qEnd);
    const age = hit.ageSeconds;
    if (age > 0) for (const o of ttls) out.writeUInt32BE(Math.max(0, bytes.readUInt32BE(o) - age), o);
    return out;
  }

  /** Keeps an answer (the caller's copy is not kept: this makes its own) when it may be cached at all. */
  put(key: string, bytes: Buffer): void {
    const ttl = Math.min(wireCacheTtl(bytes), this.maxTtl);
    const ttls = ttl > 0 ? ttlOffsets(bytes) : undefined;
    if (ttls) this.map.set(key, { bytes: Buffer.from(bytes), ttls }, ttl);
  }

  get size(): number {
    return this.map.size;
  }
}
