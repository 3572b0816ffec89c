/**
 * A UDP socket for the resolver's hot path that reads and answers datagrams in batches: the native part
 * (dns/native/udp-batch.c, built by scripts/build-native.sh) receives up to `slots` datagrams with one recvmmsg,
 * calls back once per batch, and sends every answer given synchronously with one sendmmsg. Per query that is a
 * fraction of a system call and of a call into JavaScript instead of two of each with dgram — measured here, twice
 * the queries per CPU second (bench/README.md, dns-perf).
 *
 * Each datagram is handed to `onDatagram` with a `reply`: called during onDatagram, the answer is copied into the
 * batch (sent after the callback returns); called later (a forwarded name), it is sent at once. The message Buffer
 * is a view of the receive buffer, valid only during onDatagram: whatever keeps it must copy it.
 *
 * Modes: "exclusive" fails like a plain bind when anyone holds the address and port (probeUdpPort), then binds in
 * a SO_REUSEPORT group; "join" binds into such a group (extra reader processes: each reads a socket of its own, the
 * kernel spreads clients over them by their address and port).
 */
import * as path from 'node:path';
import { loadNative } from '../control/base/native-module';

export type BatchReply = (resp: Buffer | undefined) => void;
export type OnDatagram = (msg: Buffer, source: string, port: number, reply: BatchReply) => void;
export type BatchMode = 'exclusive' | 'join';

interface NativeUdpBatch {
  META_INTS: number;
  probe(address: string, port: number): number;
  /** onBatch(n, failed): n datagrams are in the slots; `failed` answers of earlier batches the kernel refused. */
  open(address: string, port: number, reusePort: boolean, inBuf: ArrayBuffer, outBuf: ArrayBuffer, meta: ArrayBuffer, onBatch: (n: number, failed: number) => void): object;
  localPort(h: object): number;
  /** 0, or a negative errno. */
  sendTo(h: object, buf: Buffer, address: string, port: number): number;
  close(h: object): void;
}

const NATIVE_PATH = path.join(__dirname, 'native', 'udp-batch.node');
let loaded: NativeUdpBatch | Error | undefined;

/** The native module, or why it cannot be used (with the fix). Loaded once. */
export function udpBatchNative(file = NATIVE_PATH): NativeUdpBatch | Error {
  if (file !== NATIVE_PATH) return load(file);
  return (loaded ??= load(file));
}

const load = (file: string): NativeUdpBatch | Error => loadNative<NativeUdpBatch>(file, 'the batch UDP socket', 'recvmmsg/sendmmsg');

/**
 * The port a plain bind on address:port gets (port 0: a free one), released again; throws (code EADDRINUSE, ...)
 * like that bind when anyone holds it. Readers elsewhere then join a SO_REUSEPORT group there.
 */
export function probeUdpPort(address: string, port: number): number {
  const native = udpBatchNative();
  if (native instanceof Error) throw native;
  return native.probe(address, port);
}

export interface BatchUdpSocketOptions {
  address: string;
  /** 0 picks a free port (with "exclusive"). */
  port: number;
  mode: BatchMode;
  onDatagram: OnDatagram;
  /** Datagrams per batch. Default 64. */
  slots?: number;
  /** Bytes per datagram; a longer one is dropped (and counted). Default 4096: a DNS query is far smaller. */
  slotSize?: number;
  /** A datagram longer than a slot was dropped. */
  onOversized?: () => void;
  /** `n` answers were not sent: the kernel refused them (the socket's send buffer was full). */
  onSendFailed?: (n: number) => void;
  /** Where the native module is (tests). */
  nativePath?: string;
}

/** Distinct v4 sources remembered as strings before the map starts over (a flood of spoofed ones cannot grow it). */
const MAX_SOURCE_NAMES = 4096;

export class BatchUdpSocket {
  private handle?: object;
  private readonly native: NativeUdpBatch;
  private readonly inBuf: Buffer;
  private readonly outBuf: Buffer;
  private readonly meta: Int32Array;
  private readonly metaBytes: Uint8Array;
  private readonly slotSize: number;
  private readonly metaInts: number;
  private readonly onDatagram: OnDatagram;
  private readonly onOversized: () => void;
  private readonly onSendFailed: (n: number) => void;
  private readonly names = new Map<number, string>();
  /** The slot whose datagram onDatagram is handling now (-1 between batches), and which batch that is. */
  private current = -1;
  private batch = 0;
  /** Batches read and datagrams in them (datagrams / batches is the system calls saved). */
  readonly stats = { batches: 0, datagrams: 0 };
  readonly port: number;

