/**
 * Spread: which of the nodes that passed the filters gets the next task of a group. Nodes are ranked by
 * (recent-failure penalty, active tasks of this service, active tasks in total, node ID) and kept in a heap, so
 * a batch of N tasks over M nodes costs O(N log M): the best node takes a task, its counters grow, and it goes
 * back into the heap only if it still passes the filters that placements change.
 *
 * Placement preferences (`spread=node.labels.zone`) put a decision tree above the heaps: one level per
 * preference, one branch per label value (nodes without the label form their own branch), heaps at the leaves.
 * Each task descends into the branch holding the fewest active tasks of the service, which equalizes the
 * branches as far as their nodes allow. Branch counts include every node carrying the value, not just the
 * candidates, so a zone whose nodes are full still counts as holding its tasks.
 */
import type { Node } from '../../api/types';
import { failurePenalty, type NodeInfo } from './node-info';

/** Reads the label a `spread=` descriptor names; undefined for nodes without it (or an unknown descriptor). */
export function preferenceReader(descriptor: string): (node: Node) => string | undefined {
  const lower = descriptor.toLowerCase();
  if (lower.startsWith('node.labels.')) {
    const name = descriptor.slice('node.labels.'.length);
    return (n) => n.Spec.Labels?.[name];
  }
  if (lower.startsWith('engine.labels.')) {
    const name = descriptor.slice('engine.labels.'.length);
    return (n) => n.Description?.Engine?.Labels?.[name];
  }
  return () => undefined;
}

type Less = (a: NodeInfo, b: NodeInfo) => boolean;

/** A binary min-heap of nodes; small and allocation-free once built. */
class NodeHeap {
  private readonly items: NodeInfo[] = [];
  constructor(private readonly less: Less) {}

  get size(): number {
    return this.items.length;
  }

  push(x: NodeInfo): void {
    const a = this.items;
    a.push(x);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(a[i], a[p])) break;
      const t = a[i];
      a[i] = a[p];
      a[p] = t;
      i = p;
    }
  }

  pop(): NodeInfo | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && this.less(a[l], a[m])) m = l;
        if (r < a.length && this.less(a[r], a[m])) m = r;
        if (m === i) break;
        const t = a[i];
        a[i] = a[m];
        a[m] = t;
        i = m;
      }
    }
    return top;
  }
}

interface Branch {
  /** Active tasks of the service on every node under this branch. */
  count: number;
  /** Leaves below with at least one candidate node. */
  live: number;
  parent?: Branch;
  children: Map<string | undefined, Branch>;
  heap?: NodeHeap;
}

const newBranch = (parent?: Branch): Branch => ({ count: 0, live: 0, parent, children: new Map() });

export class SpreadTree {
  private readonly root: Branch = newBranch();
  private readonly leafOf = new Map<string, Branch>();
  private chosen?: { info: NodeInfo; leaf: Branch };

  /**
   * @param candidates nodes that passed every filter for this group
   * @param all every node, so branch counts include tasks on nodes that cannot take more
   * @param failureKey the group's `service@version`, for the recent-failure penalty
   */
  constructor(
    candidates: readonly NodeInfo[],
    all: Iterable<NodeInfo>,
    serviceId: string,
    failureKey: string,
    preferences: readonly string[],
  ) {
    const readers = preferences.map(preferenceReader);
    const less: Less = (a, b) => {
      const pa = failurePenalty(a, failureKey);
      const pb = failurePenalty(b, failureKey);
      if (pa !== pb) return pa < pb;
      const sa = a.activeByService.get(serviceId) ?? 0;
      const sb = b.activeByService.get(serviceId) ?? 0;
      if (sa !== sb) return sa < sb;
      if (a.activeTotal !== b.activeTotal) return a.activeTotal < b.activeTotal;
      return a.id < b.id;
    };
    const leafFor = (info: NodeInfo): Branch => {
      let b = this.root;
      for (const read of readers) {
        const value = read(info.node);
        let child = b.children.get(value);
        if (!child) b.children.set(value, (child = newBranch(b)));
        b = child;
      }
      return b;
    };
    if (readers.length > 0) {
      for (const info of all) {
        const tasks = info.activeByService.get(serviceId) ?? 0;
        for (let b: Branch | undefined = leafFor(info); b; b = b.parent) b.count += tasks;
      }
    }
    for (const info of candidates) {
      const leaf = leafFor(info);
      if (!leaf.heap) leaf.heap = new NodeHeap(less);
      if (leaf.heap.size === 0) for (let b: Branch | undefined = leaf; b; b = b.parent) b.live++;
      leaf.heap.push(info);
      this.leafOf.set(info.id, leaf);
    }
    // Branch order among equal counts: by label value, the unlabelled branch last; deterministic across runs.
    const sortChildren = (b: Branch): void => {
      const entries = [...b.children.entries()].sort(([x], [y]) =>
        x === y ? 0 : x === undefined ? 1 : y === undefined ? -1 : x < y ? -1 : 1,
      );
      b.children = new Map(entries);
      for (const [, c] of entries) sortChildren(c);
    };
    sortChildren(this.root);
  }

  get empty(): boolean {
    return this.root.live === 0;
  }

  /**
   * Takes the node for the next task out of the tree: the branch with the fewest tasks at each level, then the
   * best node of that leaf. Follow with `commit` once the placement is recorded on the node's counters.
   */
  choose(): NodeInfo | undefined {
    if (this.chosen) throw new Error('SpreadTree.choose called twice without commit');
    let b = this.root;
    while (b.live > 0 && b.children.size > 0) {
      let best: Branch | undefined;
      for (const c of b.children.values()) if (c.live > 0 && (!best || c.count < best.count)) best = c;
      if (!best) break;
      b = best;
    }
    const info = b.live > 0 ? b.heap?.pop() : undefined;
    if (info) this.chosen = { info, leaf: b };
    return info;
  }

  /** Records the task placed on the chosen node; it returns to its heap if it may still take more. */
  commit(stillFits: boolean): void {
    const c = this.chosen;
    if (!c) throw new Error('SpreadTree.commit without choose');
    this.chosen = undefined;
    for (let b: Branch | undefined = c.leaf; b; b = b.parent) b.count++;
    if (stillFits) c.leaf.heap?.push(c.info);
    else if (c.leaf.heap?.size === 0) for (let b: Branch | undefined = c.leaf; b; b = b.parent) b.live--;
  }
}
