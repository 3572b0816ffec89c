/**
 * The messages between swarmd (the primary) and its mesh worker processes (mesh-worker.ts), which serve the
 * userspace TCP listeners when --mesh-workers is above 1. The primary owns the plan; a worker only mirrors it:
 * one TcpProxy per listener ID, with the backends and local routes it is sent. Messages to one worker arrive in
 * order, so a `ping` answered means everything sent before it has been applied.
 */
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
  | { op: 'open'; id: number; host: string; port: number }
  | { op: 'backends'; id: number; backends: readonly BackendAddr[]; strategy: Strategy }
  | { op: 'routes'; id: number; routes: RouteMessage[] }
  | { op: 'listen'; id: number; seq: number }
  | { op: 'close'; id: number; seq: number }
  | { op: 'ping'; seq: number };

/** A worker's counters per listener ID: its own traffic and each route's, by route ID. */
export type WorkerReport = Record<number, { own: ProxyCounters; routes: Record<number, ProxyCounters> }>;

export type FromWorker =
  | { op: 'ready' }
  | { op: 'done'; seq: number; error?: string; report?: WorkerReport }
  | { op: 'report'; report: WorkerReport }
  | { op: 'log'; level: 'info' | 'warn' | 'error'; msg: string; fields?: Record<string, unknown> };
