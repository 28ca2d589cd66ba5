import type { IncomingMessage } from 'node:http';
import { type ErrorKind, isGantryError, messageOf } from '../errors.js';

/**
 * What a route handler returns: a JSON body, or a stream of JSON values the
 * server writes as NDJSON (one value per line, flushed as they come) for long
 * work such as a pull. A stream that throws ends with an `{"type":"error"}` line.
 */
export type ApiResponse = { status?: number; body: unknown } | { status?: number; stream: AsyncIterable<unknown> };

/** `signal` aborts when the client goes away before the response is complete (cancel long work with it). */
export type Handler = (
  req: IncomingMessage,
  params: Record<string, string>,
  signal: AbortSignal,
) => Promise<ApiResponse> | ApiResponse;

interface Route {
  method: string;
  pattern: RegExp;
  keys: string[];
  handler: Handler;
}

/** A tiny method + path router: `/v1/apps/:name` style patterns, nothing more. */
export class Router {
  private readonly routes: Route[] = [];

  add(method: string, path: string, handler: Handler): this {
    const keys: string[] = [];
    const pattern = new RegExp(
      `^${path.replace(/:([a-zA-Z]+)/g, (_, key: string) => {
        keys.push(key);
        return '([^/]+)';
      })}$`,
    );
    this.routes.push({ method, pattern, keys, handler });
    return this;
  }

  /** `undefined` handler with `allowed` set means the path exists under other methods (405). */
  match(method: string, path: string): { handler?: Handler; params: Record<string, string>; allowed: string[] } {
    const allowed: string[] = [];
    for (const r of this.routes) {
      const m = r.pattern.exec(path);
      if (!m) continue;
      if (r.method !== method) {
        allowed.push(r.method);
        continue;
      }
      const params: Record<string, string> = {};
      r.keys.forEach((k, i) => {
        params[k] = decodeURIComponent(m[i + 1] ?? '');
      });
      return { handler: r.handler, params, allowed };
    }
    return { params: {}, allowed };
  }
}

const STATUS_OF_KIND: Record<ErrorKind, number> = {
  invalid: 400,
  'not-found': 404,
  'already-exists': 409,
  'failed-precondition': 412,
  unavailable: 503,
  denied: 403,
  internal: 500,
};

/** The API's error body: `{ error: { kind, message, details? } }`. */
export function errorResponse(e: unknown): ApiResponse {
  if (isGantryError(e)) {
    const error =
      e.details === undefined
        ? { kind: e.kind, message: e.message }
        : { kind: e.kind, message: e.message, details: e.details };
    return { status: STATUS_OF_KIND[e.kind], body: { error } };
  }
  return { status: 500, body: { error: { kind: 'internal', message: messageOf(e) } } };
}
