/**
 * A bounded-frequency sync runner (kube-proxy's BoundedFrequencyRunner, on an injected Clock): kick() asks for a
 * sync, which runs at once unless the last one started less than minIntervalMs ago — then once, at the end of
 * that interval, however many kicks came in between. A periodic run every resyncIntervalMs is what notices drift
 * (someone flushed our chains); a failed run is retried after retryMs. One run at a time, never overlapping.
 */
import type { Clock, Timer } from '../../control/base/clock';

export type SyncReason = 'change' | 'periodic' | 'retry';

export interface SyncRunnerOptions {
  clock: Clock;
  /** Minimum time between the starts of two runs (default 1 s, kube-proxy's --iptables-min-sync-period). */
  minIntervalMs?: number;
  /** A periodic run this long after the last one (default 30 s, kube-proxy's --iptables-sync-period). */
  resyncIntervalMs?: number;
  /** Retry a failed run after this long (default 2 s). */
  retryMs?: number;
  onError: (e: unknown) => void;
}

export class SyncRunner {
  private readonly min: number;
  private readonly period: number;
  private readonly retryMs: number;
  private lastStart = -Infinity;
  private running = false;
  /** The strongest reason waiting: retry > periodic > change (a retry or periodic run subsumes a change). */
  private pending?: SyncReason;
  private timer?: Timer;
  private stopped = false;
  /** A run is due now (queued with setImmediate), not waiting on the clock. */
  private due = false;
  private idleWaiters: (() => void)[] = [];
  private flushWaiters: (() => void)[] = [];

  constructor(
    private readonly job: (reason: SyncReason) => Promise<void>,
    private readonly opts: SyncRunnerOptions,
  ) {
    this.min = opts.minIntervalMs ?? 1000;
    this.period = opts.resyncIntervalMs ?? 30_000;
    this.retryMs = opts.retryMs ?? 2000;
  }

  kick(reason: SyncReason = 'change'): void {
    if (this.stopped) return;
    if (!this.pending || rank(reason) > rank(this.pending)) this.pending = reason;
    if (this.running) return; // the loop picks it up when the current run ends
    this.schedule(Math.max(0, this.lastStart + this.min - this.opts.clock.now()));
  }

  /** Resolves when no run is in flight (tests, orderly shutdown). */
  idle(): Promise<void> {
    if (!this.running) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  /** Resolves once nothing is running or due now; a run waiting on the clock (retry, min interval) does not count. */
  async settled(): Promise<void> {
    while (this.running || this.due) {
      if (this.running) await this.idle();
      else await new Promise((r) => setImmediate(r));
    }
  }

  /**
   * Resolves once every kick so far has been served by a successful run — including one waiting on the clock
   * (the min interval); a failing sync keeps it waiting (callers bound their wait).
   */
  flushed(): Promise<void> {
    if (!this.running && !this.due && !this.pending) return Promise.resolve();
    return new Promise((r) => this.flushWaiters.push(r));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const w of this.flushWaiters.splice(0)) w();
    this.timer?.cancel();
    await this.idle();
  }

  private schedule(delay: number): void {
    this.timer?.cancel();
    if (delay === 0) {
      let cancelled = false;
      this.due = true;
      this.timer = { cancel: () => ((cancelled = true), (this.due = false)) };
      setImmediate(() => {
        this.due = false;
        if (!cancelled) void this.run();
      });
    } else this.timer = this.opts.clock.setTimeout(() => void this.run(), delay);
  }

  private async run(): Promise<void> {
    if (this.stopped || this.running || !this.pending) return;
    this.timer = undefined;
    const reason = this.pending;
    this.pending = undefined;
    this.running = true;
    this.lastStart = this.opts.clock.now();
    let failed = false;
    try {
      await this.job(reason);
    } catch (e) {
      failed = true;
      this.opts.onError(e);
    }
    this.running = false;
    for (const w of this.idleWaiters.splice(0)) w();
    if (this.stopped) return;
    if (failed && (!this.pending || this.pending === 'change')) this.pending = 'retry';
    if (this.pending) {
      const wait = this.pending === 'retry' && failed ? this.retryMs : Math.max(0, this.lastStart + this.min - this.opts.clock.now());
      this.schedule(wait);
    } else {
      this.timer = this.opts.clock.setTimeout(() => this.kick('periodic'), this.period);
      for (const w of this.flushWaiters.splice(0)) w();
    }
  }
}

function rank(r: SyncReason): number {
  return r === 'retry' ? 2 : r === 'periodic' ? 1 : 0;
}
