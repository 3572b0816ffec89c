/**
 * The `docker` executor: runs each task as a container of the node's Docker engine through dockerode, the way
 * Docker's own swarm executor does (names, labels and create options in docker-spec.ts), except that the
 * container starts with no network and Shoal's NetworkPlumber then plugs the task's interfaces into its
 * namespace (/proc/PID/ns/net), as a CNI plugin would.
 *
 * Containers are found again by name or by their labels, never by state kept in memory, so a swarmd that
 * restarts adopts the containers it left running (listTaskIds, then a controller per task). Errors carry the
 * engine's own message ("No such image: shoal-busybox:nope"), since users read them in `service ps`.
 */
import Docker from 'dockerode';
import type { ContainerInspectInfo } from 'dockerode';
import type { Task } from '../api/types';
import { ShoalError, errorMessage } from '../base/errors';
import type { Logger } from '../base/log';
import type { NetworkPlumber, TaskInterface } from '../../overlay/network-plumber';
import type { Controller, Executor, ExitStatus, LogLine, LogOptions, NodeFacts } from './executor';
import { LABEL, containerName, createOptions } from './docker-spec';
import { decodeLogs } from './docker-logs';
import { systemClock } from '../base/clock';
import { healthTimings } from './health-config';
import type { HealthFeed, HealthStatus } from './health-monitor';
import { PolledHealthFeed, pollPeriod } from './health-poll';

export interface DockerExecutorOptions {
  /** A dockerode client, or the path of the engine's unix socket (e.g. /run/shoal-docker.sock). */
  docker: Docker | string;
  plumber: NetworkPlumber;
  log: Logger;
  /** This node's ID: named in every container's labels, and how this node's containers are told apart. */
  nodeId: string;
}

/** What dockerode rejects with: the engine's HTTP status and its JSON body. */
interface EngineError {
  statusCode?: number;
  json?: { message?: string } | null;
  message?: string;
}

const statusOf = (e: unknown): number | undefined => (e as EngineError)?.statusCode;

/** The engine's own sentence ("No such image: x"), not dockerode's "(HTTP code 404) no such image - ..." prefix. */
export function engineMessage(e: unknown): string {
  const body = (e as EngineError)?.json;
  const msg = body && typeof body === 'object' && typeof body.message === 'string' ? body.message : errorMessage(e);
  return msg.trim();
}

function engineError(e: unknown, context?: string): ShoalError {
  const status = statusOf(e);
  const code = status === 404 ? 'not-found' : status === 409 ? 'conflict' : 'internal';
  const msg = engineMessage(e);
  return new ShoalError(code, context ? `${context}: ${msg}` : msg);
}

export class DockerExecutor implements Executor {
  readonly kind = 'docker' as const;
  private readonly docker: Docker;

  constructor(private readonly opts: DockerExecutorOptions) {
    if (!opts.nodeId) throw new ShoalError('invalid-argument', 'DockerExecutor needs a nodeId', 'nodeId');
    if (!opts.plumber) throw new ShoalError('invalid-argument', 'DockerExecutor needs a NetworkPlumber', 'plumber');
    this.docker = typeof opts.docker === 'string' ? new Docker({ socketPath: opts.docker }) : opts.docker;
  }

  async describe(): Promise<NodeFacts> {
    const info = await this.docker.info().catch((e) => {
      throw engineError(e, 'cannot read the Docker engine\'s info');
    });
    const engineLabels: Record<string, string> = {};
    for (const kv of (info.Labels as string[] | null) ?? []) {
      const eq = kv.indexOf('=');
      if (eq > 0) engineLabels[kv.slice(0, eq)] = kv.slice(eq + 1);
      else engineLabels[kv] = '';
    }
    return {
      hostname: info.Name,
      os: info.OSType,
      architecture: info.Architecture,
      nanoCPUs: info.NCPU * 1e9,
      memoryBytes: info.MemTotal,
      engineVersion: info.ServerVersion,
      engineLabels,
    };
  }

  controller(task: Task): Controller {
    return new DockerController(this.docker, task, this.opts);
  }

  async listTaskIds(): Promise<string[]> {
    const list = await this.docker.listContainers({ all: true, filters: { label: [`${LABEL.nodeId}=${this.opts.nodeId}`] } });
    const ids = new Set<string>();
    for (const c of list) {
      const id = c.Labels?.[LABEL.taskId];
      if (id) ids.add(id);
    }
    return [...ids];
  }

