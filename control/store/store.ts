/**
 * The store contract: cluster state as versioned objects, read in views, written in transactions, and watched.
 * It is the bus of the manager — components snapshot it, then react to the events of each commit (swarmkit's
 * memdb + watch queue). Every object carries Version.Index, the store-wide index of the commit that last wrote
 * it; an update must name the version it read, or it fails with "update out of sequence" (Docker's ?version=).
 *
 * Objects handed out are shared and must be treated as immutable: to change one, copy it (see `edit`), change
 * the copy and pass it to tx.update.
 */
import type { Network, Node, Service, Swarm, Task } from '../api/types';

export interface ObjectMap {
  cluster: Swarm;
  node: Node;
  service: Service;
  task: Task;
  network: Network;
}
export type Kind = keyof ObjectMap;
export const KINDS: Kind[] = ['cluster', 'node', 'network', 'service', 'task'];

export type Action = 'create' | 'update' | 'delete';

export interface StoreEvent<K extends Kind = Kind> {
  kind: K;
  action: Action;
  /** The object after the change (for delete: as it was when deleted). */
  object: ObjectMap[K];
  /** The object before the change (update and delete). */
  previous?: ObjectMap[K];
}

export interface ReadTx {
  get<K extends Kind>(kind: K, id: string): ObjectMap[K] | undefined;
  list<K extends Kind>(kind: K): ObjectMap[K][];
  /** Services and networks by exact name. */
  byName<K extends 'service' | 'network'>(kind: K, name: string): ObjectMap[K] | undefined;
  tasksByService(serviceId: string): Task[];
  tasksByNode(nodeId: string): Task[];
}

export interface WriteTx extends ReadTx {
  /** Stores a new object; sets Version, CreatedAt, UpdatedAt. Fails on a duplicate ID or name. */
  create<K extends Kind>(kind: K, object: ObjectMap[K]): ObjectMap[K];
  /** Replaces an object; its Version.Index must be the stored one. Sets the new Version and UpdatedAt. */
  update<K extends Kind>(kind: K, object: ObjectMap[K]): ObjectMap[K];
  delete(kind: Kind, id: string): void;
}

export interface Store {
  view<T>(fn: (tx: ReadTx) => T): T;
  /**
   * Runs fn against the current state and commits what it wrote, all or nothing. fn is synchronous; the
   * promise settles when the commit is durable. Throwing from fn aborts the transaction.
   */
  update<T>(fn: (tx: WriteTx) => T): Promise<T>;
  /** Calls fn with each commit's events, in commit order, after the commit. Returns an unsubscribe function. */
  watch(fn: (events: StoreEvent[]) => void): () => void;
  /** The index of the last commit: it changes with every commit (readers cache what they derived by it). */
  lastIndex(): number;
  close(): Promise<void>;
}

/** A deep copy to modify and pass to tx.update. */
export function edit<T>(object: T): T {
  return structuredClone(object);
}

/** The name of an object for uniqueness checks, or undefined for kinds without unique names. */
export function nameOf(kind: Kind, object: any): string | undefined {
  if (kind === 'service') return object.Spec?.Name;
  if (kind === 'network') return object.Name;
  return undefined;
}
