/**
 * A client connection and the backend connection it was given, relayed both ways by two pumps (relay-pump.ts)
 * until both directions have ended or either fails; then both handles are closed and `closed` is called once,
 * with the bytes each way.
 *
 * Ends: the first side's end of stream is passed on as a shutdown of the other side's sending half after all it
 * sent, so a client that half-closes (`nc -N`, HTTP/1.0) still gets the whole response; when the second side
 * ends too, both are closed at once (sourceEnded). A reset or failed read or write on either side closes both at
 * once: there is nobody left to deliver to.
 */
import { RelayPump, type PumpOwner } from './relay-pump';
import type { TcpHandle } from './tcp-handles';

export class RelayedConnection implements PumpOwner {
  private readonly toUpstream: RelayPump;
  private readonly toClient: RelayPump;
  /** Directions whose source has ended. */
  private sourcesEnded = 0;
  private closing = false;

  constructor(
    private readonly client: TcpHandle,
    private readonly upstream: TcpHandle,
    private readonly closed: (bytesIn: number, bytesOut: number) => void,
  ) {
    this.toUpstream = new RelayPump(client, upstream, this);
    this.toClient = new RelayPump(upstream, client, this);
  }

  start(): void {
    this.client.setNoDelay(true);
    this.upstream.setNoDelay(true);
    this.toUpstream.start();
    this.toClient.start();
  }

  /** Bytes accepted for sending and not yet taken by the kernel, both ways: at most a buffer per direction. */
  queuedBytes(): number {
    return this.closing ? 0 : this.client.writeQueueSize + this.upstream.writeQueueSize;
  }

  /**
   * The second direction to end closes both handles instead of one more shutdown (a system call, and usually
   * the first direction's shutdown is still queued in libuv and is dropped too): the close sends the same FIN.
   * Nothing is lost: libuv holds no write for either side, as a pump reads — its end of stream included — only
   * once its last write is done, so everything either side sent is with the kernel, which delivers it before the
   * FIN; and both sides have sent their FIN, so neither has unread data that would turn the close into a reset.
   */
  sourceEnded(): boolean {
    if (this.sourcesEnded++ === 0) return false;
    this.close();
    return true;
  }

  pumpFailed(): void {
    this.close();
  }

  /**
   * Closes both handles now (a connection still relaying is cut) and calls `closed`: a handle's socket is
   * closed at once, so the buffers are free and there is no close callback to wait for.
   */
  close(): void {
    if (this.closing) return;
    this.closing = true;
    this.toUpstream.stop();
    this.toClient.stop();
    this.client.close();
    this.upstream.close();
    this.toUpstream.release();
    this.toClient.release();
    this.closed(this.toUpstream.bytes, this.toClient.bytes);
  }
}
