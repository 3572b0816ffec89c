/**
 * A process task's output file: one line per output line, `<RFC 3339 nano time> <stdout|stderr> <text>`.
 *
 * Timestamps are taken by the node's process shim (process-supervisor.ts) the moment it reads a complete line from
 * the task's stdout or stderr pipe — the same thing Docker's json-file driver records — so they are true even for
 * lines written while no swarmd ran. Lines longer than 16 KiB are split, as Docker does. A final line
 * without a newline is written when the stream closes.
 *
 * Reading: all lines or the last N; with follow, the file is polled for growth until the caller aborts or the file
 * is removed (the task was removed).
 */
import { promises as fsp } from 'node:fs';
import type { LogLine, LogOptions } from './executor';

export const MAX_LINE_BYTES = 16 * 1024;
const FOLLOW_POLL_MS = 150;

// ---- writing (in the shim) ---------------------------------------------------------------------------------

let lastNs = 0n;

/**
 * Now, as docker logs --timestamps prints it: 2026-01-02T03:04:05.123456789Z. Milliseconds follow the wall clock
 * (a task may run for months, across clock adjustments); the sub-millisecond digits come from the monotonic
 * clock, bumped when needed so that timestamps within one shim never repeat or go backwards.
 */
export function timestampNow(): string {
  let ns = BigInt(Date.now()) * 1_000_000n + (process.hrtime.bigint() % 1_000_000n);
  if (ns <= lastNs) ns = lastNs + 1n;
  lastNs = ns;
  const ms = Number(ns / 1_000_000n);
  const frac = (ns % 1_000_000_000n).toString().padStart(9, '0');
  return `${new Date(ms).toISOString().slice(0, 19)}.${frac}Z`;
}

export function formatLogLine(stream: LogLine['stream'], text: string, timestamp = timestampNow()): string {
  return `${timestamp} ${stream} ${text}\n`;
}

/** Cuts a byte stream into lines (without the newline); keeps a partial line until more arrives or end(). */
export class LineSplitter {
  private pending: Buffer = Buffer.alloc(0);

  constructor(private readonly onLine: (text: string) => void) {}

  push(chunk: Buffer): void {
    const buf = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    let start = 0;
    for (;;) {
      const nl = buf.indexOf(0x0a, start);
      const end = nl < 0 ? buf.length : nl;
      if (end - start > MAX_LINE_BYTES) {
        this.onLine(buf.subarray(start, start + MAX_LINE_BYTES).toString('utf8'));
        start += MAX_LINE_BYTES;
        continue;
      }
      if (nl < 0) break;
      this.onLine(stripCr(buf.subarray(start, nl).toString('utf8')));
      start = nl + 1;
    }
    this.pending = Buffer.from(buf.subarray(start));
  }

  end(): void {
    if (this.pending.length) this.onLine(stripCr(this.pending.toString('utf8')));
    this.pending = Buffer.alloc(0);
  }
}

function stripCr(s: string): string {
  return s.endsWith('\r') ? s.slice(0, -1) : s;
}

// ---- reading (in swarmd) -----------------------------------------------------------------------------------

const LINE = /^(\S+) (stdout|stderr) (.*)$/;

export function parseLogLine(text: string): LogLine | undefined {
  const m = LINE.exec(text);
  return m ? { timestamp: m[1], stream: m[2] as LogLine['stream'], line: m[3] } : undefined;
}

/** The file's lines (all, or the last opts.tail), then with opts.follow every line appended later. */
export async function* readLogFile(path: string, opts: LogOptions): AsyncGenerator<LogLine> {
  let offset = 0;
  let partial = '';
  const readNew = async (): Promise<string[] | undefined> => {
    let fh;
    try {
      fh = await fsp.open(path, 'r');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
    try {
      const { size } = await fh.stat();
      if (size < offset) offset = 0; // truncated: start over rather than read garbage
      if (size === offset) return [];
      const buf = Buffer.alloc(size - offset);
      const { bytesRead } = await fh.read(buf, 0, buf.length, offset);
      offset += bytesRead;
      const text = partial + buf.subarray(0, bytesRead).toString('utf8');
      const lines = text.split('\n');
      partial = lines.pop() ?? '';
      return lines;
    } finally {
      await fh.close();
    }
  };

  const first = await readNew();
  if (first === undefined) return;
  const start = opts.tail === undefined ? 0 : Math.max(0, first.length - opts.tail);
  for (const text of first.slice(start)) {
    const l = parseLogLine(text);
    if (l) yield l;
  }
  if (!opts.follow) return;
  while (!opts.signal?.aborted) {
    if (!(await sleep(FOLLOW_POLL_MS, opts.signal))) return;
    const more = await readNew();
    if (more === undefined) return; // removed
    for (const text of more) {
      const l = parseLogLine(text);
      if (l) yield l;
    }
  }
}

/** Resolves true after ms, or false as soon as the signal aborts. */
function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve(false);
    const onAbort = (): void => {
      clearTimeout(t);
      resolve(false);
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
