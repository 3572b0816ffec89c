/**
 * The restart policy, as swarmkit applies it: whether a task that stopped gets a successor, and how long the
 * successor waits before it may start. Attempts are counted per slot (or per node for global services), only
 * within Window when one is set, and forgotten when the service's spec changes.
 */
import type { RestartPolicy, Task } from '../../api/types';

export const DEFAULT_RESTART_DELAY_NS = 5e9;

interface Attempts {
  specVersion: number;
  times: number[];
}

export class RestartHistory {
  private attempts = new Map<string, Attempts>();

  /** Records a restart of the slot at time now. */
  record(key: string, specVersion: number, now: number): void {
    const a = this.current(key, specVersion);
    a.times.push(now);
  }

  /** Restarts of the slot under this spec version, counting only those within windowMs of now (0 = all). */
  count(key: string, specVersion: number, now: number, windowMs: number): number {
    const a = this.current(key, specVersion);
    if (windowMs > 0) a.times = a.times.filter((t) => now - t <= windowMs);
    return a.times.length;
  }

  forget(key: string): void {
    this.attempts.delete(key);
  }

  private current(key: string, specVersion: number): Attempts {
    let a = this.attempts.get(key);
    if (!a || a.specVersion !== specVersion) this.attempts.set(key, (a = { specVersion, times: [] }));
    return a;
  }
}

/**
 * Whether the stopped task should be replaced. A task whose node went away or was drained is always replaced:
 * that is rescheduling, not a restart of a failed process.
 */
export function shouldRestart(
  task: Task,
  policy: RestartPolicy | undefined,
  restartsSoFar: number,
  nodeInvalid: boolean,
): boolean {
  if (nodeInvalid) return true;
  const condition = policy?.Condition ?? 'any';
  if (condition === 'none') return false;
  if (condition === 'on-failure' && task.Status.State === 'complete') return false;
  const max = policy?.MaxAttempts ?? 0;
  return max === 0 || restartsSoFar < max;
}

/** Milliseconds a successor waits before it may run (Docker does not delay rescheduling off a lost node). */
export function restartDelayMs(policy: RestartPolicy | undefined, nodeInvalid: boolean): number {
  if (nodeInvalid) return 0;
  return (policy?.Delay ?? DEFAULT_RESTART_DELAY_NS) / 1e6;
}
