/**
 * The listeners: UDP and one TCP server on the same address and port. Each query goes to the query handler (fast
 * path, general path, forwarder); exactly one reply or none comes back per query.
 *
 * UDP is read in batches (udp-batch-socket.ts: recvmmsg/sendmmsg, about twice the queries per CPU second) when
 * its native part is built, else with Node's dgram (said in the log). Extra reader processes (udp-reader-pool.ts)
 * bind sockets of their own in the batch socket's SO_REUSEPORT group and then do all the UDP reading, or share the
 * dgram socket with this one.
 *
 * TCP is served here only, with the 2-byte length framing of RFC 1035 §4.2.2 and limits a hostile peer cannot
 * stretch: a connection cap, an idle timeout, a bound on queries in flight per connection (the socket is paused
 * beyond it) and on unsent output. Nothing a packet does may throw out of these handlers: every step is guarded,
 * counted and dropped, and the server goes on.
 */
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import type { Logger } from '../control/base/log';
import type { Answerer } from './answer';
import type { Forwarder } from './forwarder';
import type { DnsCounters } from './counters';
import { QueryHandler, answerOnBatchSocket, plainAddress } from './query-handler';
import { literalLookup } from '../control/base/literal-lookup';
import { probeUdpPort, udpBatchNative, type BatchUdpSocket } from './udp-batch-socket';

/** How UDP is read: in batches (the native socket) or with Node's dgram, a datagram at a time. */
export type UdpIo = 'batch' | 'dgram';

export interface DnsServerOptions {
  address: string;
  /** 0 picks a free port (the TCP listener then takes the same one). */
  port: number;
  logger: Logger;
  answerer: Answerer;
  forwarder: Forwarder;
  /** A TCP connection with no traffic for this long is closed. Default 10 s. */
  tcpIdleMs?: number;
  maxTcpConnections?: number;
  /** Queries one TCP connection may have unanswered before we stop reading from it. Default 32. */
  maxTcpPending?: number;
  /** Default: 'batch' when its native part is built, else 'dgram'. Asking for 'batch' without it fails listen(). */
  udpIo?: UdpIo;
  /**
   * With batch UDP: extra reader processes (udp-reader-pool.ts) bind their own sockets on our address and port and
   * do all UDP reading, so a busy main event loop (the control plane) never delays an answer. listen() then only
   * checks the port is free (and picks it, for port 0).
   */
  udpReadersElsewhere?: boolean;
}

const MAX_TCP_BACKLOG_BYTES = 1 << 20;

export class DnsServer {
  private readonly handler: QueryHandler;
  private udp?: dgram.Socket;
  private batch?: BatchUdpSocket;
  /** Batch UDP read by the extra readers only (udpReadersElsewhere). */
  private batchElsewhere = false;
  private tcp?: net.Server;
  private readonly conns = new Set<net.Socket>();
  private boundPort = 0;

  constructor(private readonly opts: DnsServerOptions) {
    this.handler = new QueryHandler(opts.answerer, opts.forwarder);
  }

  get counters(): DnsCounters {
    return this.handler.counters;
  }

  /** The bound dgram socket, for extra readers that share it (udp-reader-pool.ts); undefined before listen() and with batch UDP. */
  get udpSocket(): dgram.Socket | undefined {
    return this.udp;
  }

  /** How UDP is read; undefined before listen(). */
  get udpIo(): UdpIo | undefined {
    return this.batch || this.batchElsewhere ? 'batch' : this.udp ? 'dgram' : undefined;
  }

  get port(): number {
    return this.boundPort;
  }

  async listen(): Promise<void> {
    const batch = this.batchWanted();
    if (batch && this.opts.udpReadersElsewhere) {
      this.boundPort = probeUdpPort(this.opts.address, this.opts.port);
      this.batchElsewhere = true;
    } else if (batch) {
      // "exclusive": fails like a plain bind if a stale resolver holds the port; extra readers join it.
      this.batch = answerOnBatchSocket(this.handler, this.opts.address, this.opts.port, 'exclusive');
      this.boundPort = this.batch.port;
    } else {
      await this.listenDgram();
    }
    const tcp = net.createServer((s) => this.onConnection(s));
    tcp.maxConnections = this.opts.maxTcpConnections ?? 256;
    tcp.on('error', (err) => this.opts.logger.warn('dns tcp server error', { err }));
    await new Promise<void>((resolve, reject) => {
      tcp.once('error', reject);
      tcp.listen(this.boundPort, this.opts.address, () => {
        tcp.off('error', reject);
        resolve();
      });
    });
    this.tcp = tcp;
  }

