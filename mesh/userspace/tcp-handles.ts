/**
 * Node's TCP handles without net.Socket: the libuv stream under every socket (tcp_wrap), reached through
 * process.binding, which Node keeps for exactly these modules (its allow-list names tcp_wrap and stream_wrap).
 * This file is the only place in Shoal that touches them; everything else sees the typed surface below.
 *
 * Why: a relayed connection does nothing a stream is for — no queue, no encoding, no events, no pipe() — yet
 * net.Socket builds all of that three times per connection (the accepted socket, the upstream, and Node's
 * Writable/Readable state behind each), and that machinery, not the relay, was what a connection cost. Measured
 * (bench/mesh-relay, one connection per request, same run): the socket path 269-401 µs of relay CPU per request
 * and 2.7-4.0k req/s, these handles 102-112 µs and 7.9-8.8k req/s; kept alive both ~22 µs, where the system
 * calls are the cost. The handles are what net.Socket itself drives (lib/net.js, lib/internal/stream_base_commons.js),
 * used the same way: a read lands in a buffer we own (useUserBuffer), a write first tries to finish at once
 * (writeBuffer; the state array says whether it went asynchronous), shutdown and close are requests with
 * callbacks.
 *
 * `tcpHandles()` says plainly when this Node has none of it, naming the version, instead of failing later.
 */
import * as net from 'node:net';
import { getSystemErrorName } from 'node:util';

/** A libuv TCP stream as tcp_wrap exposes it. Numbers returned by the calls are 0 or a negative libuv error. */
export interface TcpHandle {
  /** Called after every read with the state array set: bytes read (> 0), 0, EOF or an error (< 0). */
  onread: (() => Buffer | undefined) | null;
  /** Accepted connections of a listening handle: status, then the new connection's handle. */
  onconnection: ((status: number, handle?: TcpHandle) => void) | null;
  /** Bytes accepted by write calls and not yet taken by the kernel. */
  readonly writeQueueSize: number;
  useUserBuffer(buf: Buffer): void;
  readStart(): number;
  readStop(): number;
  writeBuffer(req: WriteRequest, buf: Buffer): number;
  shutdown(req: ShutdownRequest): number;
  connect(req: ConnectRequest, address: string, port: number): number;
  connect6(req: ConnectRequest, address: string, port: number): number;
  getsockname(out: { address?: string; port?: number; family?: string }): number;
  setNoDelay(on: boolean): number;
  close(cb?: () => void): void;
}

export interface WriteRequest {
  oncomplete: (status: number) => void;
}
export interface ShutdownRequest {
  /** Called when the shutdown is done, if set; without it libuv's completion makes no call into JavaScript. */
  oncomplete?: (status: number) => void;
}
export interface ConnectRequest {
  oncomplete: (status: number) => void;
}

interface Bindings {
  newSocket(): TcpHandle;
  newWrite(): WriteRequest;
  newShutdown(): ShutdownRequest;
  newConnect(): ConnectRequest;
  /** What the last read or write left in Node's shared state array. */
  readResult(): number;
  lastWriteWasAsync(): boolean;
}

let loaded: Bindings | undefined;

/** Node's TCP handle bindings; throws, naming what is missing and this Node's version, where they are absent. */
export function tcpHandles(): Bindings {
  if (loaded) return loaded;
  try {
    const binding = (process as unknown as { binding(name: string): Record<string, unknown> }).binding;
    const tcp = binding('tcp_wrap') as { TCP: new (type: number) => TcpHandle; TCPConnectWrap: new () => ConnectRequest; constants: { SOCKET: number } };
    const stream = binding('stream_wrap') as {
      WriteWrap: new () => WriteRequest;
      ShutdownWrap: new () => ShutdownRequest;
      streamBaseState: Int32Array;
      kReadBytesOrError: number;
      kLastWriteWasAsync: number;
    };
    const state = stream.streamBaseState;
    const { kReadBytesOrError: readAt, kLastWriteWasAsync: asyncAt } = stream;
    if (typeof tcp.TCP !== 'function' || typeof stream.WriteWrap !== 'function' || !(state instanceof Int32Array) || typeof readAt !== 'number') {
      throw new Error('tcp_wrap/stream_wrap have another shape');
    }
    loaded = {
      newSocket: () => new tcp.TCP(tcp.constants.SOCKET),
      newWrite: () => new stream.WriteWrap(),
      newShutdown: () => new stream.ShutdownWrap(),
      newConnect: () => new tcp.TCPConnectWrap(),
      readResult: () => state[readAt],
      lastWriteWasAsync: () => state[asyncAt] !== 0,
    };
    return loaded;
  } catch (e) {
    throw new Error(
      `the userspace mesh needs Node's TCP handle bindings (process.binding('tcp_wrap')), which Node ${process.version} does not offer as expected (${(e as Error).message}); run swarmd on Node 20, or use --mesh iptables`,
    );
  }
}

/** libuv's end-of-stream read result. */
export const UV_EOF = -4095;

/** "ECONNREFUSED" for a libuv status, for logs and errors. */
export function uvErrorName(status: number): string {
  try {
    return getSystemErrorName(status);
  } catch {
    return `error ${status}`;
  }
}

/**
 * Takes the connections a listening net.Server accepts as bare handles: `onConnection` gets each one, which then
 * belongs to it, and no net.Socket is made. The server keeps what it is good at — binding, errors, sharing its
 * socket with cluster workers, close(). It must be listening (its private `_handle`, the listening handle or, in
 * a cluster worker, the handle the cluster module hands connections to; both call onconnection like this). The
 * server's connection count stays 0, so close() calls back once the listener is closed: the caller closes the
 * connections it took. A failed accept (EMFILE: out of file descriptors) goes to `onAcceptError`, where Node's
 * server would have emitted 'error'.
 */
export function takeConnections(server: net.Server, onConnection: (handle: TcpHandle) => void, onAcceptError: (status: number) => void): void {
  const listening = (server as unknown as { _handle?: TcpHandle | null })._handle;
  if (!listening) throw new Error('takeConnections: the server is not listening');
  listening.onconnection = (status, handle) => {
    if (status === 0 && handle) onConnection(handle);
    else onAcceptError(status);
  };
}

/**
 * Connects a new handle to host:port (an IP literal); `done` gets 0 or a negative libuv error, once, unless the
 * handle is closed first (the caller then ignores what comes). Returns the handle, so the caller can close it.
 */
export function connectTcp(host: string, port: number, done: (status: number) => void): TcpHandle {
  const h = tcpHandles();
  const handle = h.newSocket();
  const req = h.newConnect();
  req.oncomplete = done;
  // Backend addresses are IP literals: a colon is IPv6 (net.isIPv6's regular expression cost ~0.6% of a connection).
  const err = host.includes(':') ? handle.connect6(req, host, port) : handle.connect(req, host, port);
  if (err) queueMicrotask(() => done(err));
  return handle;
}
