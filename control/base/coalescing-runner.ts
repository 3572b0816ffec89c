/**
 * Runs one async job at a time and coalesces requests: kick() while a run is in flight schedules exactly one
 * more run after it. A burst of 100 store events therefore costs one or two reconciliations, not 100. Errors are
 * handed to onError and the job is retried after retryMs (a reconcile that failed must not be forgotten).
 */
import type { Clock, Timer } from './clock';

export class CoalescingRunner {
  private running = false;
  private again = false;
  private stopped = false;
  private retry?: Timer;
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly job: () => Promise<void>,
    private readonly opts: { clock: Clock; onError: (e: unknown) => void; retryMs?: number },
  ) {}

  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    setImmediate(() => void this.loop());
  }

  /** Resolves when no run is in flight or queued (for tests and orderly shutdown). */
  idle(): Promise<void> {
    if (!this.running) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  stop(): Promise<void> {
    this.stopped = true;
    this.retry?.cancel();
    return this.idle();
  }

  private async loop(): Promise<void> {
    do {
      this.again = false;
      try {
        if (!this.stopped) await this.job();
      } catch (e) {
        this.opts.onError(e);
        this.retry?.cancel();
        if (!this.stopped) this.retry = this.opts.clock.setTimeout(() => this.kick(), this.opts.retryMs ?? 1000);
      }
    } while (this.again && !this.stopped);
    this.running = false;
    for (const w of this.idleWaiters.splice(0)) w();
  }
}
