/**
 * Forwarding for names that are not ours: upstreams tried in order (healthy ones first), UDP with a retry over TCP
 * when the answer comes back truncated, a timeout per try and then the next upstream, SERVFAIL when all fail.
 * Upstream answers are cached for their TTL (negative answers for their SOA minimum) on the injected clock, so a
 * FakeClock drives expiry and health in tests. Identical questions in flight share one upstream query, and the
 * number of upstream queries in flight is capped so a flood cannot turn into unbounded memory.
 */
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import * as dnsPacket from 'dns-packet';
import type { Clock, Timer } from '../control/base/clock';
import type { Logger } from '../control/base/log';
import { FLAG, RCODE, OUR_EDNS_SIZE, countsFit } from './response';
import { ForwardCache } from './forward-cache';

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

interface UpstreamState extends Upstream {
  failures: number;
  downUntil: number;
  queries: number;
  errors: number;
}

interface Pending {
  resolve: (p: dnsPacket.Packet | undefined) => void;
  name: string;
  type: string;
  up: UpstreamState;
  timer: Timer;
}

export class Forwarder {
  private readonly ups: UpstreamState[];
  private readonly timeoutMs: number;
  private readonly maxInFlight: number;
  private readonly failuresToDown: number;
  private readonly downMs: number;
  private readonly cache: ForwardCache;
  private readonly shared = new Map<string, Promise<ForwardOutcome>>();
  private readonly pending = new Map<number, Pending>();
  private sock4?: dgram.Socket;
  private sock6?: dgram.Socket;
  private inFlight = 0;
  private closed = false;
  readonly stats = { forwarded: 0, cacheHits: 0, overflow: 0, timeouts: 0, tcpRetries: 0, servfail: 0 };

  constructor(private readonly opts: ForwarderOptions) {
    this.ups = opts.upstreams.map((u) => ({ ...u, failures: 0, downUntil: 0, queries: 0, errors: 0 }));
    this.timeoutMs = opts.timeoutMs ?? 2000;
    this.maxInFlight = opts.maxInFlight ?? 1024;
    this.failuresToDown = opts.failuresToDown ?? 2;
    this.downMs = opts.downMs ?? 30_000;
    this.cache = new ForwardCache(opts.clock, opts.cacheSize ?? 10_000, opts.maxCacheTtl ?? 3600);
  }

  /** Per-upstream health for metrics and `explain`. */
  upstreams(): Array<Upstream & { healthy: boolean; queries: number; errors: number }> {
    const now = this.opts.clock.now();
    return this.ups.map((u) => ({ host: u.host, port: u.port, healthy: u.downUntil <= now, queries: u.queries, errors: u.errors }));
  }

  /** An answer for the question: from the cache, a shared query in flight, or the upstreams. Never rejects. */
  resolve(q: dnsPacket.Question): Promise<ForwardOutcome> {
    const key = `${q.name.toLowerCase()}|${q.type}|${q.class ?? 'IN'}`;
    const hit = this.cache.get(key);
    if (hit) {
      this.stats.cacheHits++;
      return Promise.resolve({ kind: 'answer', packet: hit, cached: true });
    }
    const same = this.shared.get(key);
    if (same) return same;
    if (this.ups.length === 0) return Promise.resolve({ kind: 'servfail', reason: 'none' });
    if (this.inFlight >= this.maxInFlight) {
      this.stats.overflow++;
      return Promise.resolve({ kind: 'servfail', reason: 'overflow' });
    }
    this.inFlight++;
    this.stats.forwarded++;
    const p = this.tryAll(q)
      .catch(() => undefined)
      .then((packet): ForwardOutcome => {
        this.inFlight--;
        this.shared.delete(key);
        if (!packet) {
          this.stats.servfail++;
          return { kind: 'servfail', reason: 'failed' };
        }
        this.cache.put(key, packet);
        return { kind: 'answer', packet, cached: false };
      });
    this.shared.set(key, p);
    return p;
  }