  constructor(opts: BatchUdpSocketOptions) {
    const native = udpBatchNative(opts.nativePath);
    if (native instanceof Error) throw native;
    this.native = native;
    const slots = opts.slots ?? 64;
    this.slotSize = opts.slotSize ?? 4096;
    this.metaInts = native.META_INTS;
    const inAb = new ArrayBuffer(slots * this.slotSize);
    const outAb = new ArrayBuffer(slots * this.slotSize);
    const metaAb = new ArrayBuffer(slots * this.metaInts * 4);
    this.inBuf = Buffer.from(inAb);
    this.outBuf = Buffer.from(outAb);
    this.meta = new Int32Array(metaAb);
    this.metaBytes = new Uint8Array(metaAb);
    this.onDatagram = opts.onDatagram;
    this.onOversized = opts.onOversized ?? (() => {});
    this.onSendFailed = opts.onSendFailed ?? (() => {});
    const port = opts.mode === 'exclusive' ? native.probe(opts.address, opts.port) : opts.port;
    this.handle = native.open(opts.address, port, true, inAb, outAb, metaAb, (n, failed) => this.onBatch(n, failed));
    this.port = native.localPort(this.handle);
  }

  /** One datagram now, from this socket (false if it could not be sent: closed, or refused by the kernel). */
  send(buf: Buffer, address: string, port: number): boolean {
    if (!this.handle) return false;
    if (this.native.sendTo(this.handle, buf, address, port) === 0) return true;
    this.onSendFailed(1);
    return false;
  }

  /** No datagram is delivered after this; idempotent. */
  close(): void {
    const h = this.handle;
    this.handle = undefined;
    if (h) this.native.close(h);
  }

  private onBatch(n: number, failed: number): void {
    if (failed > 0) this.onSendFailed(failed);
    const meta = this.meta;
    const size = this.slotSize;
    this.batch++;
    this.stats.batches++;
    this.stats.datagrams += n;
    for (let i = 0; i < n; i++) {
      const o = i * this.metaInts;
      const len = meta[o];
      const port = meta[o + 1];
      if (len < 0) {
        this.onOversized();
        continue;
      }
      if (port === 0) continue; // nowhere to answer
      const source = meta[o + 2] === 4 ? this.v4Name(meta[o + 4] >>> 0) : this.v6Name(o + 4);
      this.current = i;
      try {
        this.onDatagram(this.inBuf.subarray(i * size, i * size + len), source, port, this.replyFor(i, source, port));
      } catch {
        // onDatagram guards its own work; a throw here must not lose the rest of the batch.
      }
      if (!this.handle) break; // closed by the handler
    }
    this.current = -1;
  }

  private replyFor(slot: number, source: string, port: number): BatchReply {
    const batch = this.batch;
    return (resp) => {
      if (!resp || !this.handle) return;
      if (this.current === slot && this.batch === batch && resp.length <= this.slotSize) {
        this.outBuf.set(resp, slot * this.slotSize); // one native call; Buffer#copy wraps it in JavaScript
        this.meta[slot * this.metaInts + 3] = resp.length;
      } else {
        this.send(resp, source, port);
      }
    };
  }

  private v4Name(n: number): string {
    let s = this.names.get(n);
    if (s === undefined) {
      if (this.names.size >= MAX_SOURCE_NAMES) this.names.clear();
      s = `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
      this.names.set(n, s);
    }
    return s;
  }

  private v6Name(intOffset: number): string {
    const b = this.metaBytes;
    const at = intOffset * 4;
    const groups: string[] = [];
    for (let g = 0; g < 8; g++) groups.push(((b[at + 2 * g] << 8) | b[at + 2 * g + 1]).toString(16));
    // The compressed form, as net and dgram report addresses ("fd00:2::5"), so scoping finds the task.
    return compressV6(groups);
  }
}

/** RFC 5952: the longest run (≥ 2) of zero groups becomes "::". */
function compressV6(groups: string[]): string {
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen && j - i >= 2) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}
