/**
 * The executor contract: what a node needs to run one task, whichever runtime does it. The agent's task runner
 * drives a Controller one state at a time (swarmkit's exec.Do); executors only do the side effects.
 *
 * Error rule (swarmkit): an error thrown before the task reaches STARTING makes it REJECTED, one thrown at or
 * after STARTING makes it FAILED. Errors are shown to users in `service ps`, so make them say what is wrong
 * ("No such image: busybox:none", "task has no command: ...").
 */
import type { Task } from '../api/types';
import type { HealthFeed } from './health-monitor';

/**
 * Why a task killed for failing its health check failed: swarmkit's ErrContainerUnhealthy, word for word (after
 * "task: non-zero exit (N): "), for both executors, so scripts that read `service ps` errors see Docker's text.
 */
export const UNHEALTHY_ERROR = 'dockerexec: unhealthy container';

/** How a task's main process ended. */
export interface ExitStatus {
  exitCode: number;
  /** A short explanation for non-zero exits or kills ("task: non-zero exit (1)"). */
  message?: string;
}

export interface LogLine {
  stream: 'stdout' | 'stderr';
  /** RFC 3339 with nanoseconds, as docker logs --timestamps prints. */
  timestamp: string;
  line: string;
}

export interface LogOptions {
  follow?: boolean;
  /** Number of lines from the end; undefined = all. */
  tail?: number;
  signal?: AbortSignal;
}

export interface NodeFacts {
  hostname: string;
  os: string;
  architecture: string;
  nanoCPUs: number;
  memoryBytes: number;
  engineVersion: string;
  engineLabels: Record<string, string>;
}

export interface Controller {
  /**
   * Makes everything ready to start: for docker, checks the image and creates the container (no network);
   * for process, checks the command and creates the network namespace with the task's interfaces.
   * Idempotent: a task already prepared (or adopted after a swarmd restart) is left as it is.
   */
  prepare(): Promise<void>;
  /** Starts the main process. Idempotent: resolves at once if it is already running. */
  start(): Promise<void>;
  /** Resolves when the main process exits (also for an adopted task). */
  wait(): Promise<ExitStatus>;
  /** Stops the process: the stop signal (SIGTERM), then SIGKILL after gracePeriodMs. Resolves once it is gone. */
  shutdown(gracePeriodMs: number): Promise<void>;
  /** Releases everything the task held: container, namespace, interfaces, log files. Idempotent. */
  remove(): Promise<void>;
  /** Whether the task's main process is alive now (used to adopt tasks after a swarmd restart). */
  isRunning(): Promise<boolean>;
  /**
   * The task's health check, followed from the moment its process started; undefined when it has none (no
   * HealthConfig.Test and, for docker, no HEALTHCHECK in the image; or Test ["NONE"]). Called after start();
   * every call returns the same feed. Optional: an executor without health checks leaves it out.
   */
  health?(): Promise<HealthFeed | undefined>;
  /** The task's output, oldest first; with follow, keeps yielding until the signal aborts or the task is removed. */
  logs(opts: LogOptions): AsyncIterable<LogLine>;
}

export interface Executor {
  readonly kind: 'docker' | 'process' | 'memory';
  /** Facts about this node for its Node.Description. */
  describe(): Promise<NodeFacts>;
  /** A controller for one task. The task's templates are already expanded and its addresses allocated. */
  controller(task: Task): Controller;
  /** IDs of tasks this executor still holds (containers or processes from before a restart). */
  listTaskIds(): Promise<string[]>;
  /** Releases executor-wide resources (connections, watchers). Does not stop tasks. */
  close(): Promise<void>;
}

/**
 * A reference to a task by ID alone, for a controller over a task the manager no longer describes (strays after
 * a restart, everything on `swarm leave`): executors find such tasks by ID (container label, task directory).
 */
export function taskRef(id: string): Task {
  return { ID: id, Spec: { ContainerSpec: { Image: '' } } } as unknown as Task;
}
