/**
 * A small HTTP router for the Docker Engine API: strips the optional /vX.YY version prefix, matches
 * METHOD + path patterns with {params}, reads JSON bodies, and turns thrown errors into Docker's error JSON
 * `{"message": ...}` with the error's HTTP status.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { invalidArgument, isShoalError, errorMessage } from '../../base/errors';
import type { Logger } from '../../base/log';

export interface Request {
  method: string;
  path: string;
  params: Record<string, string>;
  query: URLSearchParams;
  headers: IncomingMessage['headers'];
  /** The parsed JSON body (undefined when there is none). */
  body(): Promise<unknown>;
  raw: IncomingMessage;
}

/** A handler returns a value to send as JSON (status 200, or 201 for creates), or handles the response itself. */
export type Handler = (req: Request, res: ServerResponse) => Promise<unknown> | unknown;

/** Told of every request once it is handled, by route template so the label set stays bounded (metrics). */
export interface RequestObserver {
  request(r: { route: string; method: string; code: number; seconds: number }): void;
}

/** The route label of a request no route matched: raw paths would make the label set unbounded. */
export const UNMATCHED_ROUTE = 'unmatched';

interface Route {
  method: string;
  pattern: string;
  parts: string[];
  handler: Handler;
  status: number;
}

export const HANDLED = Symbol('handled');
export const API_VERSION = '1.41';

export class Router {
  private routes: Route[] = [];

  constructor(
    private readonly log: Logger,
    private readonly observer?: RequestObserver,
  ) {}

  on(method: string, pattern: string, handler: Handler, status = 200): this {
    this.routes.push({ method, pattern: pattern.startsWith('/') ? pattern : `/${pattern}`, parts: pattern.split('/').filter(Boolean), handler, status });
    return this;
  }

  async handle(raw: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(raw.url ?? '/', 'http://swarmd');
    const path = url.pathname.replace(/^\/v\d+(\.\d+)?(?=\/)/, '');
    const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
    const method = raw.method === 'HEAD' ? 'GET' : raw.method ?? 'GET';
    let route: Route | undefined;
    let params: Record<string, string> = {};
    let pathMatched = false;
    for (const r of this.routes) {
      const p = match(r.parts, parts);
      if (!p) continue;
      pathMatched = true;
      if (r.method !== method) continue;
      route = r;
      params = p;
      break;
    }
    res.setHeader('API-Version', API_VERSION);
    res.setHeader('Server', `Shoal/${API_VERSION}`);
    const started = performance.now();
    if (!route) {
      send(res, pathMatched ? 405 : 404, { message: pathMatched ? `method ${method} not allowed on ${path}` : `page not found: ${path}` });
      return this.observe(UNMATCHED_ROUTE, method, res.statusCode, started);
    }
    const req: Request = {
      method,
      path,
      params,
      query: url.searchParams,
      headers: raw.headers,
      raw,
      body: () => readJson(raw),
    };
    try {
      const result = await route.handler(req, res);
      if (result === HANDLED) return;
      send(res, route.status, result);
    } catch (e) {
      const status = isShoalError(e) ? e.status : 500;
      if (status >= 500) this.log.error('request failed', { method, path, err: e });
      if (!res.headersSent) send(res, status, { message: errorMessage(e) });
      else res.destroy();
    } finally {
      this.log.debug('request', { method, path, status: res.statusCode, ms: Math.round(performance.now() - started) });
      this.observe(route.pattern, method, res.statusCode, started);
    }
  }

  private observe(route: string, method: string, code: number, started: number): void {
    // Any method a client invents would be a new label value: keep the ones routes use.
    const m = ['GET', 'POST', 'PUT', 'DELETE', 'HEAD'].includes(method) ? method : 'OTHER';
    this.observer?.request({ route, method: m, code, seconds: (performance.now() - started) / 1000 });
  }
}

function match(pattern: string[], parts: string[]): Record<string, string> | null {
  if (pattern.length !== parts.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i];
    if (p.startsWith('{')) params[p.slice(1, -1)] = parts[i];
    else if (p !== parts[i]) return null;
  }
  return params;
}

export function send(res: ServerResponse, status: number, body: unknown, contentType?: string): void {
  if (body === undefined || body === null) {
    res.writeHead(status === 200 ? 200 : status);
    res.end();
    return;
  }
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': contentType ?? (typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json'),
    'Content-Length': Buffer.byteLength(text),
  });
  res.end(res.req?.method === 'HEAD' ? undefined : text);
}

const MAX_BODY = 4 * 1024 * 1024;

async function readJson(raw: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of raw) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw invalidArgument('body', 'request body too large (limit 4 MiB)');
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch (e) {
    throw invalidArgument('body', `invalid JSON in request body: ${errorMessage(e)}`);
  }
}
