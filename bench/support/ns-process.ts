/**
 * A long-running process inside a named network namespace, for the benchmarks' labs: `ip netns exec` execs, so
 * the pid is the process's own and signals reach it. Its output is kept (the tail) for error messages; stop()
 * sends SIGTERM, waits, and SIGKILLs after a grace period; it is safe to call twice and after the process died.
 */
import { spawn, type ChildProcess } from 'node:child_process';

export class NsProcess {
  private readonly child: ChildProcess;
  private output = '';
  private readonly exited: Promise<void>;
  private readonly lineWaiters: { re: RegExp; resolve: (line: string) => void }[] = [];

  constructor(
    readonly label: string,
    netns: string,
    argv: string[],
    env: NodeJS.ProcessEnv = process.env,
  ) {
    this.child = spawn('ip', ['netns', 'exec', netns, ...argv], { stdio: ['ignore', 'pipe', 'pipe'], env });
    const keep = (d: Buffer) => {
      this.output = (this.output + d.toString()).slice(-20_000);
      for (const w of [...this.lineWaiters]) {
        const line = this.output.split('\n').find((l) => w.re.test(l));
        if (line !== undefined) {
          this.lineWaiters.splice(this.lineWaiters.indexOf(w), 1);
          w.resolve(line);
        }
      }
    };
    this.child.stdout!.on('data', keep);
    this.child.stderr!.on('data', keep);
    this.exited = new Promise((r) => this.child.once('exit', () => r()));
    this.child.once('error', (e) => (this.output += `\nspawn failed: ${e.message}`));
  }

  /** The process's own pid (`ip netns exec` execs it), for /proc readings. */
  get pid(): number {
    return this.child.pid ?? -1;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  logs(): string {
    return this.output;
  }

  /** Resolves with the first output line matching re; rejects if the process exits first or after timeoutMs. */
  waitForLine(re: RegExp, timeoutMs = 10_000): Promise<string> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.label}: no line matching ${re} within ${timeoutMs / 1000} s:\n${this.output}`)), timeoutMs);
      const done = (line: string) => {
        clearTimeout(timer);
        resolve(line);
      };
      const line = this.output.split('\n').find((l) => re.test(l));
      if (line !== undefined) return done(line);
      this.lineWaiters.push({ re, resolve: done });
      void this.exited.then(() => {
        clearTimeout(timer);
        reject(new Error(`${this.label} exited (${this.child.exitCode ?? this.child.signalCode}):\n${this.output}`));
      });
    });
  }

  async stop(graceMs = 5000): Promise<void> {
    if (!this.running) return;
    this.child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<boolean>((r) => (timer = setTimeout(() => r(true), graceMs)));
    const killed = await Promise.race([this.exited.then(() => false), late]);
    clearTimeout(timer);
    if (killed) {
      this.child.kill('SIGKILL');
      await this.exited;
    }
  }
}
