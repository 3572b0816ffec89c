/**
 * What the agent reports as it works, for metrics: executor call latencies, task failures by a bounded reason
 * class, heartbeat round trips, sessions opened. An interface so the agent never depends on a metrics library;
 * failureReason() is the pure classifier that keeps the reason label bounded (never an error text or task ID).
 */

export type ExecutorOperation = 'prepare' | 'start' | 'stop';

/** Why a task ended badly, in few enough classes to be a label. */
export type FailureReason = 'rejected' | 'unhealthy' | 'start_error' | 'exit_nonzero' | 'exit_signal' | 'exit_cannot_run' | 'error';
export const FAILURE_REASONS: readonly FailureReason[] = ['rejected', 'unhealthy', 'start_error', 'exit_nonzero', 'exit_signal', 'exit_cannot_run', 'error'];

export interface AgentObserver {
  /** One executor call finished (ok or thrown) after `seconds`. */
  operation(executor: string, operation: ExecutorOperation, ok: boolean, seconds: number): void;
  /** A task on this node ended FAILED or REJECTED. */
  taskFailed(reason: FailureReason): void;
  /** A heartbeat came back after `seconds`. */
  heartbeat(seconds: number): void;
  /** A dispatcher session opened. */
  sessionOpened(): void;
}

/**
 * The reason class of a FAILED/REJECTED task. Exit codes follow the shell's convention: 126/127 the command
 * could not run, above 128 a signal ended it (137 = SIGKILL, e.g. out of memory).
 */
export function failureReason(f: { state: 'failed' | 'rejected'; unhealthy?: boolean; startError?: boolean; exitCode?: number }): FailureReason {
  if (f.state === 'rejected') return 'rejected';
  if (f.unhealthy) return 'unhealthy';
  if (f.startError) return 'start_error';
  const c = f.exitCode;
  if (c === undefined) return 'error';
  if (c === 126 || c === 127) return 'exit_cannot_run';
  if (c > 128) return 'exit_signal';
  return 'exit_nonzero';
}
