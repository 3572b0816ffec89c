/**
 * Forwarding for names that are not ours, as a relay: the client's query bytes go upstream with only the ID
 * rewritten, and the upstream's answer bytes come back to be sent with only the client's ID restored — no decode
 * and re-encode per query (that, not the extra hop, made a forwarded name cost 4x asking the upstream directly).
 * Upstreams are tried in order (healthy ones first), UDP with a retry over TCP when the answer comes back
 * truncated, a timeout per try and then the next upstream, SERVFAIL when all fail. An answer larger than the
 * client may take is decoded and handed back as a packet, for the caller to truncate. Answers are cached for
 * their TTL (negative answers for their SOA minimum), read from the bytes first so an answer that may not be
 * cached is never decoded; hits are served from the decoded packet. Time is the injected clock, so a FakeClock
 * drives expiry and health in tests. Identical queries in flight (the same bytes but the ID) share one upstream
 * query, and the number of upstream queries in flight is capped so a flood cannot turn into unbounded memory.
 */
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import * as dnsPacket from 'dns-packet';
import type { Clock, Timer } from '../control/base/clock';
import type { Logger } from '../control/base/log';
import { FLAG, RCODE, OUR_EDNS_SIZE, countsFit } from './response';
import { ForwardCache } from './forward-cache';
import { isPlainQuery, questionEnd, sameQuestion, wireCacheTtl } from './wire';
import { WireCache } from './wire-cache';
import { literalLookup } from '../control/base/literal-lookup';

export interface Upstream {
  host: string;
  port: number;
}

export interface ForwarderOptions {
  upstreams: Upstream[];
  clock: Clock;
  logger: Logger;
  /** Per try (UDP, or TCP after TC). Default 2000 ms (Docker: 4 s). */
  timeoutMs?: number;
  /** Upstream queries in flight at most; beyond it questions get SERVFAIL at once. Default 1024, as Docker. */
  maxInFlight?: number;
  /** Cached answers at most (oldest evicted). Default 10,000. */
  cacheSize?: number;
  /** Longest TTL a cached answer is kept for, seconds. Default 3600. */
  maxCacheTtl?: number;
  /** Consecutive failures that mark an upstream down; default 2. */
  failuresToDown?: number;
  /** How long a down upstream is tried only after the healthy ones; default 30 s. */
  downMs?: number;
}

export type ForwardOutcome =
  | { kind: 'answer'; packet: dnsPacket.Packet; cached: boolean }
  | { kind: 'servfail'; reason: 'overflow' | 'failed' | 'none' };

/**
 * What relay() gives: the upstream's answer as it came (a copy of its own, with the upstream's ID: the caller
 * writes the client's), or, for a cache hit or an answer over the client's size, a packet to encode.
 */
export type RelayOutcome = { kind: 'relayed'; bytes: Buffer; cached?: boolean } | ForwardOutcome;

const TC_BYTE = 2;
const TC_BIT = 0x02;
/** RD (recursion desired) is the low bit of the same flags byte. */
const RD_BIT = 0x01;
const QR_BIT = 0x80;

interface UpstreamState extends Upstream {
  v6: boolean;
  failures: number;
  downUntil: number;
  queries: number;
  errors: number;
}

interface Pending {
  resolve: (answer: Buffer | undefined) => void;
  /** The question as sent (offset 12 to its end): an answer must repeat it. */
  question: Buffer;
  up: UpstreamState;
  timer: Timer;
}

export class Forwarder {
  private readonly ups: UpstreamState[];
  private readonly timeoutMs: number;
  private readonly maxInFlight: number;
  private readonly failuresToDown: number;
  private readonly downMs: number;
  /** Answers to queries that carry client-specific options (cookies...), decoded, by name, type and class. */
  private readonly cache: ForwardCache;
  /** Answers to plain queries (most: libc resolvers send nothing else), as bytes (wire-cache.ts). */
  private readonly wireCache: WireCache;
  /** Upstream queries in flight by the query's bytes after the ID: the same bytes get the same answer. */
  private readonly shared = new Map<string, Promise<Buffer | undefined>>();
  private readonly pending = new Map<number, Pending>();
  private sock4?: dgram.Socket;
  private sock6?: dgram.Socket;
  private inFlight = 0;
  private closed = false;
  readonly stats = { forwarded: 0, cacheHits: 0, overflow: 0, timeouts: 0, tcpRetries: 0, servfail: 0 };

