/**
 * The messages between the resolver (udp-reader-pool.ts) and its extra UDP reader processes
 * (udp-reader-process.ts), by structured clone (fork's 'advanced' serialization). A reader starts from the whole
 * table, then applies each change the main process's records made (records.ts: RecordsChange — usually the few
 * services that changed) with the same code, in the same order, so every reader answers alike.
 */
import type { EndpointTable } from '../mesh/endpoint-table';
import type { AnswerOptions } from './answer';
import type { RecordsChange } from './records';
import type { DnsCountersSnapshot } from './counters';
import type { Upstream } from './forwarder';

/** What a reader needs besides the table: the same answer and forwarding settings as the main process. */
export interface ReaderConfig {
  answer: Omit<AnswerOptions, 'random'>;
  upstreams: Upstream[];
  forwardTimeoutMs?: number;
  maxInFlight?: number;
  cacheSize?: number;
  /** Set when the resolver reads UDP in batches: the reader binds a socket of its own there, in the resolver's SO_REUSEPORT group. */
  batchUdp?: { address: string; port: number };
}

export type ToReader =
  /** Sent once, with the shared dgram socket as the handle (none when config.batchUdp says where to bind). */
  | { kind: 'init'; config: ReaderConfig; gen: number; table: EndpointTable }
  /** Brings the reader from generation gen-1 to gen; changes arrive in order, none is skipped. */
  | { kind: 'change'; gen: number; change: RecordsChange };

export type FromReader =
  /** The reader answers from table generation `gen` (or a newer one) from now on. */
  | { kind: 'applied'; gen: number }
  | { kind: 'counters'; snapshot: DnsCountersSnapshot }
  | { kind: 'log'; level: 'warn' | 'error'; msg: string; fields?: Record<string, unknown> };

/** How often a reader reports its counters to the main process (metrics read the sum at scrape time). */
export const COUNTERS_PERIOD_MS = 1000;
