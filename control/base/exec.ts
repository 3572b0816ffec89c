/**
 * The one place that runs external commands (ip, iptables-restore, ...). A failure carries argv, exit code and
 * stderr so the log says exactly what the kernel refused.
 */
import { execFile, type ExecFileOptions } from 'node:child_process';

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

/** Whether a command exists on PATH (used to pick defaults and to fail tests with an install hint). */
export async function commandExists(name: string): Promise<boolean> {
  try {
    await exec(['sh', '-c', `command -v ${name}`]);
    return true;
  } catch {
    return false;
  }
}
