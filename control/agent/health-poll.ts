/**
 * A health feed for an engine that runs the probes itself (Docker): Shoal only reads the status the engine
 * keeps (State.Health.Status) on a modest poll and reports changes. Polling rather than the engine's event
 * stream keeps one code path for adopted and new containers and needs no long-lived connection per task; the
 * price is that a flip shorter than one poll (unhealthy, then healthy again) can go unseen, which only delays
 * what the next failing streak reports anyway.
 */
import type { Clock, Timer } from '../base/clock';
import type { HealthFeed, HealthStatus } from './health-monitor';

/** Poll bounds: about twice per probe interval, never more often than 4/s nor less than every 2 s. */
export const MIN_POLL_MS = 250;
export const MAX_POLL_MS = 2000;

export function pollPeriod(intervalMs: number): number {
  return Math.min(MAX_POLL_MS, Math.max(MIN_POLL_MS, Math.floor(intervalMs / 2)));
}

/** Reads the engine's current status; undefined when it has none (yet), which keeps the last one. */
export type ReadHealth = () => Promise<HealthStatus | undefined>;

export class PolledHealthFeed implements HealthFeed {
  private current: HealthStatus = 'starting';
  private readonly listeners = new Set<(s: HealthStatus) => void>();
  private timer: Timer | undefined;
  private closed = false;

  constructor(
    private readonly read: ReadHealth,
    private readonly clock: Clock,
    private readonly everyMs: number,
    /** Told about a failed read; the poll goes on (the engine may be restarting). */
    private readonly onError: (e: unknown) => void = () => {},
  ) {}

  get status(): HealthStatus {
    return this.current;
  }

  /** Reads once now (so an already healthy container is seen at once), then every everyMs. */
  async start(): Promise<void> {
    await this.poll();
  }

  onChange(fn: (status: HealthStatus) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  close(): void {
    this.closed = true;
    this.timer?.cancel();
    this.listeners.clear();
  }

  private async poll(): Promise<void> {
    if (this.closed) return;
    try {
      const s = await this.read();
      if (s && s !== this.current && !this.closed) {
        this.current = s;
        for (const fn of [...this.listeners]) fn(s);
      }
    } catch (e) {
      this.onError(e);
    }
    if (!this.closed) this.timer = this.clock.setTimeout(() => void this.poll(), this.everyMs);
  }
}
