/**
 * The `process` executor: runs a task's command from the host filesystem inside a network namespace of its own
 * (`shoal-<taskId>`, with one veth per swarm network from the NetworkPlumber), so a node without Docker still
 * runs services. One detached process shim per node (process-shim.ts) starts and supervises every task; each
 * task has a directory under `<dataDir>/tasks/`, which is how a restarted swarmd lists and adopts the tasks the
 * previous one started.
 *
 * What a container would add and this does not: no image (the command must exist on the node), no filesystem,
 * PID, IPC or user isolation, no resource limits, no mounts; the task runs as root. It does get its own network
 * namespace, hostname (a UTS namespace) and resolv.conf.
 */
import { promises as fsp } from 'node:fs';
import { cpus, hostname as osHostname, totalmem } from 'node:os';
import { join } from 'node:path';
import { exec as defaultExec, type Exec } from '../base/exec';
import type { Logger } from '../base/log';
import type { Task } from '../api/types';
import type { NetworkPlumber } from '../../overlay/network-plumber';
import type { Controller, Executor, NodeFacts } from './executor';
import { Limiter, ProcessController, type ProcessControllerContext } from './process-controller';
import { NetnsBatcher } from './process-netns-batch';
import { ShimClient } from './process-shim-client';

/** Tasks whose veths and bridges are being set up at once (each step is an `ip` exec). */
const PLUMBING_CONCURRENCY = 8;

export interface ProcessExecutorOptions {
  /** Where task directories live (`<dataDir>/tasks/<taskId>`); keep it across restarts to adopt tasks. */
  dataDir: string;
  plumber: NetworkPlumber;
  log: Logger;
  /** The node's hostname in its description (swarmd --hostname); os.hostname() by default. */
  hostname?: string;
  /** Runs `ip` and friends; control/base/exec by default. */
  exec?: Exec;
}

export const PROCESS_ENGINE_VERSION = 'shoal-process';

/** Docker's (uname -m) spelling of Node's process.arch. */
export function dockerArchitecture(arch: string = process.arch): string {
  const names: Record<string, string> = { x64: 'x86_64', arm64: 'aarch64', arm: 'armv7l', ia32: 'i686', ppc64: 'ppc64le', s390x: 's390x' };
  return names[arch] ?? arch;
}

export class ProcessExecutor implements Executor {
  readonly kind = 'process' as const;
  private readonly ctx: ProcessControllerContext;

  constructor(private readonly opts: ProcessExecutorOptions) {
    if (!opts.dataDir) throw new Error('ProcessExecutor: dataDir is required');
    const exec = opts.exec ?? defaultExec;
    this.ctx = {
      dataDir: opts.dataDir,
      plumber: opts.plumber,
      exec,
      log: opts.log,
      shim: new ShimClient(opts.dataDir, opts.log),
      netns: new NetnsBatcher(exec),
      plumbing: new Limiter(PLUMBING_CONCURRENCY),
      networks: new Map(),
    };
  }

  async describe(): Promise<NodeFacts> {
    return {
      hostname: this.opts.hostname || osHostname(),
      os: 'linux',
      architecture: dockerArchitecture(),
      nanoCPUs: cpus().length * 1e9,
      memoryBytes: totalmem(),
      engineVersion: PROCESS_ENGINE_VERSION,
      engineLabels: {},
    };
  }

  controller(task: Task): Controller {
    return new ProcessController(task, this.ctx);
  }

  /**
   * Every task directory, running or not: a task that exited while swarmd was down still holds a namespace and
   * veths, and listing it lets the agent remove it if the manager has forgotten it.
   */
  async listTaskIds(): Promise<string[]> {
    const entries = await fsp.readdir(join(this.opts.dataDir, 'tasks'), { withFileTypes: true }).catch((e) => {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    });
    return entries.filter((e) => e.isDirectory()).map((e) => e.name).sort();
  }

  /** Tasks keep running (the shim is detached); only this swarmd's connection to it goes. */
  async close(): Promise<void> {
    this.ctx.shim.close();
  }
}
