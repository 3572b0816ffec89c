/**
 * The storage both forwarder caches share (forward-cache.ts: decoded packets; wire-cache.ts: answer bytes): values
 * kept for a number of seconds on the injected clock, at most maxEntries of them, the oldest stored evicted first
 * when full. get() says how many whole seconds the value has been kept, which is what a cached DNS answer's TTLs
 * are lowered by.
 */
import type { Clock } from '../control/base/clock';

interface Entry<V> {
  value: V;
  stored: number;
  expires: number;
}

export class ExpiringMap<V> {
  private readonly map = new Map<string, Entry<V>>();

  constructor(
    private readonly clock: Clock,
    private readonly maxEntries: number,
  ) {}

  /** The value and its age in whole seconds, or undefined when absent or expired (then it is dropped). */
  get(key: string): { value: V; ageSeconds: number } | undefined {
    const e = this.map.get(key);
    if (!e) return undefined;
    const now = this.clock.now();
    if (now >= e.expires) {
      this.map.delete(key);
      return undefined;
    }
    return { value: e.value, ageSeconds: Math.floor((now - e.stored) / 1000) };
  }

  /** Keeps the value for ttlSeconds (> 0), replacing any under the key; evicts the oldest when full. */
  set(key: string, value: V, ttlSeconds: number): void {
    if (this.map.size >= this.maxEntries && !this.map.has(key)) {
      const oldest = this.map.keys().next().value;
      if (oldest !== undefined) this.map.delete(oldest);
    }
    const now = this.clock.now();
    this.map.delete(key); // re-inserted last: insertion order is age order
    this.map.set(key, { value, stored: now, expires: now + ttlSeconds * 1000 });
  }

  get size(): number {
    return this.map.size;
  }

  clear(): void {
    this.map.clear();
  }
}
