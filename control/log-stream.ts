/**
 * Service and task logs in Docker's wire format. Each line goes out as one frame of Docker's multiplexed
 * stream (an 8-byte header: stream 1 = stdout, 2 = stderr, three zero bytes, big-endian payload length), with the
 * payload "[TIMESTAMP ]DETAILS LINE\n", where DETAILS are the task's context as comma-separated key=value pairs
 * (com.docker.swarm.node.id, .service.id, .task.id) — which the docker CLI turns into its `name@node |` prefix.
 */
import type { ServerResponse } from 'node:http';
import type { LogLine } from './agent/executor';
import type { Task } from './api/types';

export function frame(stream: 'stdout' | 'stderr', payload: string): Buffer {
  const body = Buffer.from(payload, 'utf8');
  const header = Buffer.alloc(8);
  header[0] = stream === 'stdout' ? 1 : 2;
  header.writeUInt32BE(body.length, 4);
  return Buffer.concat([header, body]);
}

export function details(task: Task): string {
  return [
    `com.docker.swarm.node.id=${task.NodeID ?? ''}`,
    `com.docker.swarm.service.id=${task.ServiceID}`,
    `com.docker.swarm.task.id=${task.ID}`,
  ].join(',');
}

export interface LogQuery {
  stdout: boolean;
  stderr: boolean;
  follow: boolean;
  timestamps: boolean;
  details: boolean;
  tail?: number;
}

export function parseLogQuery(q: URLSearchParams): LogQuery {
  const yes = (k: string) => ['1', 'true', 'True'].includes(q.get(k) ?? '');
  const tail = q.get('tail');
  const stdout = yes('stdout');
  const stderr = yes('stderr');
  return {
    stdout: stdout || (!stdout && !stderr),
    stderr: stderr || (!stdout && !stderr),
    follow: yes('follow'),
    timestamps: yes('timestamps'),
    details: yes('details'),
    tail: tail && tail !== 'all' && /^\d+$/.test(tail) ? Number(tail) : undefined,
  };
}

/** Writes one task's lines to the response as frames; resolves when its stream ends or the client leaves. */
export async function pipeTaskLogs(task: Task, lines: AsyncIterable<LogLine>, q: LogQuery, res: ServerResponse): Promise<void> {
  const ctx = q.details ? details(task) + ' ' : '';
  for await (const l of lines) {
    if (res.destroyed) return;
    if ((l.stream === 'stdout' && !q.stdout) || (l.stream === 'stderr' && !q.stderr)) continue;
    const payload = `${q.timestamps ? l.timestamp + ' ' : ''}${ctx}${l.line}\n`;
    res.write(frame(l.stream, payload));
  }
}
