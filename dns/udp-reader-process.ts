/**
 * An extra UDP reader: a child process answering on the resolver's address, so queries spread over more than one
 * CPU. With the batch socket (udp-batch-socket.ts) it binds a socket of its own in the resolver's SO_REUSEPORT
 * group, and the kernel spreads clients over the group by their address and port; with dgram (Node 20 has no
 * reusePort) it receives the resolver's bound socket and answers from the same fd: every reader waits on it, one
 * wins each datagram. It keeps its own Records (built from the table it starts with, then updated by each change
 * the main process sends, acknowledged so the resolver can tell when all readers answer for a new task) and its
 * own forwarder and cache. It exits when the main process goes away.
 */
import * as dgram from 'node:dgram';
import { systemClock } from '../control/base/clock';
import type { Logger } from '../control/base/log';
import type { EndpointTable } from '../mesh/endpoint-table';
import { Answerer } from './answer';
import { Forwarder } from './forwarder';
import { QueryHandler, answerOnBatchSocket, plainAddress } from './query-handler';
import { Records } from './records';
import { COUNTERS_PERIOD_MS, type FromReader, type ReaderConfig, type ToReader } from './udp-reader-protocol';

function tell(m: FromReader): void {
  if (process.connected) process.send!(m);
}

/** Warnings go to the main process's logger; the reader has no log of its own. */
const ipcLogger: Logger = {
  debug() {},
  info() {},
  warn: (msg, fields) => tell({ kind: 'log', level: 'warn', msg, fields: plain(fields) }),
  error: (msg, fields) => tell({ kind: 'log', level: 'error', msg, fields: plain(fields) }),
  child: () => ipcLogger,
};

function plain(fields?: Record<string, unknown>): Record<string, unknown> | undefined {
  if (!fields) return undefined;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fields)) out[k] = v instanceof Error ? v.message : v;
  return out;
}

function start(config: ReaderConfig, gen: number, table: EndpointTable, sock: dgram.Socket | undefined): void {
  const forwarder = new Forwarder({
    upstreams: config.upstreams,
    clock: systemClock,
    logger: ipcLogger,
    timeoutMs: config.forwardTimeoutMs,
    maxInFlight: config.maxInFlight,
    cacheSize: config.cacheSize,
  });
  const answerer = new Answerer(Records.build(table), config.answer);
  const handler = new QueryHandler(answerer, forwarder);
  if (config.batchUdp) {
    // Bound only now, with the records built: the kernel sends this socket its share of clients from the start.
    answerOnBatchSocket(handler, config.batchUdp.address, config.batchUdp.port, 'join');
  } else if (sock) {
    // Attached in the same tick the socket arrives, so no datagram is read before there is a listener.
    sock.on('message', (msg, rinfo) => {
      if (rinfo.port === 0) return;
      handler.handle(msg, plainAddress(rinfo.address), 512, (resp) => {
        if (resp) sock.send(resp, rinfo.port, rinfo.address);
      });
    });
    sock.on('error', (err) => ipcLogger.warn('dns reader udp socket error', { err }));
  }
  tell({ kind: 'applied', gen });
  process.on('message', (m: ToReader) => {
    if (m.kind !== 'change') return;
    // One synchronous step between two datagrams: no query sees half the change.
    answerer.apply(m.change);
    tell({ kind: 'applied', gen: m.gen });
  });
  setInterval(() => tell({ kind: 'counters', snapshot: handler.counters.snapshot() }), COUNTERS_PERIOD_MS).unref();
}

if (require.main === module) {
  process.title = 'shoal-dns-reader';
  process.on('disconnect', () => process.exit(0));
  process.once('message', (m: ToReader, sock: dgram.Socket | undefined) => {
    if (m.kind !== 'init' || (!sock && !m.config.batchUdp)) {
      tell({ kind: 'log', level: 'error', msg: 'dns reader: expected init with the UDP socket (or where to bind one) first' });
      process.exit(1);
    }
    try {
      start(m.config, m.gen, m.table, sock);
    } catch (err) {
      // The pool replaces a reader that exits; it logs this reason first.
      tell({ kind: 'log', level: 'error', msg: 'dns reader could not start', fields: { err: (err as Error).message } });
      process.exit(1);
    }
  });
}