  constructor(private readonly opts: ForwarderOptions) {
    for (const u of opts.upstreams) {
      // Sockets send without a name lookup (control/base/literal-lookup.ts), so a name here would never be resolved.
      if (!net.isIP(u.host)) throw new Error(`dns upstream "${u.host}" is not an IP address: give upstreams as IP and port, e.g. 192.0.2.53:53`);
      if (!Number.isInteger(u.port) || u.port < 1 || u.port > 65535) throw new Error(`dns upstream ${u.host} has port ${u.port}: use 1-65535 (53 for a normal resolver)`);
    }
    this.ups = opts.upstreams.map((u) => ({ ...u, v6: net.isIPv6(u.host), failures: 0, downUntil: 0, queries: 0, errors: 0 }));
    this.timeoutMs = opts.timeoutMs ?? 2000;
    this.maxInFlight = opts.maxInFlight ?? 1024;
    this.failuresToDown = opts.failuresToDown ?? 2;
    this.downMs = opts.downMs ?? 30_000;
    this.cache = new ForwardCache(opts.clock, opts.cacheSize ?? 10_000, opts.maxCacheTtl ?? 3600);
    this.wireCache = new WireCache(opts.clock, opts.cacheSize ?? 10_000, opts.maxCacheTtl ?? 3600);
  }

  /** Per-upstream health for metrics and `explain`. */
  upstreams(): Array<Upstream & { healthy: boolean; queries: number; errors: number }> {
    const now = this.opts.clock.now();
    return this.ups.map((u) => ({ host: u.host, port: u.port, healthy: u.downUntil <= now, queries: u.queries, errors: u.errors }));
  }

  /**
   * The cached answer to a plain query, when there is one that fits `limit`: a copy for this client (its ID still
   * to be written), at once. Undefined otherwise — relay() then does the rest (an over-size hit, a miss).
   */
  cachedBytes(query: Buffer, limit: number): Buffer | undefined {
    const qEnd = questionEnd(query);
    if (qEnd < 0 || !isPlainQuery(query, qEnd)) return undefined;
    const hit = this.wireCache.get(WireCache.key(query, qEnd), query, qEnd);
    if (!hit || hit.length > limit) return undefined;
    this.stats.cacheHits++;
    return hit;
  }

  /**
   * The answer to a client's query (already checked by the general path: one question, opcode QUERY), relayed:
   * from the cache, a shared query in flight, or the upstreams. `limit` is the most the client may be sent (512,
   * its EDNS size, or 65535 on TCP). Never rejects.
   */
  relay(query: Buffer, question: dnsPacket.Question, limit: number): Promise<RelayOutcome> {
    const qEnd = questionEnd(query);
    const plain = qEnd > 0 && isPlainQuery(query, qEnd);
    let key: string;
    if (plain) {
      key = WireCache.key(query, qEnd);
      const hit = this.wireCache.get(key, query, qEnd);
      if (hit) {
        this.stats.cacheHits++;
        if (hit.length <= limit) return Promise.resolve({ kind: 'relayed', bytes: hit, cached: true });
        const big = this.decoded(hit); // over this client's size: the caller truncates it
        return Promise.resolve(big.kind === 'answer' ? { ...big, cached: true } : big);
      }
    } else {
      key = `${question.name.toLowerCase()}|${question.type}|${question.class ?? 'IN'}`;
      const hit = this.cache.get(key);
      if (hit) {
        this.stats.cacheHits++;
        return Promise.resolve({ kind: 'answer', packet: hit, cached: true });
      }
    }
    const wire = query.toString('latin1', 2);
    let answer = this.shared.get(wire);
    if (!answer) {
      if (this.ups.length === 0) return Promise.resolve({ kind: 'servfail', reason: 'none' });
      if (this.inFlight >= this.maxInFlight) {
        this.stats.overflow++;
        return Promise.resolve({ kind: 'servfail', reason: 'overflow' });
      }
      answer = this.ask(query, key, wire, plain);
    }
    return answer.then((bytes) => this.outcome(bytes, limit));
  }

