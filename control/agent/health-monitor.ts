/**
 * The health monitor: runs a task's health probe on a clock and keeps Docker's State.Health — status
 * starting|healthy|unhealthy, the failing streak, and the last five probes — for an executor that has no engine
 * to do it (the process executor; Docker's engine runs its own). Same rules as Docker's daemon/health.go:
 *   - the first probe runs one interval after the monitor starts, each next one an interval after the last ended;
 *   - exit 0 is a success: the status becomes healthy and the streak resets (this also ends the start period);
 *   - anything else is a failure; a probe still running after the timeout is killed (its signal aborted) and
 *     counts as a failure with exit code -1;
 *   - while still starting, failures of probes that began within the start period are not counted;
 *   - `retries` failures in a row make the status unhealthy.
 * The monitor only observes: it never stops the task. What an unhealthy task means is the task runner's call.
 * How a probe runs (namespaces, user, env) is the injected RunProbe's business, so this is unit-tested with a
 * FakeClock and scripted probes.
 */
import type { Clock, Timer } from '../base/clock';
import { formatDuration } from '../base/clock';
import type { HealthTimings } from './health-config';

export type HealthStatus = 'starting' | 'healthy' | 'unhealthy';

/** How one probe ended, before the monitor stamps it. */
export interface ProbeResult {
  exitCode: number;
  output: string;
}

/** One probe as `docker inspect` shows it in State.Health.Log. */
export interface HealthLogEntry {
  Start: string;
  End: string;
  ExitCode: number;
  Output: string;
}

/** Docker's State.Health. */
export interface HealthState {
  Status: HealthStatus;
  FailingStreak: number;
  Log: HealthLogEntry[];
}

/** Runs one probe; must stop it and settle soon after `signal` aborts (the monitor's timeout). */
export type RunProbe = (signal: AbortSignal) => Promise<ProbeResult>;

/** What a task runner follows: the latest status and its changes. Executors hand one out per task. */
export interface HealthFeed {
  readonly status: HealthStatus;
  /** Calls fn on every change of status (not with the current one); returns a function that unsubscribes. */
  onChange(fn: (status: HealthStatus) => void): () => void;
  /** Stops following (and probing). Idempotent. */
  close(): void;
}

/** Docker keeps this many probes in State.Health.Log. */
export const MAX_LOG_ENTRIES = 5;
/** Docker keeps at most this many bytes of a probe's output. */
export const MAX_OUTPUT_BYTES = 4096;

export interface HealthMonitorOptions {
  timings: HealthTimings;
  probe: RunProbe;
  clock: Clock;
  /** When the task's process started (ms since the epoch), for the start period; default: now. */
  startedAt?: number;
  /** Called with the new State.Health after every probe (to keep it where inspect can read it). */
  onProbe?: (state: HealthState) => void;
}

export class HealthMonitor implements HealthFeed {
  private current: HealthStatus = 'starting';
  private streak = 0;
  private readonly log: HealthLogEntry[] = [];
  private readonly listeners = new Set<(s: HealthStatus) => void>();
  private timer: Timer | undefined;
  private inFlight: AbortController | undefined;
  private started = false;
  private closed = false;
  private readonly startedAt: number;

  constructor(private readonly opts: HealthMonitorOptions) {
    this.startedAt = opts.startedAt ?? opts.clock.now();
  }

  get status(): HealthStatus {
    return this.current;
  }

  /** A copy of Docker's State.Health as it stands. */
  state(): HealthState {
    return { Status: this.current, FailingStreak: this.streak, Log: this.log.map((e) => ({ ...e })) };
  }

  /** Begins probing: the first probe one interval from now. Idempotent. */
  start(): void {
    if (this.started || this.closed) return;
    this.started = true;
    this.schedule();
  }

  onChange(fn: (status: HealthStatus) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.timer?.cancel();
    this.inFlight?.abort();
    this.listeners.clear();
  }

  private schedule(): void {
    if (this.closed) return;
    this.timer = this.opts.clock.setTimeout(() => void this.runOnce(), this.opts.timings.intervalMs);
  }

  private async runOnce(): Promise<void> {
    if (this.closed) return;
    const { clock, timings } = this.opts;
    const start = clock.now();
    const abort = new AbortController();
    this.inFlight = abort;
    // The probe and its deadline race; whichever settles first decides, the loser is ignored.
    const result = await new Promise<ProbeResult>((resolve) => {
      const deadline = clock.setTimeout(() => {
        abort.abort();
        resolve({ exitCode: -1, output: `Health check exceeded timeout (${formatDuration(timings.timeoutMs * 1e6)})` });
      }, timings.timeoutMs);
      this.opts.probe(abort.signal).then(
        (r) => {
          deadline.cancel();
          resolve(r);
        },
        (e: unknown) => {
          deadline.cancel();
          resolve({ exitCode: -1, output: `health check could not run: ${e instanceof Error ? e.message : String(e)}` });
        },
      );
    });
    this.inFlight = undefined;
    if (this.closed) return;
    this.record(start, clock.now(), result);
    this.opts.onProbe?.(this.state());
    this.schedule();
  }

  private record(start: number, end: number, r: ProbeResult): void {
    this.log.push({ Start: new Date(start).toISOString(), End: new Date(end).toISOString(), ExitCode: r.exitCode, Output: capOutput(r.output) });
    if (this.log.length > MAX_LOG_ENTRIES) this.log.splice(0, this.log.length - MAX_LOG_ENTRIES);
    if (r.exitCode === 0) {
      this.streak = 0;
      this.set('healthy');
      return;
    }
    const inStartPeriod = this.current === 'starting' && start < this.startedAt + this.opts.timings.startPeriodMs;
    if (inStartPeriod) return;
    this.streak++;
    if (this.streak >= this.opts.timings.retries) this.set('unhealthy');
  }

  private set(s: HealthStatus): void {
    if (s === this.current) return;
    this.current = s;
    for (const fn of [...this.listeners]) fn(s);
  }
}

/** The first MAX_OUTPUT_BYTES bytes of a probe's output (never splitting a UTF-8 character). */
export function capOutput(text: string): string {
  const buf = Buffer.from(text, 'utf8');
  if (buf.length <= MAX_OUTPUT_BYTES) return text;
  return new TextDecoder('utf-8', { fatal: false }).decode(buf.subarray(0, MAX_OUTPUT_BYTES)).replace(/\uFFFD$/, '');
}
