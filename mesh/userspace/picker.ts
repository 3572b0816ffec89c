/**
 * Backend choice for one published port, as an immutable picker (grpc-js's pattern): a new picker is built when
 * the backends change, so the connection path only calls pick(). Round-robin by default; least-connections as
 * an option, counting the connections each backend holds now.
 */

export interface BackendAddr {
  taskId: string;
  host: string;
  port: number;
}

export type Strategy = 'round-robin' | 'least-connections';

export class Picker {
  private next = 0;
  constructor(
    readonly backends: readonly BackendAddr[],
    private readonly strategy: Strategy = 'round-robin',
    private readonly active: Map<string, number> = new Map(),
  ) {}

  /** The backend to try for attempt `attempt` (0-based) of one connection; undefined when none is left. */
  pick(attempt: number, start: number): BackendAddr | undefined {
    if (attempt >= this.backends.length) return undefined;
    return this.backends[(start + attempt) % this.backends.length];
  }

  /** Where a new connection starts: the next in turn, or the least loaded backend. */
  start(): number {
    const n = this.backends.length;
    if (n === 0) return 0;
    if (this.strategy === 'least-connections') {
      let best = 0;
      for (let i = 1; i < n; i++) if ((this.active.get(this.backends[i].taskId) ?? 0) < (this.active.get(this.backends[best].taskId) ?? 0)) best = i;
      return best;
    }
    const i = this.next;
    this.next = (i + 1) % n;
    return i;
  }
}