  private batchWanted(): boolean {
    if (this.opts.udpIo === 'dgram') return false;
    const native = udpBatchNative();
    if (!(native instanceof Error)) return true;
    if (this.opts.udpIo === 'batch') throw native;
    this.opts.logger.warn('dns: reading UDP with Node dgram, about half the queries per CPU second', { reason: native.message });
    return false;
  }

  private async listenDgram(): Promise<void> {
    const udp = dgram.createSocket({ type: net.isIPv6(this.opts.address) ? 'udp6' : 'udp4', lookup: literalLookup });
    udp.on('message', (msg, rinfo) => this.onDatagram(udp, msg, rinfo));
    udp.on('error', (err) => this.opts.logger.warn('dns udp socket error', { err }));
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(this.opts.port, this.opts.address, () => {
        udp.off('error', reject);
        resolve();
      });
    });
    this.udp = udp;
    this.boundPort = udp.address().port;
  }

  async close(): Promise<void> {
    this.batch?.close();
    this.batch = undefined;
    this.batchElsewhere = false;
    for (const s of this.conns) s.destroy();
    await Promise.all([
      new Promise<void>((r) => (this.udp ? this.udp.close(() => r()) : r())),
      new Promise<void>((r) => (this.tcp ? this.tcp.close(() => r()) : r())),
    ]);
    this.udp = this.tcp = undefined;
  }

  private onDatagram(sock: dgram.Socket, msg: Buffer, rinfo: dgram.RemoteInfo): void {
    if (rinfo.port === 0) return; // nowhere to answer
    this.handler.handle(msg, plainAddress(rinfo.address), 512, (resp) => {
      if (resp && this.udp === sock) sock.send(resp, rinfo.port, rinfo.address);
    });
  }

  private onConnection(sock: net.Socket): void {
    this.counters.tcpConnections++;
    this.conns.add(sock);
    sock.setNoDelay(true);
    sock.setTimeout(this.opts.tcpIdleMs ?? 10_000, () => sock.destroy());
    sock.on('error', noop);
    sock.on('close', () => this.conns.delete(sock));
    const source = plainAddress(sock.remoteAddress ?? '');
    const maxPending = this.opts.maxTcpPending ?? 32;
    let pending = 0;
    let buf: Buffer | undefined;
    const reply = (resp: Buffer | undefined): void => {
      pending--;
      if (sock.destroyed) return;
      if (resp) {
        const frame = Buffer.allocUnsafe(2 + resp.length);
        frame.writeUInt16BE(resp.length, 0);
        resp.copy(frame, 2);
        sock.write(frame);
        // A peer that sends queries but never reads answers is not allowed to grow our memory.
        if (sock.writableLength > MAX_TCP_BACKLOG_BYTES) return void sock.destroy();
      }
      if (pending < maxPending && sock.isPaused()) sock.resume();
    };
    sock.on('data', (chunk: Buffer) => {
      try {
        buf = buf ? Buffer.concat([buf, chunk]) : chunk;
        while (buf.length >= 2) {
          const len = buf.readUInt16BE(0);
          if (len < 12) {
            // Not even a header: there is nothing to answer and the framing can no longer be trusted.
            this.counters.dropped++;
            return void sock.destroy();
          }
          if (buf.length < 2 + len) break;
          const q = Buffer.from(buf.subarray(2, 2 + len));
          buf = buf.subarray(2 + len);
          pending++;
          if (pending >= maxPending) sock.pause();
          this.handler.handle(q, source, 65535, reply);
        }
        if (buf.length === 0) buf = undefined;
      } catch (err) {
        this.counters.errors++;
        sock.destroy();
      }
    });
  }
}

function noop(): void {}
