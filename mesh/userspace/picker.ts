/**
 * Backend choice for one listener, as an immutable picker (grpc-js's pattern): a new picker is built when the
 * backends change, so the connection path only calls start() and pick(). Round-robin by default;
 * least-connections counts what each backend holds now (TCP connections, UDP flows) in a map the proxy keeps
 * across pickers, so a backend's load survives a change of the backend set.
 */
import type { Balance } from '../endpoint-table';

export interface BackendAddr {
  taskId: string;
  host: string;
  port: number;
}

export type Strategy = Balance;

/** One key per backend address: a task that moves to another address is a different backend. */
export const backendKey = (b: BackendAddr): string => `${b.taskId}/${b.host}/${b.port}`;

export class Picker {
  private next = 0;
  constructor(
    readonly backends: readonly BackendAddr[],
    readonly strategy: Strategy = 'round-robin',
    /** Open connections (or flows) by task ID, kept up to date by the proxy. */
    private readonly active: ReadonlyMap<string, number> = new Map(),
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
    const from = this.next;
    this.next = (from + 1) % n;
    if (this.strategy === 'round-robin') return from;
    // Least loaded; the scan begins at a rotating index so ties (typically all zero) still spread round-robin
    // instead of piling every short connection onto the first backend.
    let best = from;
    let bestLoad = this.load(from);
    for (let k = 1; k < n && bestLoad > 0; k++) {
      const i = (from + k) % n;
      const load = this.load(i);
      if (load < bestLoad) {
        best = i;
        bestLoad = load;
      }
    }
    return best;
  }

  private load(i: number): number {
    return this.active.get(this.backends[i].taskId) ?? 0;
  }
}
