/**
 * The store's working copy: every object in memory with the indexes the manager needs (tasks by service and by
 * node, services and networks by name), transactions that buffer their writes and see them, optimistic
 * concurrency on Version.Index, and ordered delivery of each commit's events to watchers. Durability is a
 * Persistence passed in (SQLite by default); this class never touches disk itself.
 */
import { conflict, notFound, ShoalError } from '../base/errors';
import type { Clock } from '../base/clock';
import { systemClock } from '../base/clock';
import type { Task } from '../api/types';
import { KINDS, nameOf, type Kind, type ObjectMap, type ReadTx, type Store, type StoreEvent, type WriteTx } from './store';

export interface Change {
  kind: Kind;
  id: string;
  /** The object to write, or null to delete. */
  object: any | null;
}

export interface Persistence {
  /** Every stored object, and the last committed index. */
  load(): { objects: { kind: Kind; object: any }[]; index: number };
  /** Writes the changes and the new index atomically. */
  commit(changes: Change[], index: number): void;
  close(): void;
}

/** Told how long each commit took (persisting and applying in memory), for the store's latency histogram. */
export interface CommitObserver {
  committed(seconds: number): void;
}

type Table = Map<string, any>;

export class MemoryStore implements Store {
  private tables = new Map<Kind, Table>();
  private names = new Map<string, string>(); // `${kind}/${name}` -> id
  private byService = new Map<string, Set<string>>();
  private byNode = new Map<string, Set<string>>();
  private index = 0;
  private watchers = new Set<(events: StoreEvent[]) => void>();
  private pending: StoreEvent[][] = [];
  private delivering = false;
  private closed = false;

  constructor(
    private readonly persistence: Persistence | null = null,
    private readonly clock: Clock = systemClock,
    private readonly observer?: CommitObserver,
  ) {
    for (const k of KINDS) this.tables.set(k, new Map());
    if (persistence) {
      const { objects, index } = persistence.load();
      for (const { kind, object } of objects) this.put(kind, object);
      this.index = index;
    }
  }

  view<T>(fn: (tx: ReadTx) => T): T {
    return fn(this.reader());
  }

  async update<T>(fn: (tx: WriteTx) => T): Promise<T> {
    if (this.closed) throw new ShoalError('unavailable', 'the store is closed');
    const tx = new Transaction(this, this.clock, this.index + 1);
    const result = fn(tx);
    if (tx.changes.size === 0) return result;
    const started = performance.now();
    const changes = [...tx.changes.values()];
    const index = this.index + 1;
    this.persistence?.commit(changes, index);
    this.index = index;
    const events: StoreEvent[] = [];
    for (const c of changes) {
      const previous = this.tables.get(c.kind)!.get(c.id);
      if (c.object === null) {
        if (!previous) continue;
        this.remove(c.kind, previous);
        events.push({ kind: c.kind, action: 'delete', object: previous, previous });
      } else {
        if (previous) this.remove(c.kind, previous);
        this.put(c.kind, c.object);
        events.push({ kind: c.kind, action: previous ? 'update' : 'create', object: c.object, previous });
      }
    }
    // Measured before the watchers hear of it: the latency is the commit's own, not its consumers'.
    this.observer?.committed((performance.now() - started) / 1000);
    this.publish(events);
    return result;
  }

  watch(fn: (events: StoreEvent[]) => void): () => void {
    this.watchers.add(fn);
    return () => this.watchers.delete(fn);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.watchers.clear();
    this.persistence?.close();
  }

  /** The index of the last commit. */
  lastIndex(): number {
    return this.index;
  }

  // ---- internals used by transactions ------------------------------------------------------------------------

  /** @internal */ raw(kind: Kind, id: string): any {
    return this.tables.get(kind)!.get(id);
  }
  /** @internal */ rawList(kind: Kind): any[] {
    return [...this.tables.get(kind)!.values()];
  }
  /** @internal */ idByName(kind: Kind, name: string): string | undefined {
    return this.names.get(`${kind}/${name}`);
  }
  /** @internal */ taskIds(index: 'service' | 'node', key: string): Set<string> | undefined {
    return (index === 'service' ? this.byService : this.byNode).get(key);
  }

  private reader(): ReadTx {
    return new Transaction(this, this.clock, this.index);
  }

  private put(kind: Kind, object: any): void {
    const id = object.ID;
    this.tables.get(kind)!.set(id, object);
    const name = nameOf(kind, object);
    if (name !== undefined) this.names.set(`${kind}/${name}`, id);
    if (kind === 'task') {
      addTo(this.byService, (object as Task).ServiceID, id);
      if ((object as Task).NodeID) addTo(this.byNode, (object as Task).NodeID!, id);
    }
  }

  private remove(kind: Kind, object: any): void {
    this.tables.get(kind)!.delete(object.ID);
    const name = nameOf(kind, object);
    if (name !== undefined && this.names.get(`${kind}/${name}`) === object.ID) this.names.delete(`${kind}/${name}`);
    if (kind === 'task') {
      removeFrom(this.byService, (object as Task).ServiceID, object.ID);
      if ((object as Task).NodeID) removeFrom(this.byNode, (object as Task).NodeID!, object.ID);
    }
  }

