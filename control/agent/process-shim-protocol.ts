/**
 * What swarmd and the node's process shim (process-shim.ts) say to each other over the shim's unix socket: one
 * JSON object per line. swarmd asks (`start` a prepared task, `ping`); the shim answers each request by its `id`
 * and, unasked, tells every connected swarmd when a task has ended (`exit`, sent after exit.json is written).
 * Everything the messages carry is also on disk (process-task-files.ts), so a reader that lost the socket falls
 * back to the files.
 */
import { join } from 'node:path';
import type { TaskExitRecord, TaskProcessState } from './process-task-files';

export type ShimRequest = { id: number; op: 'start'; taskId: string } | { id: number; op: 'ping' };

/** An answer to a request; on the wire it carries the request's id (ShimReply). */
export type ShimAnswer = { ok: true; state?: TaskProcessState; exit?: TaskExitRecord; pid?: number } | { ok: false; error: string };

export type ShimReply = ShimAnswer & { id: number };

export interface ShimExitEvent {
  event: 'exit';
  taskId: string;
  exit: TaskExitRecord;
}

export type ShimMessage = ShimReply | ShimExitEvent;

/** Where the shim of the executor whose data directory is dataDir listens, records its pid and logs. */
export function shimPaths(dataDir: string): { socket: string; pid: string; log: string } {
  return { socket: join(dataDir, 'shim.sock'), pid: join(dataDir, 'shim.pid'), log: join(dataDir, 'shim.log') };
}

/** The longest unix socket path Linux accepts (sun_path is 108 bytes with its NUL). */
export const MAX_SOCKET_PATH = 107;

/** Cuts a byte stream into JSON messages, one per line; a line that does not parse is reported, not thrown. */
export class JsonLineReader<T> {
  private pending = '';

  constructor(
    private readonly onMessage: (msg: T) => void,
    private readonly onBadLine: (line: string, err: Error) => void,
  ) {}

  push(chunk: Buffer | string): void {
    const text = this.pending + chunk.toString();
    const lines = text.split('\n');
    this.pending = lines.pop() ?? '';
    for (const line of lines) {
      if (!line) continue;
      let msg: T;
      try {
        msg = JSON.parse(line) as T;
      } catch (e) {
        this.onBadLine(line, e as Error);
        continue;
      }
      this.onMessage(msg);
    }
  }
}

export function encodeMessage(msg: ShimRequest | ShimMessage): string {
  return JSON.stringify(msg) + '\n';
}
