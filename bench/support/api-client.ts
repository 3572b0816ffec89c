/**
 * A small client for Docker's Engine API over a unix socket (swarmd's control socket or a dockerd's), for the
 * benchmarks: JSON in, JSON out, and an error that carries the method, path, status and the server's message.
 */
import { Agent, request } from 'undici';

export class ApiError extends Error {
  constructor(
    readonly method: string,
    readonly path: string,
    readonly status: number,
    body: string,
  ) {
    super(`${method} ${path}: HTTP ${status}: ${messageOf(body)}`);
  }
}

function messageOf(body: string): string {
  try {
    const m = (JSON.parse(body) as { message?: unknown }).message;
    if (typeof m === 'string') return m;
  } catch {
    /* not JSON */
  }
  return body.trim().slice(0, 500);
}

export class ApiClient {
  private readonly dispatcher: Agent;

  constructor(readonly socketPath: string) {
    this.dispatcher = new Agent({ connect: { socketPath }, keepAliveTimeout: 10_000 });
  }

  async call<T = unknown>(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<T> {
    const r = await request(`http://localhost${path}`, {
      method,
      dispatcher: this.dispatcher,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await r.body.text();
    if (r.statusCode >= 400) throw new ApiError(method, path, r.statusCode, text);
    return (text ? JSON.parse(text) : undefined) as T;
  }

  /** Connection resets seen (and retried) on GETs: a server that stalls can close a kept-alive socket. */
  resets = 0;

  /** GET, retried once when the connection is reset (a GET is safe to repeat). */
  async get<T = unknown>(path: string): Promise<T> {
    try {
      return await this.call<T>('GET', path);
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (code !== 'ECONNRESET' && code !== 'UND_ERR_SOCKET') throw e;
      this.resets++;
      return this.call<T>('GET', path);
    }
  }

  post<T = unknown>(path: string, body?: unknown): Promise<T> {
    return this.call<T>('POST', path, body ?? {});
  }

  delete<T = unknown>(path: string): Promise<T> {
    return this.call<T>('DELETE', path);
  }

  /** True when the socket answers GET /_ping with 200. */
  async ping(): Promise<boolean> {
    try {
      const r = await request('http://localhost/_ping', { dispatcher: this.dispatcher });
      await r.body.text();
      return r.statusCode === 200;
    } catch {
      return false;
    }
  }

  close(): Promise<void> {
    return this.dispatcher.close();
  }
}

/** A task as GET /tasks returns it: only the fields the benchmarks read. */
export interface TaskSummary {
  ID: string;
  DesiredState: string;
  Status: { State: string; Err?: string };
}

/** `?filters=` for GET /tasks and friends. */
export function filters(f: Record<string, string[]>): string {
  return `filters=${encodeURIComponent(JSON.stringify(f))}`;
}

/** How many of these tasks are in each state, as "running=30 preparing=2". */
export function stateCounts(tasks: TaskSummary[]): string {
  const counts = new Map<string, number>();
  for (const t of tasks) counts.set(t.Status.State, (counts.get(t.Status.State) ?? 0) + 1);
  return [...counts].map(([s, n]) => `${s}=${n}`).join(' ') || 'no tasks';
}