  /** Healthy upstreams in configured order, then the down ones (best effort beats no answer). */
  private order(): UpstreamState[] {
    const now = this.opts.clock.now();
    if (this.ups.every((u) => u.downUntil <= now)) return this.ups;
    return [...this.ups.filter((u) => u.downUntil <= now), ...this.ups.filter((u) => u.downUntil > now)];
  }

  private async tryAll(q: dnsPacket.Question): Promise<dnsPacket.Packet | undefined> {
    for (const up of this.order()) {
      if (this.closed) return undefined;
      up.queries++;
      let ans = await this.udp(up, q);
      if (ans && (ans.flags ?? 0) & FLAG.TC) {
        this.stats.tcpRetries++;
        ans = await this.tcp(up, q);
      }
      const rcode = ans ? (ans.flags ?? 0) & 0xf : -1;
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

  private udp(up: UpstreamState, q: dnsPacket.Question): Promise<dnsPacket.Packet | undefined> {
    const sock = this.socket(net.isIPv6(up.host));
    let id: number;
    do id = (Math.random() * 0x10000) >>> 0;
    while (this.pending.has(id));
    return new Promise((resolve) => {
      const timer = this.opts.clock.setTimeout(() => {
        this.pending.delete(id);
        this.stats.timeouts++;
        resolve(undefined);
      }, this.timeoutMs);
      this.pending.set(id, { resolve, name: q.name.toLowerCase(), type: q.type, up, timer });
      // No send callback: with one, Node cannot take its synchronous try-send path (a third of the cost). A send
      // that fails shows as the socket's 'error' event, and the query as a timeout, then the next upstream.
      sock.send(this.query(q, id), up.port, up.host);
    });
  }

  private socket(v6: boolean): dgram.Socket {
    const existing = v6 ? this.sock6 : this.sock4;
    if (existing) return existing;
    const s = dgram.createSocket(v6 ? 'udp6' : 'udp4');
    s.on('error', (err) => this.opts.logger.warn('dns forwarder socket error', { err }));
    s.on('message', (msg, rinfo) => this.onReply(msg, rinfo));
    s.unref();
    if (v6) this.sock6 = s;
    else this.sock4 = s;
    return s;
  }

  /** Accept only what answers our question from the server we asked (spoofed or stray packets are ignored). */
  private onReply(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    if (msg.length < 12) return;
    const p = this.pending.get(msg.readUInt16BE(0));
    if (!p || rinfo.port !== p.up.port || rinfo.address !== p.up.host || !countsFit(msg)) return;
    let pkt: dnsPacket.DecodedPacket;
    try {
      pkt = dnsPacket.decode(msg);
    } catch {
      return;
    }
    const q = pkt.questions?.[0];
    if (!pkt.flag_qr || !q || q.name.toLowerCase() !== p.name || q.type !== p.type) return;
    this.pending.delete(msg.readUInt16BE(0));
    p.timer.cancel();
    p.resolve(pkt);
  }

  private tcp(up: UpstreamState, q: dnsPacket.Question): Promise<dnsPacket.Packet | undefined> {
    return new Promise((resolve) => {
      const id = (Math.random() * 0x10000) >>> 0;
      const body = this.query(q, id);
      const frame = Buffer.allocUnsafe(2 + body.length);
      frame.writeUInt16BE(body.length, 0);
      body.copy(frame, 2);
      let buf = Buffer.alloc(0);
      let done = false;
      const finish = (p: dnsPacket.Packet | undefined): void => {
        if (done) return;
        done = true;
        timer.cancel();
        sock.destroy();
        resolve(p);
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
        try {
          if (!countsFit(buf.subarray(2, 2 + len))) return finish(undefined);
          const pkt = dnsPacket.decode(buf.subarray(2, 2 + len));
          finish(pkt.id === id && pkt.flag_qr ? pkt : undefined);
        } catch {
          finish(undefined);
        }
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
