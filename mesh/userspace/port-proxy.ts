/**
 * What the userspace mesh asks of one listener, TCP or UDP: bind it, hand it a new backend set (a new picker),
 * read its counters, close it. The mesh diffs endpoint tables into calls on this and never touches sockets.
 */
import type { BackendAddr, Strategy } from './picker';

export interface ProxyCounters {
  /** TCP connections accepted, or UDP flows (one per client address and port) begun. */
  connectionsTotal: number;
  /** TCP connections open now, or UDP flows not yet expired. */
  connectionsActive: number;
  /** Bytes from clients to backends. */
  bytesIn: number;
  /** Bytes from backends to clients. */
  bytesOut: number;
  /** Backends that refused, timed out or answered with an error (ICMP for UDP). */
  backendErrors: number;
  /** Connections closed (datagrams dropped) because no backend could take them. */
  rejected: number;
}

export const zeroCounters = (): ProxyCounters => ({
  connectionsTotal: 0,
  connectionsActive: 0,
  bytesIn: 0,
  bytesOut: 0,
  backendErrors: 0,
  rejected: 0,
});

export interface PortProxy {
  readonly bind: { host: string; port: number };
  readonly counters: ProxyCounters;
  /** Binds the listener; rejects (EADDRINUSE, EADDRNOTAVAIL, ...) leaving nothing open, so it can be called again. */
  listen(): Promise<void>;
  /**
   * New connections or flows go to these backends from now on. Open TCP connections to a backend that left are
   * drained (they end with the task's stop grace period); UDP flows to it are closed so the next datagram re-picks.
   */
  setBackends(backends: readonly BackendAddr[], strategy: Strategy): void;
  /** Closes the listener and everything open through it. */
  close(): Promise<void>;
}
