import http from 'node:http';
import { type ErrorKind, errnoCode, GantryError, unavailable } from '../errors.js';

/**
 * Client of the local API, used by the CLI (and tests). Errors from the agent
 * come back as `GantryError`s of the same kind; an absent agent is
 * `unavailable` with a message a person can act on.
 */
export class ApiClient {
  constructor(
    readonly socketPath: string,
    private readonly timeoutMs = 30_000,
  ) {}

  get<T>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }

  post<T>(path: string, body?: unknown): Promise<T> {
    return this.request<T>('POST', path, body);
  }

  request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise<T>((resolve, reject) => {
      const req = http.request(
        {
          socketPath: this.socketPath,
          path,
          method,
          timeout: this.timeoutMs,
          headers:
            payload === undefined
              ? {}
              : { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', reject);
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown;
            try {
              parsed = JSON.parse(text);
            } catch (e) {
              reject(new GantryError('internal', `agent sent a non-JSON reply to ${method} ${path}`, { cause: e }));
              return;
            }
            if ((res.statusCode ?? 500) >= 400) reject(fromErrorBody(parsed, res.statusCode ?? 500));
            else resolve(parsed as T);
          });
        },
      );
      req.on('timeout', () =>
        req.destroy(unavailable(`agent did not answer ${method} ${path} within ${this.timeoutMs} ms`)),
      );
      req.on('error', (e) => {
        const code = errnoCode(e);
        if (code === 'ENOENT' || code === 'ECONNREFUSED') {
          reject(
            unavailable(
              `no gantry agent is running on ${this.socketPath} (is the agent started, and is --data-dir right?)`,
              { cause: e },
            ),
          );
        } else if (code === 'EACCES') {
          reject(
            new GantryError('denied', `permission denied on ${this.socketPath} (the local API is root only)`, {
              cause: e,
            }),
          );
        } else reject(e);
      });
      if (payload !== undefined) req.write(payload);
      req.end();
    });
  }
}

function fromErrorBody(body: unknown, status: number): GantryError {
  const err = (body as { error?: { kind?: string; message?: string; details?: unknown } } | undefined)?.error;
  const kind = (err?.kind ?? 'internal') as ErrorKind;
  return new GantryError(kind, err?.message ?? `agent answered HTTP ${status}`, { details: err?.details });
}
