/**
 * Extra UDP readers for the resolver: N child processes (udp-reader-process.ts) that answer on the resolver's
 * address next to the main process, which keeps reading too: with the batch socket each reader binds one of its own
 * in the resolver's SO_REUSEPORT group (config.batchUdp); with dgram each receives the resolver's bound socket (the
 * main process holds it, to hand it to a reader that replaces one that died). A new reader gets the whole current
 * table at start; after that every reader gets each change as the main process's records computed it (a delta of the
 * services that changed; the whole table only when the networks change), in order over its IPC channel, and
 * applies it to its own copy. apply() resolves once all live readers answer from the change, so "RUNNING only
 * once the resolver answers for the task" holds for every reader, not only the main one. Counters are the
 * readers' latest reports (every second), summed by the caller.
 */
import { fork, type ChildProcess } from 'node:child_process';
import type * as dgram from 'node:dgram';
import { join } from 'node:path';
import type { Clock, Timer } from '../control/base/clock';
import type { Logger } from '../control/base/log';
import type { EndpointTable } from '../mesh/endpoint-table';
import type { DnsCountersSnapshot } from './counters';
import type { RecordsChange } from './records';
import type { FromReader, ReaderConfig, ToReader } from './udp-reader-protocol';

export interface UdpReaderPoolOptions {
  /** Child processes to start (the main process is one more reader). */
  readers: number;
  /** The dgram socket to share; absent when config.batchUdp tells the readers where to bind their own. */
  socket?: dgram.Socket;
  config: ReaderConfig;
  clock: Clock;
  logger: Logger;
  /** A reader that dies is replaced after this long. Default 1000 ms. */
  respawnMs?: number;
  /** A reader that has not taken a table after this long is killed (and replaced), so apply() cannot hang. Default 5000 ms. */
  applyTimeoutMs?: number;
}

interface Reader {
  child: ChildProcess;
  applied: number;
  counters?: DnsCountersSnapshot;
}

const READER_ENTRY = join(__dirname, 'udp-reader-process.js');

export class UdpReaderPool {
  private readonly readers = new Set<Reader>();
  private readonly waiters: Array<{ gen: number; resolve: () => void }> = [];
  private readonly respawns = new Set<Timer>();
  private gen = 0;
  private table: EndpointTable;
  private stopping = false;
  /** Counters of readers that exited, so totals never go backwards. */
  private retired: DnsCountersSnapshot[] = [];

  constructor(
    private readonly opts: UdpReaderPoolOptions,
    table: EndpointTable,
  ) {
    this.table = table;
  }

  /** Starts the readers and resolves once each answers from the current table. */
  async start(): Promise<void> {
    for (let i = 0; i < this.opts.readers; i++) this.spawn();
    await this.settled(this.gen);
  }

  /**
   * Sends the change (which brought the main process to `table`) to every reader; resolves when all live readers
   * answer from it. A reader started later gets `table` whole.
   */
  apply(change: RecordsChange, table: EndpointTable): Promise<void> {
    this.table = table;
    const gen = ++this.gen;
    for (const r of this.readers) send(r.child, { kind: 'change', gen, change });
    const late = this.opts.clock.setTimeout(() => {
      for (const r of this.readers) {
        if (r.applied >= gen) continue;
        this.opts.logger.warn('dns reader did not take a table in time; replacing it', { pid: r.child.pid, gen });
        r.child.kill('SIGKILL');
      }
    }, this.opts.applyTimeoutMs ?? 5000);
    return this.settled(gen).finally(() => late.cancel());
  }

  /** The latest reports of live readers, plus the final ones of readers that are gone. */
  counters(): DnsCountersSnapshot[] {
    const out = this.retired.slice();
    for (const r of this.readers) if (r.counters) out.push(r.counters);
    return out;
  }

  /** Process ids of the live readers (diagnostics, tests). */
  pids(): number[] {
    return [...this.readers].map((r) => r.child.pid).filter((p): p is number => p !== undefined);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    for (const t of this.respawns) t.cancel();
    this.respawns.clear();
    await Promise.all(
      [...this.readers].map(
        (r) =>
          new Promise<void>((resolve) => {
            if (r.child.exitCode !== null || r.child.signalCode !== null) return resolve();
            r.child.once('exit', () => resolve());
            r.child.kill('SIGTERM');
          }),
      ),
    );
    this.readers.clear();
    this.release();
  }

  private spawn(): void {
    const child = fork(READER_ENTRY, [], { serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const reader: Reader = { child, applied: -1 };
    this.readers.add(reader);
    child.on('message', (m: FromReader) => this.onMessage(reader, m));
    child.on('error', (err) => this.opts.logger.warn('dns reader process error', { err }));
    child.once('exit', (code, signal) => {
      this.readers.delete(reader);
      if (reader.counters) this.retired.push(reader.counters);
      this.release();
      if (this.stopping) return;
      this.opts.logger.warn('dns reader exited; replacing it', { pid: child.pid, code, signal });
      const t = this.opts.clock.setTimeout(() => {
        this.respawns.delete(t);
        if (!this.stopping) this.spawn();
      }, this.opts.respawnMs ?? 1000);
      this.respawns.add(t);
    });
    // The socket (dgram) travels with the first message; the current table with it, so the reader never answers from none.
    send(child, { kind: 'init', config: this.opts.config, gen: this.gen, table: this.table }, this.opts.socket);
  }

  private onMessage(reader: Reader, m: FromReader): void {
    if (m.kind === 'applied') {
      reader.applied = Math.max(reader.applied, m.gen);
      this.release();
    } else if (m.kind === 'counters') {
      reader.counters = m.snapshot;
    } else if (m.kind === 'log') {
      this.opts.logger[m.level](m.msg, { ...m.fields, pid: reader.child.pid });
    }
  }

  private settled(gen: number): Promise<void> {
    return new Promise((resolve) => {
      this.waiters.push({ gen, resolve });
      this.release();
    });
  }

  /** Resolves the waiters whose generation every live reader has reached (all of them once stopping). */
  private release(): void {
    let low = Infinity;
    for (const r of this.readers) low = Math.min(low, r.applied);
    for (let i = this.waiters.length - 1; i >= 0; i--) {
      const w = this.waiters[i];
      if (this.stopping || w.gen <= low) {
        this.waiters.splice(i, 1);
        w.resolve();
      }
    }
  }
}

function send(child: ChildProcess, m: ToReader, handle?: dgram.Socket): void {
  if (!child.connected) return;
  child.send(m, handle as never, (err) => {
    // A reader that cannot be told is about to exit; its exit handler replaces it.
    if (err) child.kill('SIGKILL');
  });
}
