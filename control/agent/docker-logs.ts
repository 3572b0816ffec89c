/**
 * Docker's log stream as LogLines. Without a TTY the engine multiplexes stdout and stderr into frames, each an
 * 8-byte header (stream type, three zero bytes, a big-endian payload length) and the payload; with a TTY there
 * is one raw stream. With `timestamps` every line starts with an RFC 3339 nano timestamp and a space. Frames do
 * not align with lines (a long line is split, a chunk may end mid-header), so both layers keep a remainder.
 */
import type { LogLine } from './executor';

type Stream = LogLine['stream'];

/** Splits the multiplexed byte stream into (stream, payload) frames; feed it chunks as they come. */
export class FrameDecoder {
  private pending: Buffer = Buffer.alloc(0);

  constructor(private readonly tty: boolean) {}

  push(chunk: Buffer): Array<{ stream: Stream; payload: Buffer }> {
    if (this.tty) return [{ stream: 'stdout', payload: chunk }];
    const buf = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    const out: Array<{ stream: Stream; payload: Buffer }> = [];
    let at = 0;
    while (buf.length - at >= 8) {
      const size = buf.readUInt32BE(at + 4);
      if (buf.length - at - 8 < size) break;
      // Type 2 is stderr; 0 (stdin, only seen with TTY-less attach) and 1 are shown as stdout.
      out.push({ stream: buf[at] === 2 ? 'stderr' : 'stdout', payload: buf.subarray(at + 8, at + 8 + size) });
      at += 8 + size;
    }
    this.pending = buf.subarray(at);
    return out;
  }
}

/** Turns payloads into complete lines, per stream, splitting off the timestamp Docker put in front. */
export class LineSplitter {
  private readonly rest: Record<Stream, string> = { stdout: '', stderr: '' };

  push(stream: Stream, payload: Buffer): LogLine[] {
    const text = this.rest[stream] + payload.toString('utf8');
    const parts = text.split('\n');
    this.rest[stream] = parts.pop() ?? '';
    return parts.map((p) => toLine(stream, p));
  }

  /** What is left when the stream ends: a last line without a newline. */
  flush(): LogLine[] {
    const out: LogLine[] = [];
    for (const stream of ['stdout', 'stderr'] as const) {
      if (this.rest[stream]) out.push(toLine(stream, this.rest[stream]));
      this.rest[stream] = '';
    }
    return out;
  }
}

const TIMESTAMP = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)) /;

function toLine(stream: Stream, raw: string): LogLine {
  const text = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
  const m = TIMESTAMP.exec(text);
  if (!m) return { stream, timestamp: '', line: text };
  return { stream, timestamp: m[1], line: text.slice(m[0].length) };
}

/**
 * LogLines from what dockerode returns for container.logs(): a Buffer when not following, a readable stream when
 * following. An abort ends the iteration quietly (the stream is destroyed, which Node reports as a premature close).
 */
export async function* decodeLogs(
  source: Buffer | NodeJS.ReadableStream,
  tty: boolean,
  signal?: AbortSignal,
): AsyncGenerator<LogLine> {
  const frames = new FrameDecoder(tty);
  const lines = new LineSplitter();
  if (Buffer.isBuffer(source)) {
    for (const f of frames.push(source)) yield* lines.push(f.stream, f.payload);
    yield* lines.flush();
    return;
  }
  const stream = source as NodeJS.ReadableStream & { destroy?: () => void };
  const stop = (): void => stream.destroy?.();
  if (signal?.aborted) return stop();
  signal?.addEventListener('abort', stop, { once: true });
  try {
    for await (const chunk of stream) {
      for (const f of frames.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk))) yield* lines.push(f.stream, f.payload);
    }
    yield* lines.flush();
  } catch (e) {
    if (!signal?.aborted) throw e;
  } finally {
    signal?.removeEventListener('abort', stop);
    stop();
  }
}