  /**
   * The question asked with a query of our own (RD, our EDNS size) and the answer decoded: for callers without
   * a client's query to relay (tests, diagnostics). Never rejects.
   */
  async resolve(q: dnsPacket.Question): Promise<ForwardOutcome> {
    const out = await this.relay(this.query(q, 0), q, 65535);
    if (out.kind !== 'relayed') return out;
    const d = this.decoded(out.bytes);
    return d.kind === 'answer' ? { ...d, cached: out.cached === true } : d;
  }

  /** `plain`: relay()'s finding that the query carries nothing client-specific (its answer is kept as bytes). */
  private ask(query: Buffer, key: string, wire: string, plain: boolean): Promise<Buffer | undefined> {
    this.inFlight++;
    this.stats.forwarded++;
    const p = this.tryAll(query)
      .catch(() => undefined)
      .then((bytes) => {
        this.inFlight--;
        this.shared.delete(wire);
        if (!bytes) this.stats.servfail++;
        // Read the TTL off the bytes; an answer that may be kept is kept as bytes for plain queries, else
        // decoded (once, for all later hits).
        else if (wireCacheTtl(bytes) > 0) {
          if (plain) this.wireCache.put(key, bytes);
          else this.remember(key, bytes);
        }
        return bytes;
      });
    this.shared.set(wire, p);
    return p;
  }

  private outcome(bytes: Buffer | undefined, limit: number): RelayOutcome {
    if (!bytes) return { kind: 'servfail', reason: 'failed' };
    // Each waiter gets a copy of its own: it writes its client's ID into it and hands it to a socket.
    if (bytes.length <= limit) return { kind: 'relayed', bytes: Buffer.from(bytes) };
    return this.decoded(bytes);
  }

  /** An answer as a packet (for the caller to truncate, or for a test to read); SERVFAIL when it will not decode. */
  private decoded(bytes: Buffer): ForwardOutcome {
    try {
      if (countsFit(bytes)) return { kind: 'answer', packet: dnsPacket.decode(bytes), cached: false };
    } catch {
      // falls through: an upstream answer we cannot read is no answer
    }
    return { kind: 'servfail', reason: 'failed' };
  }

  private remember(key: string, bytes: Buffer): void {
    const out = this.decoded(bytes);
    if (out.kind === 'answer') this.cache.put(key, out.packet);
  }

  /** Healthy upstreams in configured order, then the down ones (best effort beats no answer). */
  private order(): UpstreamState[] {
    const now = this.opts.clock.now();
    if (this.ups.every((u) => u.downUntil <= now)) return this.ups;
    return [...this.ups.filter((u) => u.downUntil <= now), ...this.ups.filter((u) => u.downUntil > now)];
  }

  private async tryAll(query: Buffer): Promise<Buffer | undefined> {
    const qEnd = questionEnd(query);
    if (qEnd < 0) return undefined;
    const question = query.subarray(12, qEnd);
    // The client's RD goes upstream as sent; a recursive resolver may refuse a query without it. That refusal is
    // the answer to this client, not a sign the upstream is down (one `dig +norec` must not demote it for all).
    const recursive = (query[2] & RD_BIT) !== 0;
    for (const up of this.order()) {
      if (this.closed) return undefined;
      up.queries++;
      let ans = await this.udp(up, query, question);
      if (ans && ans[TC_BYTE] & TC_BIT) {
        this.stats.tcpRetries++;
        ans = await this.tcp(up, query, question);
      }
      const rcode = ans ? ans[3] & 0xf : -1;
      if (ans && rcode === RCODE.REFUSED && !recursive) return ans;
      // SERVFAIL and REFUSED say "this server cannot", not "no such name": try the next one (as Docker).
      if (!ans || rcode === RCODE.SERVFAIL || rcode === RCODE.REFUSED || rcode === RCODE.NOTIMP) {
        this.fail(up);
        continue;
      }
      up.failures = 0;
      up.downUntil = 0;
      return ans;
    }
    return undefined;
  }

  private fail(up: UpstreamState): void {
    up.errors++;
    if (++up.failures >= this.failuresToDown && up.downUntil <= this.opts.clock.now()) {
      up.downUntil = this.opts.clock.now() + this.downMs;
      this.opts.logger.warn('dns upstream marked down', { upstream: `${up.host}:${up.port}`, failures: up.failures });
    }
  }

