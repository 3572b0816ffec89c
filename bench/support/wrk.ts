/**
 * wrk as bench/mesh's HTTP load generator, run inside the client namespace: one thread, N connections, kept alive
 * or one connection per request (`Connection: close`, which wrk honours by reconnecting), with --latency so the
 * percentiles are printed. parseWrk() reads its summary; errors (socket errors, non-2xx answers) are kept so a
 * target that fails requests is reported as such rather than as fast.
 */
import { exec } from '../../control/base/exec';

export interface WrkResult {
  reqPerSec: number;
  p50Ms: number;
  p99Ms: number;
  requests: number;
  /** Socket errors (connect, read, write, timeout) plus non-2xx/3xx answers. */
  errors: number;
}

export type ConnectionMode = 'keep-alive' | 'close';

export async function runWrk(netns: string, url: string, opts: { seconds: number; connections: number; mode: ConnectionMode }): Promise<WrkResult> {
  const argv = ['ip', 'netns', 'exec', netns, 'wrk', '-t1', `-c${opts.connections}`, `-d${opts.seconds}s`, '--latency'];
  if (opts.mode === 'close') argv.push('-H', 'Connection: close');
  argv.push(url);
  const r = await exec(argv, { timeoutMs: (opts.seconds + 30) * 1000 });
  return parseWrk(r.stdout);
}

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000 };

function durationMs(text: string): number {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(text);
  if (!m) throw new Error(`wrk: cannot read the duration "${text}"`);
  return Number(m[1]) * UNIT_MS[m[2]];
}

export function parseWrk(out: string): WrkResult {
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(out);
  const p50 = /^\s+50%\s+(\S+)/m.exec(out);
  const p99 = /^\s+99%\s+(\S+)/m.exec(out);
  const total = /(\d+) requests in/.exec(out);
  if (!rps || !p50 || !p99 || !total) throw new Error(`wrk: unexpected output:\n${out}`);
  let errors = 0;
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  if (sock) errors += sock.slice(1).reduce((n, x) => n + Number(x), 0);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  if (non2xx) errors += Number(non2xx[1]);
  return { reqPerSec: Number(rps[1]), p50Ms: durationMs(p50[1]), p99Ms: durationMs(p99[1]), requests: Number(total[1]), errors };
}
