import http from 'node:http';
import { type ErrorKind, errnoCode, GantryError, isGantryError, unavailable } from '../errors.js';

/** A body that is JSON text already, sent as is (a deployment file, so errors point at its lines). */
export class RawJson {
  constructor(readonly text: string) {}
}

const encodeBody = (body: unknown): string | undefined =>
  body === undefined ? undefined : body instanceof RawJson ? body.text : JSON.stringify(body);

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

  /** An NDJSON endpoint: yields each line's value; an `{"type":"error"}` line becomes a thrown GantryError. */
  async *stream<T>(method: string, path: string, body?: unknown): AsyncIterable<T> {
    const res = await this.open(method, path, body);
    if ((res.statusCode ?? 500) >= 400) throw fromErrorBody(JSON.parse(await collect(res)), res.statusCode ?? 500);
    let buffered = '';
    for await (const chunk of res) {
      buffered += (chunk as Buffer).toString('utf8');
      let nl = buffered.indexOf('\n');
      while (nl >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        nl = buffered.indexOf('\n');
        if (line.trim() === '') continue;
        const value = JSON.parse(line) as { type?: string };
        if (value.type === 'error') throw fromErrorBody(value, 500);
        yield value as T;
      }
    }
  }

  private open(method: string, path: string, body?: unknown): Promise<http.IncomingMessage> {
    const payload = encodeBody(body);
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          socketPath: this.socketPath,
          path,
          method,
          headers:
            payload === undefined
              ? {}
              : { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) },
        },
        resolve,
      );
      req.on('error', (e) => reject(this.transportError(e, method, path)));
      if (payload !== undefined) req.write(payload);
      req.end();
    });
  }

  private transportError(e: Error, method: string, path: string): Error {
    const code = errnoCode(e);
    if (code === 'ENOENT' || code === 'ECONNREFUSED') {
      return unavailable(
        `no gantry agent is running on ${this.socketPath} (is the agent started, and is --data-dir right?)`,
        { cause: e },
      );
    }
    if (code === 'EACCES')
      return new GantryError('denied', `permission denied on ${this.socketPath} (the local API is root only)`, {
        cause: e,
      });
    return unavailable(`${method} ${path} failed: ${e.message}`, { cause: e });
  }

  request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const payload = encodeBody(body);
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
      req.on('error', (e) => reject(isGantryError(e) ? e : this.transportError(e, method, path)));
      if (payload !== undefined) req.write(payload);
      req.end();
    });
  }
}

async function collect(res: http.IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of res) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function fromErrorBody(body: unknown, status: number): GantryError {
  const err = (body as { error?: { kind?: string; message?: string; details?: unknown } } | undefined)?.error;
  const kind = (err?.kind ?? 'internal') as ErrorKind;
  return new GantryError(kind, err?.message ?? `agent answered HTTP ${status}`, { details: err?.details });
}