  /** Events go out after the commit, in order, never re-entrantly: a watcher that writes sees its own commit later. */
  private publish(events: StoreEvent[]): void {
    if (events.length === 0 || this.watchers.size === 0) return;
    this.pending.push(events);
    if (this.delivering) return;
    this.delivering = true;
    queueMicrotask(() => {
      while (this.pending.length) {
        const batch = this.pending.shift()!;
        for (const w of [...this.watchers]) {
          try {
            w(batch);
          } catch {
            // A watcher's bug must not stop the others from seeing the commit; watchers log their own errors.
          }
        }
      }
      this.delivering = false;
    });
  }
}

class Transaction implements WriteTx {
  readonly changes = new Map<string, Change>();
  private names = new Map<string, string | null>();

  constructor(
    private readonly store: MemoryStore,
    private readonly clock: Clock,
    private readonly nextIndex: number,
  ) {}

  get<K extends Kind>(kind: K, id: string): ObjectMap[K] | undefined {
    const c = this.changes.get(`${kind}/${id}`);
    if (c) return c.object ?? undefined;
    return this.store.raw(kind, id);
  }

  list<K extends Kind>(kind: K): ObjectMap[K][] {
    if (this.changes.size === 0) return this.store.rawList(kind);
    const out = new Map<string, any>();
    for (const o of this.store.rawList(kind)) out.set(o.ID, o);
    for (const c of this.changes.values()) {
      if (c.kind !== kind) continue;
      if (c.object === null) out.delete(c.id);
      else out.set(c.id, c.object);
    }
    return [...out.values()];
  }

  byName<K extends 'service' | 'network'>(kind: K, name: string): ObjectMap[K] | undefined {
    const key = `${kind}/${name}`;
    const id = this.names.has(key) ? this.names.get(key) : this.store.idByName(kind, name);
    if (!id) return undefined;
    const o = this.get(kind, id);
    return o && nameOf(kind, o) === name ? o : undefined;
  }

  tasksByService(serviceId: string): Task[] {
    return this.indexed('service', serviceId, (t) => t.ServiceID === serviceId);
  }

  tasksByNode(nodeId: string): Task[] {
    return this.indexed('node', nodeId, (t) => t.NodeID === nodeId);
  }

  create<K extends Kind>(kind: K, object: ObjectMap[K]): ObjectMap[K] {
    const o = object as any;
    if (this.get(kind, o.ID)) throw conflict(`${kind} ${o.ID} already exists`);
    const name = nameOf(kind, o);
    if (name !== undefined && this.byName(kind as 'service', name)) {
      throw conflict(`name conflicts with an existing object: ${kind} ${name} already exists`);
    }
    const now = new Date(this.clock.now()).toISOString();
    const stored = { ...o, Version: { Index: this.nextIndex } };
    if (kind === 'network') stored.Created = stored.Created || now;
    else {
      stored.CreatedAt = now;
      stored.UpdatedAt = now;
    }
    this.write(kind, stored, name);
    return stored;
  }

  update<K extends Kind>(kind: K, object: ObjectMap[K]): ObjectMap[K] {
    const o = object as any;
    const current = this.get(kind, o.ID) as any;
    if (!current) throw notFound(`${kind} ${o.ID} not found`);
    if ((o.Version?.Index ?? -1) !== current.Version.Index) {
      throw conflict(`update out of sequence: ${kind} ${o.ID} is at version ${current.Version.Index}, not ${o.Version?.Index}`);
    }
    const name = nameOf(kind, o);
    if (name !== undefined && name !== nameOf(kind, current)) {
      const other = this.byName(kind as 'service', name) as any;
      if (other && other.ID !== o.ID) throw conflict(`name conflicts with an existing object: ${kind} ${name} already exists`);
      this.names.set(`${kind}/${nameOf(kind, current)}`, null);
    }
    const stored = { ...o, Version: { Index: this.nextIndex } };
    if (kind !== 'network') stored.UpdatedAt = new Date(this.clock.now()).toISOString();
    this.write(kind, stored, name);
    return stored;
  }

  delete(kind: Kind, id: string): void {
    const current = this.get(kind, id);
    if (!current) throw notFound(`${kind} ${id} not found`);
    const name = nameOf(kind, current);
    if (name !== undefined) this.names.set(`${kind}/${name}`, null);
    this.changes.set(`${kind}/${id}`, { kind, id, object: null });
  }

  private write(kind: Kind, object: any, name: string | undefined): void {
    this.changes.set(`${kind}/${object.ID}`, { kind, id: object.ID, object });
    if (name !== undefined) this.names.set(`${kind}/${name}`, object.ID);
  }

  private indexed(index: 'service' | 'node', key: string, match: (t: Task) => boolean): Task[] {
    const out: Task[] = [];
    const ids = this.store.taskIds(index, key);
    if (ids) for (const id of ids) if (!this.changes.has(`task/${id}`)) out.push(this.store.raw('task', id));
    for (const c of this.changes.values()) if (c.kind === 'task' && c.object && match(c.object)) out.push(c.object);
    return out;
  }
}

function addTo(index: Map<string, Set<string>>, key: string, id: string): void {
  let s = index.get(key);
  if (!s) index.set(key, (s = new Set()));
  s.add(id);
}

function removeFrom(index: Map<string, Set<string>>, key: string, id: string): void {
  const s = index.get(key);
  if (!s) return;
  s.delete(id);
  if (s.size === 0) index.delete(key);
}
