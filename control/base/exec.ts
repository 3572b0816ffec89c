/**
 * The one place that runs external commands (ip, iptables-restore, ...). A failure carries argv, exit code and
 * stderr so the log says exactly what the kernel refused.
 */
import { execFile, spawn, type ExecFileOptions } from 'node:child_process';
import { constants as osConstants } from 'node:os';

export class ExecError extends Error {
  constructor(
    readonly argv: string[],
    readonly exitCode: number | null,
    readonly stderr: string,
  ) {
    super(`${argv.join(' ')} failed (exit ${exitCode}): ${stderr.trim()}`);
    this.name = 'ExecError';
  }
}

export interface ExecResult {
  stdout: string;
  stderr: string;
}

export type Exec = (argv: string[], opts?: { input?: string; timeoutMs?: number }) => Promise<ExecResult>;

/** Runs argv[0] with the rest as arguments; rejects with ExecError on a non-zero exit. */
export const exec: Exec = (argv, opts = {}) =>
  new Promise((resolve, reject) => {
    const options: ExecFileOptions = { timeout: opts.timeoutMs ?? 30_000, maxBuffer: 64 * 1024 * 1024 };
    const child = execFile(argv[0], argv.slice(1), options, (err, stdout, stderr) => {
      if (err) {
        const code = typeof (err as NodeJS.ErrnoException).code === 'number' ? ((err as any).code as number) : null;
        const text = String(stderr || '') || err.message;
        reject(new ExecError(argv, code, text));
      } else resolve({ stdout: String(stdout), stderr: String(stderr) });
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });

export interface CaptureResult {
  /** The exit code; 128 + the signal number for a process killed by a signal (as a shell reports it). */
  exitCode: number;
  /** stdout and stderr as they came, interleaved, up to maxBytes. */
  output: string;
}

export interface CaptureOptions {
  env?: Record<string, string>;
  cwd?: string;
  /** Kills the command's whole process group (it leads one) when aborted. */
  signal?: AbortSignal;
  /** Output kept; the rest is read and dropped. */
  maxBytes: number;
}

/**
 * Runs argv and reports how it ended, whatever the exit code (health probes: a non-zero exit is an answer, not
 * an error). Rejects only when the command cannot be started at all.
 */
export function execCapture(argv: string[], opts: CaptureOptions): Promise<CaptureResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), { env: opts.env, cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const chunks: Buffer[] = [];
    let kept = 0;
    const keep = (b: Buffer): void => {
      if (kept >= opts.maxBytes) return;
      const part = b.subarray(0, opts.maxBytes - kept);
      chunks.push(part);
      kept += part.length;
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const kill = (): void => {
      try {
        if (child.pid) process.kill(-child.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    };
    if (opts.signal?.aborted) kill();
    opts.signal?.addEventListener('abort', kill, { once: true });
    child.on('error', (e) => {
      opts.signal?.removeEventListener('abort', kill);
      reject(e);
    });
    child.on('close', (code, sig) => {
      opts.signal?.removeEventListener('abort', kill);
      const signum = sig ? (osConstants.signals as Record<string, number>)[sig] ?? 0 : 0;
      resolve({ exitCode: code ?? 128 + signum, output: Buffer.concat(chunks).toString('utf8') });
    });
  });
}

/** Whether a command exists on PATH (used to pick defaults and to fail tests with an install hint). */
export async function commandExists(name: string): Promise<boolean> {
  try {
    await exec(['sh', '-c', `command -v ${name}`]);
    return true;
  } catch {
    return false;
  }
}
