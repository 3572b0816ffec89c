/**
 * A task's health check as the monitor runs it: which command (Docker's HealthConfig.Test forms) and the timings
 * with Docker's defaults filled in. Docker's rules: Test ["NONE"] disables the check; ["CMD", arg...] runs arg...
 * directly; ["CMD-SHELL", "cmd"] runs `/bin/sh -c cmd`; an empty Test inherits the image's (so, for the process
 * executor, which has no image, there is no check); a zero duration or zero retries means "the default".
 */
import type { HealthConfig } from '../api/types';

/** Docker's defaults (daemon/health.go): probe every 30s, allow 30s each, 3 failures in a row, no start period. */
export const DEFAULT_INTERVAL_MS = 30_000;
export const DEFAULT_TIMEOUT_MS = 30_000;
export const DEFAULT_RETRIES = 3;

export interface HealthTimings {
  intervalMs: number;
  timeoutMs: number;
  /** Failures whose probe started within this long of the task's start do not count (a success ends it early). */
  startPeriodMs: number;
  /** Consecutive failures that make the task unhealthy. */
  retries: number;
}

/** The command one probe runs: argv to exec as is (CMD-SHELL becomes /bin/sh -c). */
export interface HealthTest {
  argv: string[];
}

export function healthTimings(h: HealthConfig | undefined): HealthTimings {
  const ms = (ns: number | undefined, dflt: number): number => (ns && ns > 0 ? ns / 1e6 : dflt);
  return {
    intervalMs: ms(h?.Interval, DEFAULT_INTERVAL_MS),
    timeoutMs: ms(h?.Timeout, DEFAULT_TIMEOUT_MS),
    startPeriodMs: ms(h?.StartPeriod, 0),
    retries: h?.Retries && h.Retries > 0 ? h.Retries : DEFAULT_RETRIES,
  };
}

/**
 * The probe command of a HealthConfig, or undefined when there is no check to run (none given, or ["NONE"]).
 * Throws, naming the field, on a Test Docker would not run.
 */
export function healthTest(h: HealthConfig | undefined): HealthTest | undefined {
  const test = h?.Test ?? [];
  if (test.length === 0 || test[0] === 'NONE') return undefined;
  const [kind, ...rest] = test;
  if (kind === 'CMD-SHELL') {
    if (rest.length !== 1 || !rest[0]) throw new Error('Healthcheck.Test: CMD-SHELL takes exactly one command string, e.g. ["CMD-SHELL", "curl -f localhost"]');
    return { argv: ['/bin/sh', '-c', rest[0]] };
  }
  if (kind === 'CMD') {
    if (rest.length === 0 || !rest[0]) throw new Error('Healthcheck.Test: CMD needs a command, e.g. ["CMD", "test", "-f", "/ready"]');
    return { argv: rest };
  }
  throw new Error(`Healthcheck.Test: unsupported test type "${kind}": use "CMD", "CMD-SHELL" or "NONE"`);
}
