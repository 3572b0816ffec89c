/**
 * A real swarmd for integration tests: its own socket, data dir and cluster port (127.0.0.1:0), the process
 * executor, logs kept for the failure message. `cli()` runs the real swarmctl against it. stop() ends the
 * daemon; destroy() also leaves the swarm (which stops and removes every task) and deletes the data dir, so a
 * failing test leaves no processes, namespaces or files behind.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync, openSync, closeSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { Agent } from 'undici';

const ROOT = join(__dirname, '..', '..');
const SWARMD = join(ROOT, 'control', 'swarmd.js');
const SWARMCTL = join(ROOT, 'control', 'cli', 'swarmctl.js');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export class SwarmdProcess {
  readonly dir: string;
  readonly socket: string;
  readonly host: string;
  private child?: ChildProcess;
  /**
   * swarmd writes its logs to a file, not a pipe: Node writes to pipes synchronously, so a pipe the test does not
   * drain (it runs swarmctl with spawnSync) would fill up and stall swarmd.
   */
  private readonly logFile: string;

  /** executor defaults to 'process'; with 'docker', dockerHost names the engine (swarmd's --docker-host). */
  constructor(
    readonly extraArgs: string[] = [],
    /** netns: run swarmd inside this network namespace (ip netns exec execs, so the pid stays swarmd's). */
    readonly opts: { executor?: 'process' | 'docker'; dockerHost?: string; netns?: string } = {},
  ) {
    this.dir = mkdtempSync(join(tmpdir(), 'shoal-it-'));
    this.socket = join(this.dir, 'swarmd.sock');
    this.host = `unix://${this.socket}`;
    this.logFile = join(this.dir, 'swarmd.log');
  }

  async start(): Promise<void> {
    const argv = [process.execPath, SWARMD, '--host', this.host, '--data-dir', join(this.dir, 'data'), '--executor', this.opts.executor ?? 'process', ...(this.opts.dockerHost ? ['--docker-host', this.opts.dockerHost] : []), '--listen-addr', '127.0.0.1:0', '--log-level', 'debug', ...(this.extraArgs.includes('--metrics-addr') ? [] : ['--metrics-addr', '']), ...this.extraArgs];
    if (this.opts.netns) argv.unshift('ip', 'netns', 'exec', this.opts.netns);
    const log = openSync(this.logFile, 'a');
    try {
      this.child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', log, log] });
    } finally {
      closeSync(log);
    }
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      if (this.child.exitCode !== null) throw new Error(`swarmd exited (${this.child.exitCode}):\n${this.logs()}`);
      if (existsSync(this.socket) && (await this.ping())) return;
      await sleep(50);
    }
    throw new Error(`swarmd did not answer on ${this.socket} within 15 s:\n${this.logs()}`);
  }

  logs(lines = 60): string {
    const text = existsSync(this.logFile) ? readFileSync(this.logFile, 'utf8') : '';
    return text.split('\n').slice(-lines).join('\n');
  }

  async ping(): Promise<boolean> {
    try {
      const r = await request('http://swarmd/_ping', { dispatcher: new Agent({ connect: { socketPath: this.socket } }) });
      await r.body.text();
      return r.statusCode === 200;
    } catch {
      return false;
    }
  }

  /** Runs swarmctl with these arguments against this daemon. */
  cli(...args: string[]): CliResult {
    const r = spawnSync(process.execPath, [SWARMCTL, '-H', this.host, ...args], { encoding: 'utf8', timeout: 60_000 });
    return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  }

  /** Like cli() but throws with both outputs unless the command succeeded. */
  ok(...args: string[]): string {
    const r = this.cli(...args);
    if (r.code !== 0) throw new Error(`swarmctl ${args.join(' ')} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}\nswarmd:\n${this.logs()}`);
    return r.stdout;
  }

  /** Polls fn until it returns a truthy value (or throws after timeoutMs with the last value). */
  async until<T>(what: string, fn: () => T | Promise<T>, timeoutMs = 20_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let last: T | undefined;
    while (Date.now() < deadline) {
      last = await fn();
      if (last) return last;
      await sleep(100);
    }
    throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(last)}\nswarmd:\n${this.logs()}`);
  }

  /** SIGTERM and wait; tasks keep running (to test adoption). */
  async stop(): Promise<void> {
    const c = this.child;
    if (!c || c.exitCode !== null) return;
    const exited = new Promise((r) => c.once('exit', r));
    c.kill('SIGTERM');
    await Promise.race([exited, sleep(10_000).then(() => c.kill('SIGKILL'))]);
  }

  /** SIGKILL, as a crash: nothing is cleaned up (to test what the next start finds). */
  async kill(): Promise<void> {
    const c = this.child;
    if (!c || c.exitCode !== null) return;
    const exited = new Promise((r) => c.once('exit', r));
    c.kill('SIGKILL');
    await exited;
  }

  /** Leaves the swarm (removing all tasks), stops swarmd, deletes its files. Safe to call twice. */
  async destroy(): Promise<void> {
    try {
      if (this.child && this.child.exitCode === null) this.cli('swarm', 'leave', '--force');
    } finally {
      await this.stop();
      rmSync(this.dir, { recursive: true, force: true });
    }
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
