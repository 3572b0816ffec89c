/**
 * swarmd's side of the node's process shim (process-shim.ts): one connection per executor, made on first use.
 * When nothing answers on the socket it starts the shim (one detached spawn, the only spawn of a Node process
 * swarmd makes for process tasks) and connects once it listens. Requests are answered by id; exit events go to
 * whoever waits for that task. If the connection drops (the shim went idle or died), requests in flight are sent
 * again on a new connection — `start` is idempotent in the shim — and waiters are told to look at the files again.
 *
 * There is no time limit on an answer while the shim is connected: under load starts queue in the shim rather
 * than fail; only a shim that cannot be started or reached within CONNECT_MS is an error.
 */
import { existsSync, readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import type { Logger } from '../base/log';
import {
  encodeMessage,
  JsonLineReader,
  MAX_SOCKET_PATH,
  shimPaths,
  type ShimMessage,
  type ShimReply,
  type ShimRequest,
} from './process-shim-protocol';
import type { TaskExitRecord } from './process-task-files';
import { launchShimProcess } from './process-supervisor';

const CONNECT_MS = 60_000;
const CONNECT_RETRY_MS = 25;
const MAX_RESENDS = 5;

type RequestBody = { op: 'start'; taskId: string } | { op: 'ping' };

interface InFlight {
  body: RequestBody;
  resolve: (r: ShimReply) => void;
  reject: (e: Error) => void;
  sends: number;
}

export class ShimClient {
  private readonly paths: ReturnType<typeof shimPaths>;
  private sock: Socket | undefined;
  private connecting: Promise<Socket> | undefined;
  private nextId = 1;
  private readonly inFlight = new Map<number, InFlight>();
  private readonly exitWaiters = new Map<string, Set<(exit: TaskExitRecord | undefined) => void>>();
  private closed = false;

  constructor(
    private readonly dataDir: string,
    private readonly log: Logger,
  ) {
    this.paths = shimPaths(dataDir);
    if (this.paths.socket.length > MAX_SOCKET_PATH) {
      throw new Error(`process executor data directory ${dataDir} is too long for the shim's unix socket (${this.paths.socket.length} > ${MAX_SOCKET_PATH} bytes): use a shorter --data-dir`);
    }
  }

  request(body: RequestBody): Promise<ShimReply> {
    return new Promise((resolve, reject) => {
      const id = this.nextId++;
      this.inFlight.set(id, {
        body,
        resolve: (r) => (resolve(r), this.refresh()),
        reject: (e) => (reject(e), this.refresh()),
        sends: 0,
      });
      this.refresh();
      void this.send(id);
    });
  }

  /**
   * Calls fn once when the task's exit event arrives (with the record) or when the connection was lost and
   * remade (without: look at the files). Returns the unsubscribe function.
   */
  onExit(taskId: string, fn: (exit: TaskExitRecord | undefined) => void): () => void {
    let set = this.exitWaiters.get(taskId);
    if (!set) this.exitWaiters.set(taskId, (set = new Set()));
    set.add(fn);
    this.refresh();
    return () => {
      set!.delete(fn);
      if (set!.size === 0 && this.exitWaiters.get(taskId) === set) this.exitWaiters.delete(taskId);
      this.refresh();
    };
  }

  /** Makes sure a shim serves the data directory (used before waiting on an adopted task). */
  async ensureConnected(): Promise<void> {
    await this.connection();
  }

  close(): void {
    this.closed = true;
    this.sock?.destroy();
    this.sock = undefined;
    for (const f of this.inFlight.values()) f.reject(new Error('process executor closed'));
    this.inFlight.clear();
  }

  private async send(id: number): Promise<void> {
    const f = this.inFlight.get(id);
    if (!f) return;
    if (++f.sends > MAX_RESENDS) {
      this.inFlight.delete(id);
      return f.reject(new Error(`the process shim lost ${MAX_RESENDS} connections while handling ${f.body.op}: see ${this.paths.log}`));
    }
    try {
      const sock = await this.connection();
      sock.write(encodeMessage({ id, ...f.body } as ShimRequest));
    } catch (e) {
      this.inFlight.delete(id);
      f.reject(e as Error);
    }
  }

  private connection(): Promise<Socket> {
    if (this.closed) return Promise.reject(new Error('process executor closed'));
    if (this.sock && !this.sock.destroyed) return Promise.resolve(this.sock);
    this.connecting ??= this.connectOrLaunch().finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  private async connectOrLaunch(): Promise<Socket> {
    const deadline = Date.now() + CONNECT_MS;
    let launched: ReturnType<typeof launchShimProcess> | undefined;
    let lastErr: Error | undefined;
    while (Date.now() < deadline) {
      try {
        return this.adopt(await dial(this.paths.socket));
      } catch (e) {
        lastErr = e as Error;
      }
      // Nothing listens: start a shim unless the one we started is still booting (it exits at once if another won).
      if (!launched || launched.exitCode !== null || launched.signalCode !== null) {
        if (launched && launched.exitCode !== 0) {
          throw new Error(`the process shim exited (${launched.exitCode ?? launched.signalCode}): ${shimLogTail(this.paths.log)}`);
        }
        this.log.info('starting the process shim', { dataDir: this.dataDir });
        launched = launchShimProcess(join(__dirname, 'process-shim.js'), this.dataDir, this.paths.log);
      }
      await new Promise((r) => setTimeout(r, CONNECT_RETRY_MS));
    }
    throw new Error(`the process shim did not answer on ${this.paths.socket} within ${CONNECT_MS / 1000}s (${lastErr?.message}): ${shimLogTail(this.paths.log)}`);
  }

  private adopt(sock: Socket): Socket {
    this.sock = sock;
    const reader = new JsonLineReader<ShimMessage>(
      (msg) => this.receive(msg),
      (line) => this.log.warn('unreadable message from the process shim', { line: line.slice(0, 200) }),
    );
    sock.on('data', (b) => reader.push(b));
    sock.on('error', () => undefined);
    this.refresh();
    sock.on('close', () => {
      if (this.sock === sock) this.sock = undefined;
      if (this.closed) return;
      // Resend what was unanswered (on a new shim if need be); tell waiters to re-read the files.
      for (const id of [...this.inFlight.keys()]) void this.send(id);
      if (this.exitWaiters.size) {
        void this.connection().then(
          () => this.notifyAll(),
          () => this.notifyAll(),
        );
      }
    });
    return sock;
  }

  /** The connection keeps the process alive only while someone waits on it (swarmd may exit while tasks run). */
  private refresh(): void {
    if (!this.sock) return;
    if (this.inFlight.size || this.exitWaiters.size) this.sock.ref();
    else this.sock.unref();
  }

  private notifyAll(): void {
    for (const set of [...this.exitWaiters.values()]) for (const fn of [...set]) fn(undefined);
  }

  private receive(msg: ShimMessage): void {
    if ('event' in msg) {
      if (msg.event === 'exit') for (const fn of [...(this.exitWaiters.get(msg.taskId) ?? [])]) fn(msg.exit);
      return;
    }
    const f = this.inFlight.get(msg.id);
    if (!f) return;
    this.inFlight.delete(msg.id);
    f.resolve(msg);
  }
}

function dial(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    if (!existsSync(path)) return reject(new Error('no socket'));
    const s = connect(path);
    s.once('connect', () => {
      s.removeListener('error', reject);
      resolve(s);
    });
    s.once('error', reject);
  });
}

function shimLogTail(path: string): string {
  try {
    return readFileSync(path, 'utf8').trim().split('\n').slice(-5).join(' | ') || 'no output';
  } catch {
    return 'no output';
  }
}
