import { chmod, rm } from 'node:fs/promises';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { invalid } from '../errors.js';
import { type ApiResponse, errorResponse, type Router } from './router.js';

/**
 * The local API: HTTP/1.1 + JSON on a unix socket, so `curl --unix-socket`
 * works and access control is file permissions (0600, root only).
 */
export interface ApiServer {
  readonly socketPath: string;
  close(): Promise<void>;
}

export async function startApiServer(socketPath: string, router: Router, log: Logger): Promise<ApiServer> {
  const server = http.createServer((req, res) => {
    handle(router, req, res, log).catch((e: unknown) => {
      log.error({ err: e }, 'api request failed outside its handler');
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  // After listen: an accept error (EMFILE...) must be logged, not crash the agent.
  server.on('error', (e) => log.error({ err: e }, 'api server error'));
  // Create the socket file 0600 from the first instant, not chmod'ed after a window.
  const oldMask = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } finally {
    process.umask(oldMask);
  }
  await chmod(socketPath, 0o600);
  return {
    socketPath,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
      await rm(socketPath, { force: true });
    },
  };
}

async function handle(router: Router, req: IncomingMessage, res: ServerResponse, log: Logger): Promise<void> {
  const started = process.hrtime.bigint();
  const method = req.method ?? 'GET';
  const abort = new AbortController();
  res.on('close', () => {
    if (!res.writableFinished) abort.abort();
  });
  let url = new URL('http://gantry/');
  let out: ApiResponse;
  try {
    try {
      url = new URL(req.url ?? '/', 'http://gantry');
    } catch (e) {
      throw invalid(`bad request target ${JSON.stringify(req.url)}`, { cause: e });
    }
    const { handler, params, allowed } = router.match(method, url.pathname);
    if (handler) out = await handler(req, params, abort.signal);
    else if (allowed.length > 0) {
      res.setHeader('Allow', allowed.join(', '));
      out = {
        status: 405,
        body: { error: { kind: 'invalid', message: `${method} is not allowed on ${url.pathname}` } },
      };
    } else out = { status: 404, body: { error: { kind: 'not-found', message: `no such endpoint: ${url.pathname}` } } };
  } catch (e) {
    out = errorResponse(e);
    if ((out.status ?? 500) >= 500) log.error({ err: e, method, path: url.pathname }, 'api request failed');
  }
  if ('stream' in out) await writeStream(res, out.stream, log);
  else {
    const body = `${JSON.stringify(out.body)}\n`;
    res.writeHead(out.status ?? 200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
  }
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  log.debug({ method, path: url.pathname, status: out.status ?? 200, ms }, 'api request');
}

async function writeStream(res: ServerResponse, stream: AsyncIterable<unknown>, log: Logger): Promise<void> {
  res.writeHead(200, { 'Content-Type': 'application/x-ndjson', 'Cache-Control': 'no-store' });
  try {
    for await (const value of stream) {
      if (res.destroyed) break;
      res.write(`${JSON.stringify(value)}\n`);
    }
  } catch (e) {
    const { body, status } = errorResponse(e) as { body: { error: unknown }; status: number };
    if (status >= 500) log.error({ err: e }, 'api stream failed');
    if (!res.destroyed) res.write(`${JSON.stringify({ type: 'error', ...body })}\n`);
  }
  res.end();
}

/** Read a JSON request body, refusing more than `limit` bytes. */
export async function readJsonBody(req: IncomingMessage, limit = 1 << 20): Promise<unknown> {
  const text = await readTextBody(req, limit);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw invalid('request body is not valid JSON', { cause: e });
  }
}

/** The body as text, for parsers that report line and column (deployment documents). */
export async function readTextBody(req: IncomingMessage, limit = 1 << 20): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw invalid(`request body is larger than ${limit} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}
