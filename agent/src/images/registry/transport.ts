import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import { rootCertificates } from 'node:tls';
import { invalid } from '../../errors.js';
import { sameOrigin } from './urls.js';

export interface TransportOptions {
  /** TCP connect deadline, ms. */
  connectTimeoutMs: number;
  /** Longest silence on a socket, ms, while waiting for headers and while the caller reads a body. */
  idleTimeoutMs: number;
  /** Redirect hops followed per request (registries send blob GETs to storage with one). */
  maxRedirects: number;
  userAgent: string;
}

export interface SendOptions {
  method: 'GET' | 'HEAD';
  headers: Record<string, string>;
  signal?: AbortSignal;
  /** Extra trusted CA certificates (PEM) for HTTPS, on top of Node's bundled roots. */
  ca?: string;
}

export interface Response {
  res: http.IncomingMessage;
  /** Where the answer came from, after redirects. */
  url: URL;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/**
 * HTTP(S) with node:http: per-CA keep-alive agents, connect and idle
 * timeouts, AbortSignal, and redirects that never carry Authorization to
 * another origin. It knows nothing of registries, auth or retries.
 *
 * INVARIANT: a response handed out has its idle timer and abort listener
 * armed until the response closes, so a caller streaming a blob is covered
 * too; every other response (redirect hops) is drained here.
 */
export class Transport {
  private readonly agents = new Map<string, http.Agent>();

  constructor(private readonly opts: TransportOptions) {}

  /** Send, following redirects. The body of the final answer is the caller's to read or discard. */
  async send(url: URL, opts: SendOptions): Promise<Response> {
    let current = url;
    let headers = { ...opts.headers };
    for (let hop = 0; ; hop++) {
      const res = await this.once(current, { ...opts, headers });
      const status = res.statusCode ?? 0;
      if (!REDIRECTS.has(status)) return { res, url: current };
      res.resume();
      if (hop >= this.opts.maxRedirects) throw invalid(`${url.href}: more than ${this.opts.maxRedirects} redirects`);
      const next = redirectTarget(current, res.headers.location);
      // distribution-spec "Pulling blobs": a 307 to storage is normal. The
      // token was issued for the registry only, so another origin never sees it.
      if (!sameOrigin(current, next)) {
        const { authorization: _dropped, ...rest } = headers;
        headers = rest;
      }
      current = next;
    }
  }

  /** Destroy idle keep-alive sockets (agent shutdown). */
  close(): void {
    for (const agent of this.agents.values()) agent.destroy();
    this.agents.clear();
  }

  private agentFor(url: URL, ca: string | undefined): http.Agent {
    const key = `${url.protocol}${ca ?? ''}`;
    let agent = this.agents.get(key);
    if (!agent) {
      const common = { keepAlive: true, maxSockets: 8 };
      agent =
        url.protocol === 'https:'
          ? new https.Agent({ ...common, ca: ca === undefined ? undefined : [...rootCertificates, ca] })
          : new http.Agent(common);
      this.agents.set(key, agent);
    }
    return agent;
  }

  /** One request, one answer (redirects included). */
  private once(url: URL, opts: SendOptions): Promise<http.IncomingMessage> {
    opts.signal?.throwIfAborted();
    const lib = url.protocol === 'https:' ? https : http;
    const req = lib.request(url, {
      method: opts.method,
      headers: { 'user-agent': this.opts.userAgent, ...opts.headers },
      agent: this.agentFor(url, opts.ca),
    });
    return new Promise((resolve, reject) => {
      let res: http.IncomingMessage | undefined;
      // Before the answer, a failure rejects; after it, it errors the body the caller is reading.
      const fail = (e: Error) => {
        if (res) {
          if (!res.complete) res.destroy(e);
          req.destroy();
        } else req.destroy(e);
      };
      const onAbort = () => fail(abortReason(opts.signal));
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      const cleanup = () => opts.signal?.removeEventListener('abort', onAbort);
      req.once('socket', (socket) => this.armConnectTimer(socket, req, url, fail));
      // The socket timeout measures silence, so a slow but moving download is fine.
      req.setTimeout(this.opts.idleTimeoutMs, () =>
        fail(timeoutError(`no data from ${url.host} for ${this.opts.idleTimeoutMs} ms`)),
      );
      // `on`, not `once`: node may report a second error for the same socket.
      req.on('error', (e) => {
        if (res) {
          if (!res.complete) res.destroy(e);
          return;
        }
        cleanup();
        reject(e);
      });
      req.once('response', (r) => {
        res = r;
        r.once('close', cleanup);
        resolve(r);
      });
      req.end();
    });
  }

  private armConnectTimer(socket: Socket, req: http.ClientRequest, url: URL, fail: (e: Error) => void): void {
    if (!socket.connecting) return; // a kept-alive socket, already connected
    const timer = setTimeout(
      () => fail(timeoutError(`connect to ${url.host} timed out after ${this.opts.connectTimeoutMs} ms`)),
      this.opts.connectTimeoutMs,
    );
    socket.once('connect', () => clearTimeout(timer));
    req.once('close', () => clearTimeout(timer));
  }
}

function redirectTarget(from: URL, location: string | undefined): URL {
  if (!location) throw invalid(`${from.href}: redirect without a Location header`);
  let next: URL;
  try {
    next = new URL(location, from);
  } catch (e) {
    throw invalid(`${from.href}: redirect to an invalid URL`, { cause: e });
  }
  if (next.protocol !== 'http:' && next.protocol !== 'https:') {
    throw invalid(`${from.href}: redirect to unsupported scheme ${next.protocol}`);
  }
  // Downgrading HTTPS to plain HTTP would hand the content (and the fact of
  // the pull) to anyone on the path; the registry asked for TLS, keep it.
  if (from.protocol === 'https:' && next.protocol === 'http:') {
    throw invalid(`${from.href}: refusing redirect from HTTPS to plain HTTP (${next.host})`);
  }
  return next;
}

function timeoutError(message: string): Error {
  return Object.assign(new Error(message), { code: 'ETIMEDOUT' });
}

export function abortReason(signal: AbortSignal | undefined): Error {
  const r: unknown = signal?.reason;
  return r instanceof Error ? r : new DOMException('This operation was aborted', 'AbortError');
}
