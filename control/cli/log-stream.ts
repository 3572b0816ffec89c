/**
 * Docker's log stream, undone: the multiplexed format (8-byte header: stream byte, three zero bytes, big-endian
 * uint32 payload size, then the payload) unless the daemon answered `application/vnd.docker.raw-stream`; then
 * lines, and the `details` prefix (`com.docker.swarm.task.id=...,... `) that says which task wrote each line.
 * Pure and incremental: feed chunks, take out complete lines.
 */

export interface LogLine {
  stream: 'stdout' | 'stderr';
  text: string;
}

export class LogDemuxer {
  private buf = Buffer.alloc(0);
  private readonly partial = { stdout: '', stderr: '' };

  constructor(private readonly raw: boolean) {}

  /** Feeds bytes; returns the complete lines they finish (without the newline). */
  push(chunk: Buffer): LogLine[] {
    const out: LogLine[] = [];
    if (this.raw) {
      this.text('stdout', chunk.toString('utf8'), out);
      return out;
    }
    this.buf = Buffer.concat([this.buf, chunk]);
    while (this.buf.length >= 8) {
      const size = this.buf.readUInt32BE(4);
      if (this.buf.length < 8 + size) break;
      const stream = this.buf[0] === 2 ? 'stderr' : 'stdout';
      this.text(stream, this.buf.subarray(8, 8 + size).toString('utf8'), out);
      this.buf = this.buf.subarray(8 + size);
    }
    return out;
  }

  /** Whatever is left without a closing newline. */
  end(): LogLine[] {
    const out: LogLine[] = [];
    for (const s of ['stdout', 'stderr'] as const) {
      if (this.partial[s]) out.push({ stream: s, text: this.partial[s] });
      this.partial[s] = '';
    }
    return out;
  }

  private text(stream: 'stdout' | 'stderr', s: string, out: LogLine[]): void {
    const parts = (this.partial[stream] + s).split('\n');
    this.partial[stream] = parts.pop() as string;
    for (const p of parts) out.push({ stream, text: p });
  }
}

export interface ParsedLogLine {
  timestamp?: string;
  details: Record<string, string>;
  message: string;
}

/** Splits "[timestamp ]details message" the way docker's log writer does. */
export function parseLogLine(line: string, timestamps: boolean): ParsedLogLine {
  let rest = line;
  let timestamp: string | undefined;
  if (timestamps) {
    const sp = rest.indexOf(' ');
    timestamp = sp < 0 ? rest : rest.slice(0, sp);
    rest = sp < 0 ? '' : rest.slice(sp + 1);
  }
  const details: Record<string, string> = {};
  if (rest.startsWith('com.docker.swarm.')) {
    const sp = rest.indexOf(' ');
    const head = sp < 0 ? rest : rest.slice(0, sp);
    rest = sp < 0 ? '' : rest.slice(sp + 1);
    for (const kv of head.split(',')) {
      const eq = kv.indexOf('=');
      if (eq > 0) details[decodeURIComponent(kv.slice(0, eq))] = decodeURIComponent(kv.slice(eq + 1));
    }
  }
  return { timestamp, details, message: rest };
}

/** `<service>.<slot>.<task12>@<node>    | ` (or without the task ID), docker's line prefix. */
export function logPrefix(service: string, slotOrNode: string, taskId: string, node: string, opts: { noTaskIds?: boolean; noTrunc?: boolean }): string {
  let name = `${service}.${slotOrNode}`;
  if (!opts.noTaskIds) name += `.${opts.noTrunc ? taskId : taskId.slice(0, 12)}`;
  return `${name}@${node}    | `;
}
