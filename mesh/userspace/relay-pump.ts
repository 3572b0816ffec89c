/**
 * One direction of a relayed TCP connection, on bare handles (tcp-handles.ts): what one handle reads goes
 * straight to the other. The kernel copies into one buffer this pump owns for the connection's whole life
 * (useUserBuffer), and each read is written from it at once — no Buffer per chunk, no stream queue, no event.
 *
 * The one rule that keeps this correct: a write that does not finish at once (the kernel took only part) still
 * refers to our buffer, so no read may land in it until that write is done. The pump stops reading right there
 * and starts again when the write completes. That is also the backpressure: at most one buffer's worth per
 * direction waits, however slow the reader on the far side is.
 *
 * At end of stream the pump shuts down the other side's sending half after everything it wrote (libuv orders
 * the shutdown behind pending writes), so a half-close passes through and the other direction keeps flowing;
 * the second direction to end needs no shutdown, as the close that follows sends the same FIN.
 */
import { tcpHandles, UV_EOF, type TcpHandle, type WriteRequest } from './tcp-handles';

/** Read size per direction: HAProxy's default bufsize; what an open connection holds in this process. */
export const RELAY_BUFFER_BYTES = 16 * 1024;
/** Buffers kept for reuse (4 MiB): enough for a burst of short connections, not a hoard after a spike. */
const FREE_LIST_MAX = 256;
const freeList: Buffer[] = [];

/**
 * The write request every pump uses while writes finish at once: libuv takes a request only for a write it has
 * to finish later, so until then one object serves all connections; the pump whose write went asynchronous
 * keeps it, and a new one takes its place.
 */
let spareRequest: WriteRequest | undefined;

export interface PumpOwner {
  /**
   * The pump's source ended. True when the owner closed both handles (the other direction had ended too: the
   * close sends the destination our FIN); false to have the pump shut down the destination's sending half.
   */
  sourceEnded(): boolean;
  /** A read or write failed (reset, broken pipe): the connection is over. */
  pumpFailed(status: number): void;
}

export class RelayPump {
  /** Bytes read from the source (and handed to the destination). */
  bytes = 0;
  private readonly buf = freeList.pop() ?? Buffer.allocUnsafe(RELAY_BUFFER_BYTES);
  /** The last view of the buffer written, reused while reads keep their size (requests and answers often do). */
  private view: Buffer = this.buf;
  private stopped = false;

  constructor(
    private readonly from: TcpHandle,
    private readonly to: TcpHandle,
    private readonly owner: PumpOwner,
  ) {}

  start(): void {
    this.from.useUserBuffer(this.buf);
    this.from.onread = this.onread;
    const err = this.from.readStart();
    if (err) this.owner.pumpFailed(err);
  }

  /** No more callbacks reach the owner; the handles are being closed. */
  stop(): void {
    this.stopped = true;
  }

  /**
   * Returns the buffer for reuse; only once both handles are closed: closing a handle closes its socket at
   * once, so nothing reads into the buffer or writes from it after that.
   */
  release(): void {
    if (freeList.length < FREE_LIST_MAX) freeList.push(this.buf);
  }

  private readonly onread = (): undefined => {
    if (this.stopped) return;
    const h = tcpHandles();
    const n = h.readResult();
    if (n > 0) {
      this.bytes += n;
      if (this.view.length !== n) this.view = n === this.buf.length ? this.buf : this.buf.subarray(0, n);
      const req = (spareRequest ??= h.newWrite());
      const err = this.to.writeBuffer(req, this.view);
      if (err) return void this.owner.pumpFailed(err);
      if (h.lastWriteWasAsync()) {
        // libuv now holds the request and our buffer: read no more until the write is done.
        req.oncomplete = this.writeDone;
        spareRequest = undefined;
        this.from.readStop();
      }
      return;
    }
    if (n === 0) return;
    if (n !== UV_EOF) return void this.owner.pumpFailed(n);
    if (this.owner.sourceEnded()) return;
    // No completion callback: nothing waits for it (the connection closes when the other direction ends or
    // fails), and a request without `oncomplete` costs no call into JavaScript. A shutdown that fails means the
    // destination is gone, which its own read reports.
    const err = this.to.shutdown(h.newShutdown());
    if (err) this.owner.pumpFailed(err);
  };

  private readonly writeDone = (status: number): void => {
    if (this.stopped) return;
    if (status < 0) return void this.owner.pumpFailed(status);
    const err = this.from.readStart();
    if (err) this.owner.pumpFailed(err);
  };
}
