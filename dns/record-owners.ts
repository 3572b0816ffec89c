/**
 * A name index whose entries several services may contribute to (an alias two services share, a `tasks.` name,
 * an SRV list, an address's PTR): per key it remembers who contributed what, so withdrawing one service leaves
 * exactly the others' records, merged as if that service had never been there. The hot path reads `values`, a
 * plain Map; the owner bookkeeping sits beside it. Parts are merged in owner-ID order, never in arrival order, so
 * the merged value depends only on who contributes now — an incremental update and a full build agree.
 */

interface Part<V> {
  owner: string;
  part: V;
}

export class OwnedMap<V> {
  /**
   * Key → its one owner (then the value IS that owner's part, nothing else is stored: most keys have one owner,
   * and 100k task names must not cost a second object each) or the parts of two or more owners, in owner order.
   */
  private readonly owners = new Map<string, string | Part<V>[]>();

  constructor(
    /** What readers see: the merged value per key. Values are never mutated, only replaced. */
    readonly values: Map<string, V>,
    /** Combines parts in the given order into a new value (must not modify the parts). */
    private readonly merge: (parts: V[]) => V,
  ) {}

  add(key: string, owner: string, part: V): void {
    const had = this.owners.get(key);
    if (had === undefined || had === owner) {
      this.owners.set(key, owner);
      this.values.set(key, part);
      return;
    }
    const parts = typeof had === 'string' ? [{ owner: had, part: this.values.get(key)! }] : had.filter((p) => p.owner !== owner);
    parts.push({ owner, part });
    parts.sort((a, b) => (a.owner < b.owner ? -1 : a.owner > b.owner ? 1 : 0));
    this.owners.set(key, parts);
    this.values.set(key, this.merge(parts.map((p) => p.part)));
  }

  /** Withdraws one owner's part of the key (nothing when it had none). */
  remove(key: string, owner: string): void {
    const had = this.owners.get(key);
    if (had === undefined) return;
    if (typeof had === 'string') {
      if (had !== owner) return;
      this.owners.delete(key);
      this.values.delete(key);
      return;
    }
    const parts = had.filter((p) => p.owner !== owner);
    if (parts.length === had.length) return;
    if (parts.length === 1) {
      this.owners.set(key, parts[0].owner);
      this.values.set(key, parts[0].part);
    } else {
      this.owners.set(key, parts);
      this.values.set(key, this.merge(parts.map((p) => p.part)));
    }
  }

  /** How many keys have more than one owner (tests, diagnostics). */
  sharedKeys(): number {
    let n = 0;
    for (const o of this.owners.values()) if (typeof o !== 'string') n++;
    return n;
  }
}
