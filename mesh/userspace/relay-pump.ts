/**
 * One direction of a TCP relay: what one socket reads goes straight to the other socket. The reading socket is
 * made with net.Socket's `onread` option, so the kernel copies into a buffer this pump owns and the callback
 * writes a view of it — no Buffer per chunk and no readable-stream queue (push(), 'data', pipe()'s handlers).
 *
 * The one rule that keeps this correct: a write that does not complete at once (the writable side still holds
 * bytes afterwards: the kernel took only part, or the socket queues in JS) keeps a reference to our buffer, so
 * no read may land in it until that write is done. So the pump stops reading right there (the callback returns
 * false, which stops the handle before libuv reads again) and starts again once that write is done, when
 * nothing references the buffer any more. That is also the backpressure: at most one buffer's worth per
 * direction waits in the writer, however slow the reader on the far side is. One buffer per direction serves
 * the whole life of the connection. (Handing the socket a fresh buffer whenever a write is left pending, as
 * well, would guard the same bytes twice: measured no safer — the byte-identity tests pass either way, and fail
 * without the pause — and it allocates on every partial write of a bulk transfer, so it is not done.)
 *
 * Buffers of finished connections go back to a small free list, so a connection per request does not allocate
 * two new buffers each time.
 */
import * as net from 'node:net';

/** Read size per direction: HAProxy's default bufsize; what an open connection holds in this process. */
export const RELAY_BUFFER_BYTES = 16 * 1024;
/** Buffers kept for reuse (4 MiB): enough for a burst of short connections, not a hoard after a spike. */
const FREE_LIST_MAX = 256;
const freeList: Buffer[] = [];
const EMPTY = Buffer.alloc(0);

function takeBuffer(): Buffer {
  return freeList.pop() ?? Buffer.allocUnsafe(RELAY_BUFFER_BYTES);
}

export class RelayPump {
  private to?: net.Socket;
  private from?: net.Socket;
  /** The buffer the reading socket reads into; undefined before the socket has its handle, and once released. */
  private buf?: Buffer;
  /** What to pass as `onread` when making the reading socket. */
  readonly onread: { buffer: () => Buffer; callback: (n: number, buf: Buffer) => boolean };

  constructor() {
    this.onread = { buffer: () => this.nextBuffer(), callback: (n, buf) => this.relay(n, buf) };
  }

  /** Starts relaying from `from` (made with this.onread) to `to`; until then nothing may be read. */
  connect(from: net.Socket, to: net.Socket): void {
    this.from = from;
    this.to = to;
  }

  /**
   * Returns the read buffer to the free list; call only once both sockets are closed (no read can land in it,
   * no write still refers to it).
   */
  release(): void {
    if (this.buf && freeList.length < FREE_LIST_MAX) freeList.push(this.buf);
    this.buf = undefined;
  }

  /** Node asks for the first buffer when the socket gets its handle, and again after every read: the same one. */
  private nextBuffer(): Buffer {
    this.buf ??= takeBuffer();
    return this.buf;
  }

  private relay(n: number, buf: Buffer): boolean {
    const to = this.to;
    if (!to || to.destroyed) return false; // the relay is being torn down: read no more
    to.write(n === buf.length ? buf : buf.subarray(0, n));
    if (to.writableLength === 0) return true;
    // The write still refers to buf: no more reads until it is done. 'drain' would not do: it comes only after
    // a write() that returned false, and a short chunk left pending returns true. An empty write queued behind
    // it calls back once everything before it is written (or the socket failed: then it is torn down anyway).
    to.write(EMPTY, this.resume);
    return false;
  }

  private readonly resume = (): void => {
    if (this.from && !this.from.destroyed) this.from.resume();
  };
}

/**
 * The same accepted connection as a socket that reads with `onread`: Node's server makes its sockets without
 * that option, so the connection's handle moves to a new socket made with it. Only for a socket that has read
 * nothing yet (the server's pauseOnConnect). The old socket is destroyed without its handle, which closes
 * nothing and keeps the server's connection count right. `_handle` is Node's private field (there since Node
 * 0.x; `new net.Socket({ handle })` is how Node's own cluster and child_process adopt a handle); on a Node
 * without it this returns undefined and the caller relays with the stream path instead.
 */
export function withOnread(accepted: net.Socket, onread: RelayPump['onread']): net.Socket | undefined {
  const old = accepted as net.Socket & { _handle?: unknown };
  const handle = old._handle;
  if (!handle || accepted.destroyed) return undefined;
  old._handle = null;
  old.destroy();
  return new net.Socket({ handle, allowHalfOpen: true, onread } as net.SocketConstructorOpts);
}
