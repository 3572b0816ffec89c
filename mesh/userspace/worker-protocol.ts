/**
 * The messages between swarmd (the primary) and its mesh worker processes (mesh-worker.ts), which serve the
 * userspace TCP listeners when --mesh-workers is above 1. The primary owns the plan; a worker only mirrors it:
 * one TcpProxy per listener ID, with the backends and local routes it is sent. Messages to one worker arrive in
 * order, so a `ping` answered means everything sent before it has been applied. `handoff` and `adopt` carry a
 * connection's handle (child_process passes it as a file descriptor) on its way from one worker to another.
 */
import type { TcpRelayKind } from './native-tcp-proxy';
import type { BackendAddr, Strategy } from './picker';
import type { ProxyCounters } from './port-proxy';

/** One specific-address route on a shared listener; `routeId` names its counters across messages. */
export interface RouteMessage {
  addr: string;
  routeId: number;
  backends: readonly BackendAddr[];
  strategy: Strategy;
}

export type ToWorker =
  /**
   * A listener to serve with `relay`: native ones each bind a socket of their own in a SO_REUSEPORT group, which
   * hands connections to the pool's `workers` in turn.
   */
  | { op: 'open'; id: number; host: string; port: number; relay: TcpRelayKind; workers: number }
  | { op: 'backends'; id: number; backends: readonly BackendAddr[]; strategy: Strategy }
  | { op: 'routes'; id: number; routes: RouteMessage[] }
  | { op: 'listen'; id: number; seq: number }
  | { op: 'close'; id: number; seq: number }
  | { op: 'ping'; seq: number }
  /** With a connection's handle: serve it on listener `id` (another worker accepted it and handed it on). */
  | { op: 'adopt'; id: number }
  /** What the accept balance judges by (accept-balance.ts): live workers, and the others' open connections. */
  | { op: 'load'; workers: number; others: number };

/**
 * A worker's counters per listener ID: its own traffic and each route's, by route ID; and the connections it
 * accepted there and handed on to another worker (which counts them as its own).
 */
export type WorkerReport = Record<number, { own: ProxyCounters; routes: Record<number, ProxyCounters>; handedOn: number }>;

export type FromWorker =
  | { op: 'ready' }
  | { op: 'done'; seq: number; error?: string; report?: WorkerReport }
  | { op: 'report'; report: WorkerReport }
  /** With a connection's handle, accepted on listener `id`: for swarmd to give to the least loaded worker. */
  | { op: 'handoff'; id: number }
  | { op: 'log'; level: 'info' | 'warn' | 'error'; msg: string; fields?: Record<string, unknown> };
