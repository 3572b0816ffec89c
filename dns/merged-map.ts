/**
 * A name index whose entries several services may contribute to (an alias two services share, a `tasks.` name,
 * an SRV list, an address's PTR): every key keeps the parts it was made of, so withdrawing one service's part
 * leaves exactly the others', merged as if that service had never been there. Readers see `values`, a plain Map.
 *
 * Who contributed a part is not stored: most keys (100k task names, their addresses) have one part, and a
 * second Map entry per key would cost the table ~13 MB at 10,000 services × 10 tasks. A key with one part holds
 * only its value; a key with several holds the parts beside it. The withdrawing service recomputes its part
 * (service-records.ts is a pure function of the service), and the part equal to it is the one removed; two
 * services with equal parts are interchangeable. Parts merge in the order of their content keys, never in
 * arrival order, so the merged value depends only on which parts are there — an update and a build agree.
 */
export class MergedMap<V> {
  /** Keys with two or more parts: the parts, ordered by content key. */
  private readonly shared = new Map<string, V[]>();

  constructor(
    /** What readers see: the merged value per key. Values are never mutated, only replaced. */
    readonly values: Map<string, V>,
    /** Combines parts in the given order into a new value (must not modify them). */
    private readonly merge: (parts: V[]) => V,
    /** A text equal for equal parts, different otherwise: orders parts and finds the one to withdraw. */
    private readonly contentKey: (part: V) => string,
  ) {}

  add(key: string, part: V): void {
    const one = this.values.get(key);
    if (one === undefined) {
      this.values.set(key, part);
      return;
    }
    const parts = this.shared.get(key) ?? [one];
    parts.push(part);
    parts.sort((a, b) => compare(this.contentKey(a), this.contentKey(b)));
    this.shared.set(key, parts);
    this.values.set(key, this.merge(parts));
  }

  /** Withdraws one part equal to `part` (the same service's part, recomputed). */
  remove(key: string, part: V): void {
    const parts = this.shared.get(key);
    if (!parts) {
      this.values.delete(key);
      return;
    }
    const text = this.contentKey(part);
    const i = parts.findIndex((p) => this.contentKey(p) === text);
    if (i < 0) return;
    parts.splice(i, 1);
    if (parts.length === 1) {
      this.shared.delete(key);
      this.values.set(key, parts[0]);
    } else {
      this.values.set(key, this.merge(parts));
    }
  }
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
