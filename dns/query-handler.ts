/**
 * One query in, at most one reply out: the fast path, then the general path, then (for names that are not ours)
 * the forwarder's relay (the upstream's answer bytes go back with the client's ID; cache hits and answers too
 * big for the client are encoded here), with the counters kept on the way. Shared by the main listeners
 * (server.ts) and the extra UDP readers (udp-reader-process.ts), so every reader answers exactly alike. Nothing a packet does may throw out of
 * handle(): every step is guarded, counted and dropped, and the caller goes on.
 */
import { performance } from 'node:perf_hooks';
import * as dnsPacket from 'dns-packet';
import type { Answerer } from './answer';
import type { Forwarder } from './forwarder';
import { DnsCounters } from './counters';
import { RCODE, RCODE_NAME, encodeResponse, fromUpstream, servfail } from './response';
import { BatchUdpSocket, type BatchMode } from './udp-batch-socket';

export type Reply = (resp: Buffer | undefined) => void;

export class QueryHandler {
  readonly counters = new DnsCounters();

  constructor(
    /** Updated in place on table changes (between two queries: handle() is synchronous up to forwarding). */
    readonly answerer: Answerer,
    private readonly forwarder: Forwarder,
  ) {}

  /**
   * Calls reply exactly once: with the answer, or with undefined when the query is dropped. Never throws. Reads q
   * only until it returns (what it keeps, it copies), so q may be a view of a buffer the caller reuses.
   */
  handle(q: Buffer, source: string, maxSize: number, reply: Reply): void {
    const t0 = performance.now();
    const c = this.counters;
    const a = this.answerer;
    try {
      // One memo lookup: a local answer, or for a plain question whose name is not ours, "forward" without a decode.
      const quick = a.quick(q, source, maxSize);
      if (Buffer.isBuffer(quick)) {
        c.fastPath++;
        c.count(q[q.length - 3] === 28 ? 'AAAA' : 'A', 'NOERROR');
        c.observe(performance.now() - t0);
        return reply(quick);
      }
      const r = quick ?? a.general(q, source, maxSize);
      if (r.kind === 'drop') {
        c.dropped++;
        return reply(undefined);
      }
      if (r.kind === 'answer') {
        c.count(r.qtype, RCODE_NAME[r.rcode] ?? String(r.rcode));
        if (r.rcode === RCODE.FORMERR) c.formErrors++;
        if (r.truncated) c.truncated++;
        c.observe(performance.now() - t0);
        return reply(r.bytes);
      }
      c.forwarded++;
      // The upstream's bytes as they came (or as cached), with the client's ID back: its flags, records and EDNS stand.
      const relayed = (bytes: Buffer, cached: boolean | undefined, query: Buffer): void => {
        if (cached) c.cacheHits++;
        bytes[0] = query[0];
        bytes[1] = query[1];
        const rcode = bytes[3] & 0xf;
        c.count(r.question.type, RCODE_NAME[rcode] ?? String(rcode));
        if (bytes[2] & 0x02) c.truncated++;
        c.observe(performance.now() - t0);
        reply(bytes);
      };
      // A cached answer to a plain query is sent at once: no promise, no turn of the event loop.
      const hit = this.forwarder.cachedBytes(q, r.limit);
      if (hit) return relayed(hit, true, q);
      // q may be a view of a receive buffer that the next datagram overwrites (udp-batch-socket.ts): keep a copy.
      const own = Buffer.from(q);
      this.forwarder.relay(own, r.question, r.limit).then(
        (out) => {
          try {
            if (out.kind === 'relayed') return relayed(out.bytes, out.cached, own);
            if (out.kind === 'answer' && out.cached) c.cacheHits++;
            const local = out.kind === 'answer' ? fromUpstream(out.packet) : servfail();
            const { bytes, truncated } = encodeResponse(dnsPacket.decode(own), r.question, local, r.limit, r.edns);
            c.count(r.question.type, RCODE_NAME[local.rcode] ?? String(local.rcode));
            if (truncated) c.truncated++;
            c.observe(performance.now() - t0);
            reply(bytes);
          } catch {
            c.errors++;
            reply(undefined);
          }
        },
        () => {
          c.errors++;
          reply(undefined);
        },
      );
    } catch {
      c.errors++;
      reply(undefined);
    }
  }
}

/** "::ffff:10.0.1.5" → "10.0.1.5", so task addresses match however the socket reports them. */
export function plainAddress(a: string): string {
  return a.startsWith('::ffff:') ? a.slice(7) : a;
}

/**
 * A batch UDP socket (udp-batch-socket.ts) whose datagrams this handler answers, with the socket's drops counted
 * as the handler's: the resolver's own and each extra reader's are made alike.
 */
export function answerOnBatchSocket(handler: QueryHandler, address: string, port: number, mode: BatchMode): BatchUdpSocket {
  const c = handler.counters;
  return new BatchUdpSocket({
    address,
    port,
    mode,
    onDatagram: (msg, source, _port, reply) => handler.handle(msg, source, 512, reply),
    onOversized: () => c.dropped++,
    onSendFailed: (n) => (c.dropped += n),
  });
}