  private query(q: dnsPacket.Question, id: number): Buffer {
    const opt = { name: '.', type: 'OPT', udpPayloadSize: OUR_EDNS_SIZE, ednsVersion: 0, flags: 0, options: [] };
    return dnsPacket.encode({ id, type: 'query', flags: FLAG.RD, questions: [q], additionals: [opt as unknown as dnsPacket.Answer] });
  }

  /** The client's query with a fresh ID of ours (the ID is all that is rewritten). */
  private withId(query: Buffer, id: number): Buffer {
    const out = Buffer.from(query);
    out.writeUInt16BE(id, 0);
    return out;
  }

  private udp(up: UpstreamState, query: Buffer, question: Buffer): Promise<Buffer | undefined> {
    const sock = this.socket(up.v6);
    let id: number;
    do id = (Math.random() * 0x10000) >>> 0;
    while (this.pending.has(id));
    return new Promise((resolve) => {
      const timer = this.opts.clock.setTimeout(() => {
        this.pending.delete(id);
        this.stats.timeouts++;
        resolve(undefined);
      }, this.timeoutMs);
      this.pending.set(id, { resolve, question, up, timer });
      // No send callback: with one, Node cannot take its synchronous try-send path (a third of the cost). A send
      // that fails shows as the socket's 'error' event, and the query as a timeout, then the next upstream.
      sock.send(this.withId(query, id), up.port, up.host);
    });
  }

  private socket(v6: boolean): dgram.Socket {
    const existing = v6 ? this.sock6 : this.sock4;
    if (existing) return existing;
    const s = dgram.createSocket({ type: v6 ? 'udp6' : 'udp4', lookup: literalLookup });
    s.on('error', (err) => this.opts.logger.warn('dns forwarder socket error', { err }));
    s.on('message', (msg, rinfo) => this.onReply(msg, rinfo));
    s.unref();
    if (v6) this.sock6 = s;
    else this.sock4 = s;
    return s;
  }

  /** Accept only what answers our question from the server we asked (spoofed or stray packets are ignored). */
  private onReply(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    if (msg.length < 12 || !(msg[2] & QR_BIT)) return;
    const id = msg.readUInt16BE(0);
    const p = this.pending.get(id);
    if (!p || rinfo.port !== p.up.port || rinfo.address !== p.up.host || !sameQuestion(msg, p.question)) return;
    this.pending.delete(id);
    p.timer.cancel();
    p.resolve(msg);
  }

  private tcp(up: UpstreamState, query: Buffer, question: Buffer): Promise<Buffer | undefined> {
    return new Promise((resolve) => {
      const id = (Math.random() * 0x10000) >>> 0;
      const frame = Buffer.allocUnsafe(2 + query.length);
      frame.writeUInt16BE(query.length, 0);
      query.copy(frame, 2);
      frame.writeUInt16BE(id, 2);
      let buf = Buffer.alloc(0);
      let done = false;
      const finish = (answer: Buffer | undefined): void => {
        if (done) return;
        done = true;
        timer.cancel();
        sock.destroy();
        resolve(answer);
      };
      const timer = this.opts.clock.setTimeout(() => {
        this.stats.timeouts++;
        finish(undefined);
      }, this.timeoutMs);
      const sock = net.connect({ host: up.host, port: up.port }, () => sock.write(frame));
      sock.on('error', () => finish(undefined));
      sock.on('close', () => finish(undefined));
      sock.on('data', (chunk) => {
        buf = Buffer.concat([buf, chunk]);
        if (buf.length < 2) return;
        const len = buf.readUInt16BE(0);
        if (buf.length < 2 + len) return;
        const msg = buf.subarray(2, 2 + len);
        const ours = len >= 12 && msg.readUInt16BE(0) === id && msg[2] & QR_BIT && sameQuestion(msg, question);
        finish(ours ? msg : undefined);
      });
    });
  }

  /** Fails what is in flight and closes the sockets. */
  close(): void {
    this.closed = true;
    for (const [id, p] of this.pending) {
      this.pending.delete(id);
      p.timer.cancel();
      p.resolve(undefined);
    }
    this.sock4?.close();
    this.sock6?.close();
    this.sock4 = this.sock6 = undefined;
    this.cache.clear();
  }
}
