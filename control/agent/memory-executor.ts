/**
 * The `memory` executor: a runtime that runs nothing. Every task prepares and starts at once and then "runs"
 * until it is shut down, so the whole control plane — store, orchestrator, allocator, scheduler, dispatcher,
 * agent, task runners — can be driven at full speed without a kernel or a Docker engine in the way. It is a real
 * Executor (the agent cannot tell it apart from the others): it keeps per-task state in a Map, honours
 * idempotence, and answers listTaskIds, so benchmarks and tests measure Shoal's own costs and nothing else.
 *
 * Controllers are views onto the executor's table, as with the other executors: the agent may build a fresh
 * controller for a task it already holds (adoption, `swarm leave`) and must see the same state.
 */
import { cpus, hostname as osHostname, totalmem } from 'node:os';
import type { Task } from '../api/types';
import type { Controller, ExitStatus, Executor, LogLine, LogOptions, NodeFacts } from './executor';
import { dockerArchitecture } from './process-executor';

export const MEMORY_ENGINE_VERSION = 'shoal-memory';

/** One task's life in memory. */
interface MemoryTask {
  state: 'prepared' | 'running' | 'exited';
  exit: Promise<ExitStatus>;
  /** Ends the "process": resolves every wait() with the given status. */
  finish: (status: ExitStatus) => void;
}

export interface MemoryExecutorOptions {
  /** The node's hostname in its description; os.hostname() by default. */
  hostname?: string;
  /** NanoCPUs reported to the scheduler; the host's CPUs by default. */
  nanoCPUs?: number;
  /** Memory reported to the scheduler; the host's memory by default. */
  memoryBytes?: number;
}

export class MemoryExecutor implements Executor {
  // The runtime value is honest ("memory" shows in `docker info`); the contract's union does not list it yet.
  readonly kind = 'memory' as const;
  private readonly tasks = new Map<string, MemoryTask>();

  constructor(private readonly opts: MemoryExecutorOptions = {}) {}

  async describe(): Promise<NodeFacts> {
    return {
      hostname: this.opts.hostname || osHostname(),
      os: 'linux',
      architecture: dockerArchitecture(),
      nanoCPUs: this.opts.nanoCPUs ?? cpus().length * 1e9,
      memoryBytes: this.opts.memoryBytes ?? totalmem(),
      engineVersion: MEMORY_ENGINE_VERSION,
      engineLabels: {},
    };
  }

  controller(task: Task): Controller {
    return new MemoryController(task.ID, this.tasks);
  }

  async listTaskIds(): Promise<string[]> {
    return [...this.tasks.keys()].sort();
  }

  /** Number of tasks whose "process" is running now (for benchmarks and tests). */
  runningCount(): number {
    let n = 0;
    for (const t of this.tasks.values()) if (t.state === 'running') n++;
    return n;
  }

  /** Number of tasks held at all, running or not (removed tasks are gone). */
  heldCount(): number {
    return this.tasks.size;
  }

  /** Tasks keep "running": like the other executors, closing releases only executor-wide resources. */
  async close(): Promise<void> {}
}

class MemoryController implements Controller {
  constructor(
    private readonly id: string,
    private readonly tasks: Map<string, MemoryTask>,
  ) {}

  async prepare(): Promise<void> {
    if (this.tasks.has(this.id)) return;
    let finish!: (status: ExitStatus) => void;
    const exit = new Promise<ExitStatus>((r) => (finish = r));
    this.tasks.set(this.id, { state: 'prepared', exit, finish });
  }

  async start(): Promise<void> {
    const t = this.tasks.get(this.id);
    if (!t) throw new Error(`task ${this.id} is not prepared: no such task in the memory executor`);
    if (t.state === 'exited') throw new Error(`task ${this.id} has already exited`);
    t.state = 'running';
  }

  wait(): Promise<ExitStatus> {
    const t = this.tasks.get(this.id);
    if (!t) return Promise.reject(new Error(`no such task in the memory executor: ${this.id}`));
    return t.exit;
  }

  /** A stop signal always works here: the task exits as if killed by SIGTERM (143), at once. */
  async shutdown(_gracePeriodMs: number): Promise<void> {
    const t = this.tasks.get(this.id);
    if (!t || t.state === 'exited') return;
    const wasRunning = t.state === 'running';
    t.state = 'exited';
    t.finish(wasRunning ? { exitCode: 143, message: 'task: stopped (SIGTERM)' } : { exitCode: 0 });
  }

  async remove(): Promise<void> {
    const t = this.tasks.get(this.id);
    if (!t) return;
    if (t.state !== 'exited') t.finish({ exitCode: 137, message: 'task: removed' });
    this.tasks.delete(this.id);
  }

  async isRunning(): Promise<boolean> {
    return this.tasks.get(this.id)?.state === 'running';
  }

  async *logs(_opts: LogOptions): AsyncIterable<LogLine> {
    // A task that runs nothing prints nothing.
  }
}