  async close(): Promise<void> {
    // dockerode keeps no connection open between requests; followers end with their own AbortSignals.
  }
}

class DockerController implements Controller {
  private readonly name: string | undefined;
  private readonly log: Logger;
  /** The container's ID once known: cheaper and rename-proof for the calls that follow. */
  private containerId: string | undefined;
  private healthFeed: PolledHealthFeed | undefined;

  constructor(
    private readonly docker: Docker,
    private readonly task: Task,
    private readonly opts: DockerExecutorOptions,
  ) {
    this.name = containerName(task, opts.nodeId);
    this.log = opts.log.child({ component: 'docker-executor', task: task.ID });
  }

  async prepare(): Promise<void> {
    if (await this.inspect()) return; // prepared before, or adopted after a restart
    const image = this.task.Spec.ContainerSpec.Image;
    // No registry here (and Docker's agent pulls before create anyway): the image must already be local.
    await this.docker
      .getImage(image)
      .inspect()
      .catch((e) => {
        throw engineError(e);
      });
    try {
      const c = await this.docker.createContainer(createOptions(this.task, this.opts.nodeId));
      this.containerId = c.id;
      this.log.debug('container created', { container: c.id, name: this.name });
    } catch (e) {
      // A create racing another (or a retry after a lost reply) finds the name taken: that container is ours.
      if (statusOf(e) === 409 && (await this.inspect())) return;
      throw engineError(e, 'cannot create the container');
    }
  }

  async start(): Promise<void> {
    let info = await this.mustInspect();
    if (!info.State.Running) {
      await this.docker
        .getContainer(info.Id)
        .start()
        .catch((e) => {
          if (statusOf(e) !== 304) throw engineError(e, 'cannot start the container'); // 304: already started
        });
      info = await this.mustInspect();
    }
    await this.plumb(info);
  }

  /** Gives the running container its interfaces. A container that already exited has no namespace to plumb. */
  private async plumb(info: ContainerInspectInfo): Promise<void> {
    const ifaces = this.interfaces();
    if (ifaces.length === 0) return;
    const pid = info.State.Pid;
    if (!info.State.Running || !pid) {
      this.log.debug('container exited before its networks were attached', { container: info.Id });
      return;
    }
    try {
      for (const i of ifaces) await this.opts.plumber.ensureNetwork(i.network);
      await this.opts.plumber.attach(this.task.ID, `/proc/${pid}/ns/net`, ifaces);
    } catch (e) {
      // It may have exited meanwhile (its namespace went with it); wait() reports that exit, not this.
      if (!(await this.isRunning())) return;
      throw new ShoalError('internal', `cannot attach the task's networks: ${errorMessage(e)}`);
    }
  }

  private interfaces(): TaskInterface[] {
    const out: TaskInterface[] = [];
    for (const a of this.task.NetworksAttachments ?? []) {
      const n = a.Network;
      const ipam = n.IPAM?.Config?.[0];
      const address = a.Addresses?.[0];
      if (!ipam?.Subnet || !address) {
        this.log.warn('network attachment without subnet or address: skipped', { network: n.Name });
        continue;
      }
      out.push({
        network: { id: n.ID, name: n.Name, subnet: ipam.Subnet, gateway: ipam.Gateway ?? '', vni: n.VNI },
        address,
      });
    }
    return out;
  }

  async wait(): Promise<ExitStatus> {
    const info = await this.mustInspect();
    let res: { StatusCode?: number; Error?: { Message?: string } | null };
    try {
      res = await this.docker.getContainer(info.Id).wait();
    } catch (e) {
      throw engineError(e, 'lost the task\'s container while waiting for it');
    }
    const exitCode = res.StatusCode ?? -1;
    if (exitCode === 0) return { exitCode };
    let message = `task: non-zero exit (${exitCode})`;
    const after = await this.inspect().catch(() => undefined);
    if (after?.State.OOMKilled) message += ': out of memory';
    else if (res.Error?.Message) message += `: ${res.Error.Message}`;
    return { exitCode, message };
  }

