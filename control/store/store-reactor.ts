/**
 * The shape every manager component shares: watch the store, and after each commit that touches what it cares
 * about, run its job once — coalesced, so a burst of commits costs one or two runs, and retried after an error.
 * Components own a StoreReactor rather than repeating the watch/runner/unwatch dance.
 */
import type { Clock } from '../base/clock';
import { CoalescingRunner } from '../base/coalescing-runner';
import type { Logger } from '../base/log';
import type { Kind, Store, StoreEvent } from './store';

export interface StoreReactorOptions {
  store: Store;
  clock: Clock;
  log: Logger;
  /** The kinds whose changes call for a run (or a predicate over a commit's events). */
  on: Kind[] | ((events: StoreEvent[]) => boolean);
  /** What to do; it reads the store itself (level-triggered), so missed events never lose work. */
  job: () => Promise<void>;
  /** For the error log: what the job does ("scheduling", "reaping"). */
  what: string;
}

export class StoreReactor {
  private readonly runner: CoalescingRunner;
  private unwatch?: () => void;

  constructor(private readonly opts: StoreReactorOptions) {
    this.runner = new CoalescingRunner(opts.job, { clock: opts.clock, onError: (e) => opts.log.error(`${opts.what} failed`, { err: e }) });
  }

  /** Starts watching and runs the job once for the state as it is. */
  start(): void {
    const on = this.opts.on;
    const relevant = typeof on === 'function' ? on : (events: StoreEvent[]) => events.some((e) => on.includes(e.kind));
    this.unwatch = this.opts.store.watch((events) => {
      if (relevant(events)) this.runner.kick();
    });
    this.runner.kick();
  }

  /** Asks for a run (timers use this). */
  kick(): void {
    this.runner.kick();
  }

  /** Resolves when no run is in flight or queued. */
  idle(): Promise<void> {
    return this.runner.idle();
  }

  async stop(): Promise<void> {
    this.unwatch?.();
    await this.runner.stop();
  }
}
