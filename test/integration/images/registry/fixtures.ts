import http from 'node:http';
import path from 'node:path';
import { buildTestImages } from '../../../../scripts/lib/build-test-images.js';
import type { Descriptor } from '../../../../scripts/lib/oci-layout.js';
import { pushToRegistry } from '../../../../scripts/lib/registry-push.js';
import { listenOnLoopback } from '../../../helpers/net.js';
import { startRegistry } from '../../../helpers/registry.js';
import { withTimeout } from '../../../helpers/timeout.js';
import { type TempDir, tempDir } from '../../../helpers/tmp.js';

export interface Seeded {
  /** Holds `layout/` (the OCI layout the images were built into) and `storage/` (registry storage). */
  dir: TempDir;
  layout: string;
  storage: string;
  images: Record<string, Descriptor>;
}

export const REPO = (name: string) => `gantry-test/${name}`;

/**
 * Build busybox and multiarch and push them, as `gantry-test/NAME:latest`, to
 * an open registry on a storage dir that outlives it: a registry behind auth
 * then serves the same storage (the push script speaks no auth).
 */
export async function seedStorage(): Promise<Seeded> {
  const dir = await tempDir('gantry-seed-');
  const layout = path.join(dir.path, 'layout');
  const storage = path.join(dir.path, 'storage');
  const images = await buildTestImages(layout, ['busybox', 'multiarch']);
  const registry = await startRegistry({ storageDir: storage });
  try {
    for (const [name, desc] of Object.entries(images)) {
      await withTimeout(pushToRegistry(layout, registry.url, REPO(name), 'latest', desc), 30_000, `push ${name}`);
    }
  } finally {
    await registry.stop();
  }
  return { dir, layout, storage, images };
}

/** Build and push into a running open registry. */
export async function pushImages(registryUrl: string, dir: string): Promise<Record<string, Descriptor>> {
  const images = await buildTestImages(dir, ['busybox', 'multiarch']);
  for (const [name, desc] of Object.entries(images)) {
    await withTimeout(pushToRegistry(dir, registryUrl, REPO(name), 'latest', desc), 30_000, `push ${name}`);
  }
  return images;
}

export interface SeenRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
}

export interface Front {
  readonly host: string;
  readonly url: string;
  readonly seen: SeenRequest[];
  stop(): Promise<void>;
}

/** Pass the request on; `rewrite` may change the upstream answer's headers on the way back. */
export type Forward = (rewrite?: (headers: http.IncomingHttpHeaders) => http.IncomingHttpHeaders) => void;

/**
 * A loopback HTTP server in front of a real registry: `decide` may answer a
 * request itself (503s, redirects, stalls) or call `forward()` to pass it to
 * `upstream` untouched (Host included, so the registry's links still point here).
 */
export async function startFront(
  upstream: string,
  decide: (req: http.IncomingMessage, res: http.ServerResponse, forward: Forward) => void = (_q, _s, f) => f(),
): Promise<Front> {
  const seen: SeenRequest[] = [];
  const target = new URL(upstream);
  const server = http.createServer((req, res) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    const forward: Forward = (rewrite) => {
      const out = http.request(
        { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
        (up) => {
          res.writeHead(up.statusCode ?? 502, rewrite ? rewrite(up.headers) : up.headers);
          up.pipe(res);
        },
      );
      out.on('error', () => res.destroy());
      req.pipe(out);
    };
    decide(req, res, forward);
  });
  const port = await listenOnLoopback(server);
  return {
    host: `127.0.0.1:${port}`,
    url: `http://127.0.0.1:${port}`,
    seen,
    async stop() {
      server.closeAllConnections();
      await withTimeout(new Promise((r) => server.close(r)), 5000, 'front to close');
    },
  };
}

/** Read a stream to the end, bounded in time. */
export async function readAll(body: NodeJS.ReadableStream, ms = 10_000): Promise<Buffer> {
  return withTimeout(
    (async () => {
      const chunks: Buffer[] = [];
      for await (const c of body) chunks.push(Buffer.from(c));
      return Buffer.concat(chunks);
    })(),
    ms,
    'reading a body',
  );
}

/** The error a registry call rejects with (bounded in time); fails the test if it resolves. */
export async function rejection(p: Promise<unknown>, ms = 10_000): Promise<unknown> {
  try {
    await withTimeout(p, ms, 'registry call');
  } catch (e) {
    return e;
  }
  throw new Error('expected a rejection');
}
