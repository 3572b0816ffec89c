import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { FrameDecoder, decodeLogs } from '../../control/agent/docker-logs';
import type { LogLine } from '../../control/agent/executor';

const frame = (type: number, text: string): Buffer => {
  const payload = Buffer.from(text);
  const head = Buffer.alloc(8);
  head[0] = type;
  head.writeUInt32BE(payload.length, 4);
  return Buffer.concat([head, payload]);
};

const TS = '2026-11-27T02:57:16.572468256Z';

async function all(it: AsyncIterable<LogLine>): Promise<LogLine[]> {
  const out: LogLine[] = [];
  for await (const l of it) out.push(l);
  return out;
}

test('frames split anywhere, even inside a header, decode to the same lines', async () => {
  const bytes = Buffer.concat([frame(1, `${TS} one\n`), frame(2, `${TS} two\n`), frame(1, `${TS} thr`), frame(1, 'ee\n')]);
  const want: LogLine[] = [
    { stream: 'stdout', timestamp: TS, line: 'one' },
    { stream: 'stderr', timestamp: TS, line: 'two' },
    { stream: 'stdout', timestamp: TS, line: 'three' },
  ];
  assert.deepEqual(await all(decodeLogs(bytes, false)), want);
  for (let cut = 1; cut < bytes.length; cut++) {
    const chunks = [bytes.subarray(0, cut), bytes.subarray(cut)];
    assert.deepEqual(await all(decodeLogs(Readable.from(chunks), false)), want, `cut at ${cut}`);
  }
});

test('a TTY stream is raw: one stream, carriage returns dropped, a last line without newline kept', async () => {
  const raw = Buffer.from(`${TS} a\r\n${TS} b`);
  assert.deepEqual(await all(decodeLogs(raw, true)), [
    { stream: 'stdout', timestamp: TS, line: 'a' },
    { stream: 'stdout', timestamp: TS, line: 'b' },
  ]);
});

test('a frame decoder keeps an incomplete frame for the next chunk', () => {
  const d = new FrameDecoder(false);
  const f = frame(2, 'xyz');
  assert.deepEqual(d.push(f.subarray(0, 5)), []);
  assert.deepEqual(d.push(f.subarray(5)).map((x) => [x.stream, x.payload.toString()]), [['stderr', 'xyz']]);
});
