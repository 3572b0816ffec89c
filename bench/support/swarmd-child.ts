/**
 * swarmd as a child process for the benchmarks: its own temp dir (socket, data dir), cluster port 127.0.0.1:0,
 * the chosen executor, its log kept for error messages. With SHOAL_BENCH_CPU_PROF=DIR set, swarmd runs under
 * `node --cpu-prof --cpu-prof-dir DIR` and writes a .cpuprofile when it stops (read it with
 * `node dist/bench/support/profile-top.js DIR/*.cpuprofile`). destroy() leaves the swarm (which removes every
 * task), stops swarmd and deletes its files; it is safe to call twice and after a failed start.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiClient } from './api-client';
import { sleep } from './table';

const SWARMD = join(__dirname, '..', '..', 'control', 'swarmd.js');

export interface SwarmdChildOptions {
  executor: 'docker' | 'process';
  dockerHost?: string;
  logLevel?: 'debug' | 'info' | 'warn' | 'error';
}

export class SwarmdChild {
  readonly dir: string;
  readonly socket: string;
  readonly api: ApiClient;
  private child?: ChildProcess;
  private output = '';

  constructor(private readonly opts: SwarmdChildOptions) {
    this.dir = mkdtempSync(join(tmpdir(), 'shoal-bench-'));
    this.socket = join(this.dir, 'swarmd.sock');
    this.api = new ApiClient(this.socket);
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  async start(): Promise<void> {
    const prof = process.env.SHOAL_BENCH_CPU_PROF;
    const nodeArgs = prof ? ['--cpu-prof', '--cpu-prof-dir', prof] : [];
    const args = [
      ...nodeArgs,
      SWARMD,
      '--host', `unix://${this.socket}`,
      '--data-dir', join(this.dir, 'data'),
      '--executor', this.opts.executor,
      '--listen-addr', '127.0.0.1:0',
      '--log-level', this.opts.logLevel ?? 'warn',
    ];
    if (this.opts.dockerHost) args.push('--docker-host', this.opts.dockerHost);
    this.child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (d: Buffer) => {
      this.output = (this.output + d.toString()).slice(-20_000);
    };
    this.child.stdout!.on('data', keep);
    this.child.stderr!.on('data', keep);
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      if (this.child.exitCode !== null) throw new Error(`swarmd exited (${this.child.exitCode}):\n${this.logs()}`);
      if (existsSync(this.socket) && (await this.api.ping())) return;
      await sleep(50);
    }
    throw new Error(`swarmd did not answer on ${this.socket} within 15 s:\n${this.logs()}`);
  }

  logs(lines = 40): string {
    return this.output.split('\n').slice(-lines).join('\n');
  }

  /** POST /swarm/init; returns this node's ID. */
  async init(): Promise<string> {
    return this.api.post<string>('/swarm/init', { AdvertiseAddr: '127.0.0.1' });
  }

  /** SIGTERM and wait for the exit (SIGKILL after 20 s). */
  async stop(): Promise<void> {
    const c = this.child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise((r) => c.once('exit', r));
    c.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<boolean>((r) => (timer = setTimeout(() => r(true), 20_000)));
    const killed = await Promise.race([exited.then(() => false), late]);
    clearTimeout(timer); // a pending timer would keep the benchmark alive for 20 s after it is done
    if (killed) {
      c.kill('SIGKILL');
      await exited;
    }
  }

  /** Leaves the swarm if swarmd still answers (removing its tasks), stops it, deletes the temp dir. */
  async destroy(): Promise<void> {
    try {
      if (this.child && this.child.exitCode === null && (await this.api.ping())) {
        await this.api.post('/swarm/leave?force=1').catch(() => undefined);
      }
    } finally {
      await this.stop();
      await this.api.close().catch(() => undefined);
      rmSync(this.dir, { recursive: true, force: true });
    }
  }
}
