import http from 'node:http';
import { freePort } from './net.js';

export interface CutRule {
  /** Requests whose path contains this are subject to the rule. */
  pathIncludes: string;
  /** Bytes of the body to pass before destroying the connection, one entry per matching request; later ones pass. */
  cutAfter: number[];
}

export interface CuttingProxy {
  readonly host: string;
  readonly url: string;
  /** Every request seen: path, Range header, status, body bytes passed. */
  readonly log: Array<{ path: string; range?: string; status?: number; bytes: number }>;
  stop(): Promise<void>;
}

/**
 * A loopback HTTP proxy in front of a real registry that drops connections
 * mid-body, the way a cellular link does. It forwards requests unchanged, so
 * Range and 206 are the registry's own.
 */
export async function startCuttingProxy(upstreamPort: number, rules: CutRule[]): Promise<CuttingProxy> {
  const port = await freePort();
  const log: CuttingProxy['log'] = [];
  const pending = rules.map((r) => ({ ...r, cutAfter: [...r.cutAfter] }));
  const server = http.createServer((req, res) => {
    const entry: CuttingProxy['log'][number] = { path: req.url ?? '', bytes: 0 };
    if (typeof req.headers.range === 'string') entry.range = req.headers.range;
    log.push(entry);
    const rule = pending.find((r) => (req.url ?? '').includes(r.pathIncludes) && req.method === 'GET');
    const cut = rule?.cutAfter.shift();
    const upstream = http.request(
      {
        host: '127.0.0.1',
        port: upstreamPort,
        path: req.url,
        method: req.method,
        headers: { ...req.headers, host: `127.0.0.1:${upstreamPort}` },
      },
      (up) => {
        entry.status = up.statusCode ?? 0;
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.on('data', (chunk: Buffer) => {
          if (cut !== undefined && entry.bytes + chunk.length > cut) {
            res.write(chunk.subarray(0, cut - entry.bytes));
            entry.bytes = cut;
            up.destroy();
            res.socket?.destroy();
            return;
          }
          entry.bytes += chunk.length;
          res.write(chunk);
        });
        up.on('end', () => res.end());
      },
    );
    upstream.on('error', () => res.socket?.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    host: `127.0.0.1:${port}`,
    url: `http://127.0.0.1:${port}`,
    log,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