  /**
   * The engine runs the probes (the service's HealthConfig, or the image's HEALTHCHECK when the service sets no
   * Test: the engine merged them into the container's Config at create); Shoal follows State.Health.
   */
  async health(): Promise<HealthFeed | undefined> {
    if (this.healthFeed) return this.healthFeed;
    const info = await this.mustInspect();
    const h = info.Config?.Healthcheck as { Test?: string[]; Interval?: number } | undefined;
    if (!h?.Test?.length || h.Test[0] === 'NONE') return undefined;
    const read = async (): Promise<HealthStatus | undefined> => {
      const now = await this.inspect();
      const status = (now?.State as { Health?: { Status?: string } } | undefined)?.Health?.Status;
      return status === 'starting' || status === 'healthy' || status === 'unhealthy' ? status : undefined;
    };
    const feed = new PolledHealthFeed(read, systemClock, pollPeriod(healthTimings({ Interval: h.Interval }).intervalMs), (e) =>
      this.log.debug('cannot read the container\'s health', { err: e }),
    );
    this.healthFeed = feed;
    await feed.start();
    return feed;
  }

  async shutdown(gracePeriodMs: number): Promise<void> {
    const info = await this.inspect();
    if (!info || !info.State.Running) return;
    // Docker sends the stop signal, waits t seconds, then SIGKILL; it resolves once the container is gone.
    const t = Math.max(0, Math.ceil(gracePeriodMs / 1000));
    await this.docker
      .getContainer(info.Id)
      .stop({ t })
      .catch((e) => {
        const s = statusOf(e);
        if (s !== 304 && s !== 404) throw engineError(e, 'cannot stop the container'); // 304: already stopped
      });
  }

  async remove(): Promise<void> {
    this.healthFeed?.close();
    const info = await this.inspect();
    if (info) {
      await this.docker
        .getContainer(info.Id)
        .remove({ force: true, v: true })
        .catch((e) => {
          // 404: already gone; 409: a removal is already in progress.
          const s = statusOf(e);
          if (s !== 404 && s !== 409) throw engineError(e, 'cannot remove the container');
        });
    }
    this.containerId = undefined;
    await this.opts.plumber.detach(this.task.ID);
  }

  async isRunning(): Promise<boolean> {
    const info = await this.inspect();
    return info?.State.Running ?? false;
  }

  async *logs(opts: LogOptions): AsyncIterable<LogLine> {
    const info = await this.mustInspect();
    const c = this.docker.getContainer(info.Id);
    const base = { stdout: true, stderr: true, timestamps: true, ...(opts.tail !== undefined ? { tail: opts.tail } : {}) };
    const tty = info.Config?.Tty ?? false;
    if (opts.follow) {
      const stream = await c.logs({ ...base, follow: true, abortSignal: opts.signal }).catch((e) => {
        if (opts.signal?.aborted) return undefined;
        throw engineError(e, 'cannot read the task\'s logs');
      });
      if (stream) yield* decodeLogs(stream, tty, opts.signal);
    } else {
      const buf = await c.logs({ ...base, follow: false }).catch((e) => {
        throw engineError(e, 'cannot read the task\'s logs');
      });
      yield* decodeLogs(buf, tty);
    }
  }

  /** The container, found by ID once known, else by name, else (a task known only by ID) by its labels. */
  private async inspect(): Promise<ContainerInspectInfo | undefined> {
    const ref = this.containerId ?? this.name ?? (await this.findByLabel());
    if (!ref) return undefined;
    try {
      const info = await this.docker.getContainer(ref).inspect();
      this.containerId = info.Id;
      return info;
    } catch (e) {
      if (statusOf(e) === 404) {
        this.containerId = undefined;
        return undefined;
      }
      throw engineError(e, 'cannot inspect the container');
    }
  }

  private async mustInspect(): Promise<ContainerInspectInfo> {
    const info = await this.inspect();
    if (!info) throw new ShoalError('not-found', `no container for task ${this.task.ID}: it was removed or never created`);
    return info;
  }

  private async findByLabel(): Promise<string | undefined> {
    const list = await this.docker.listContainers({
      all: true,
      filters: { label: [`${LABEL.taskId}=${this.task.ID}`, `${LABEL.nodeId}=${this.opts.nodeId}`] },
    });
    return list[0]?.Id;
  }
}
