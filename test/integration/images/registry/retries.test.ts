import path from 'node:path';
import * as assert from 'uvu/assert';
import { errnoCode, isGantryError } from '../../../../agent/src/errors.js';
import type { Digest } from '../../../../agent/src/images/digest.js';
import { MT } from '../../../../agent/src/images/media-types.js';
import { RegistryClient, type RegistryClientOptions } from '../../../../agent/src/images/registry/index.js';
import type { Descriptor } from '../../../../scripts/lib/oci-layout.js';
import { readBlob } from '../../../../scripts/lib/oci-layout.js';
import { hostSuite } from '../../../helpers/host-tools.js';
import { freePort } from '../../../helpers/net.js';
import { type Registry, startRegistry } from '../../../helpers/registry.js';
import { withTimeout } from '../../../helpers/timeout.js';
import { type TempDir, tempDir } from '../../../helpers/tmp.js';
import { type Forward, type Front, pushImages, REPO, readAll, rejection, startFront } from './fixtures.js';

interface Ctx {
  registry: Registry;
  dir: TempDir;
  layout: string;
  images: Record<string, Descriptor>;
  fronts: Front[];
}

const { test } = hostSuite<Ctx>('registry client: retries, timeouts, bad answers', ['docker-registry', 'busybox']);

test.before(async (ctx) => {
  ctx.registry = await startRegistry();
  ctx.dir = await tempDir('gantry-regretry-');
  ctx.layout = path.join(ctx.dir.path, 'layout');
  ctx.images = await pushImages(ctx.registry.url, ctx.layout);
});
test.before.each((ctx) => {
  ctx.fronts = [];
});
test.after.each(async (ctx) => {
  for (const f of ctx.fronts) await f.stop();
});
test.after(async (ctx) => {
  await ctx.registry?.stop();
  await ctx.dir?.cleanup();
});

type Decide = (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse, f: Forward) => void;

async function front(ctx: Ctx, decide: Decide): Promise<Front> {
  const f = await startFront(ctx.registry.url, decide);
  ctx.fronts.push(f);
  return f;
}

/** A client of `host` that records its sleeps instead of sleeping (random 0.5: half the backoff ceiling). */
function client(host: string, more: RegistryClientOptions = {}) {
  const sleeps: number[] = [];
  const c = new RegistryClient({
    registries: { [host]: { insecure: true } },
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    random: () => 0.5,
    ...more,
  });
  return { c, sleeps };
}

function causes(e: unknown): unknown[] {
  const out: unknown[] = [];
  for (let c: unknown = e; c instanceof Error; c = c.cause) out.push(c);
  return out;
}

const busybox = (host: string) => ({ registry: host, repository: REPO('busybox'), tag: 'latest' });

test('two 503s, then the real registry: retried with backoff, and it succeeds', async (ctx) => {
  let failures = 2;
  const f = await front(ctx, (_req, res, forward) => {
    if (failures-- > 0) res.writeHead(503).end();
    else forward();
  });
  const { c, sleeps } = client(f.host);
  try {
    const m = await withTimeout(c.getManifest(busybox(f.host)), 10_000, 'manifest');
    assert.is(m.digest, ctx.images.busybox?.digest);
    assert.equal(
      f.seen.map((r) => r.method),
      ['HEAD', 'HEAD', 'HEAD', 'GET'],
    );
    // Full jitter with random 0.5: half of 500 ms, then half of 1 s.
    assert.equal(sleeps, [250, 500]);
  } finally {
    c.close();
  }
});

test('503 every time: unavailable after the configured attempts', async (ctx) => {
  const f = await front(ctx, (_req, res) => res.writeHead(503).end());
  const { c, sleeps } = client(f.host, { retries: 3 });
  try {
    const e = await rejection(c.getManifest(busybox(f.host)));
    assert.ok(isGantryError(e, 'unavailable'), String(e));
    assert.match((e as Error).message, 'gave up after 3 attempts');
    assert.match((e as Error).message, 'HTTP 503');
    assert.is(f.seen.length, 3);
    assert.is(sleeps.length, 2);
  } finally {
    c.close();
  }
});

test('429 with Retry-After: waits what the server asked', async (ctx) => {
  let limited = false;
  const f = await front(ctx, (_req, res, forward) => {
    if (limited) return forward();
    limited = true;
    res.writeHead(429, { 'retry-after': '7' }).end();
  });
  const { c, sleeps } = client(f.host);
  try {
    await withTimeout(c.getManifest(busybox(f.host)), 10_000, 'manifest');
    assert.equal(sleeps, [7000]);
  } finally {
    c.close();
  }
});

test('connection refused: retried, then unavailable with ECONNREFUSED as the cause', async () => {
  const host = `127.0.0.1:${await freePort()}`;
  const { c, sleeps } = client(host, { retries: 3 });
  try {
    const e = await rejection(c.getManifest(busybox(host)));
    assert.ok(isGantryError(e, 'unavailable'), String(e));
    assert.ok(
      causes(e).some((x) => errnoCode(x) === 'ECONNREFUSED'),
      'ECONNREFUSED in the cause chain',
    );
    assert.is(sleeps.length, 2);
  } finally {
    c.close();
  }
});

test('a connection cut before the answer, and one cut in the middle of a manifest body, are retried', async (ctx) => {
  let cuts = 0;
  const f = await front(ctx, (req, res, forward) => {
    if (cuts === 0) {
      cuts++;
      req.socket.destroy(); // socket hang up
      return;
    }
    if (req.method === 'GET' && cuts === 1) {
      cuts++;
      // Promise the whole manifest, send 10 bytes, hang up.
      res.writeHead(200, { 'content-type': MT.ociManifest, 'content-length': '400' });
      res.write('{"schemaVe');
      setTimeout(() => req.socket.destroy(), 20);
      return;
    }
    forward();
  });
  const { c, sleeps } = client(f.host);
  try {
    const m = await withTimeout(c.getManifest(busybox(f.host)), 10_000, 'manifest');
    assert.is(m.digest, ctx.images.busybox?.digest);
    assert.is(sleeps.length, 2);
  } finally {
    c.close();
  }
});

test('a Docker-Content-Digest that does not match the body is invalid, not retried', async (ctx) => {
  const wrong = `sha256:${'1'.repeat(64)}`;
  const f = await front(ctx, (req, _res, forward) =>
    req.method === 'GET' ? forward((h) => ({ ...h, 'docker-content-digest': wrong })) : forward(),
  );
  const digest = ctx.images.busybox?.digest as Digest;
  const { c, sleeps } = client(f.host);
  try {
    const e = await rejection(c.getManifest({ registry: f.host, repository: REPO('busybox'), digest }));
    assert.ok(isGantryError(e, 'invalid'), String(e));
    assert.match((e as Error).message, `differs from Docker-Content-Digest ${wrong}`);
    assert.is(sleeps.length, 0);
  } finally {
    c.close();
  }
});

test('a Content-Type that contradicts the body is invalid', async (ctx) => {
  const f = await front(ctx, (_req, _res, forward) => forward((h) => ({ ...h, 'content-type': MT.ociIndex })));
  const { c } = client(f.host);
  try {
    const e = await rejection(c.getManifest(busybox(f.host)));
    assert.ok(isGantryError(e, 'invalid'), String(e));
    assert.match(
      (e as Error).message,
      `Content-Type is ${MT.ociIndex} but the document's mediaType is ${MT.ociManifest}`,
    );
  } finally {
    c.close();
  }
});

test('a registry that never answers: idle timeout, retried, then unavailable', async (ctx) => {
  const f = await front(ctx, () => {});
  const { c, sleeps } = client(f.host, { retries: 2, idleTimeoutMs: 200 });
  try {
    const started = Date.now();
    const e = await rejection(c.getManifest(busybox(f.host)));
    assert.ok(isGantryError(e, 'unavailable'), String(e));
    assert.ok(
      causes(e).some((x) => errnoCode(x) === 'ETIMEDOUT'),
      'ETIMEDOUT in the cause chain',
    );
    assert.is(sleeps.length, 1);
    assert.ok(Date.now() - started < 3000, 'bounded by the idle timeout');
  } finally {
    c.close();
  }
});

test('a blob body that stalls halfway errors the stream with a timeout', async (ctx) => {
  const f = await front(ctx, (_req, res) => {
    res.writeHead(200, { 'content-length': '1000' });
    res.write(Buffer.alloc(500));
  });
  const { c } = client(f.host, { idleTimeoutMs: 200 });
  try {
    const blob = await withTimeout(
      c.fetchBlob({ registry: f.host, repository: REPO('busybox') }, `sha256:${'2'.repeat(64)}`),
      5000,
      'blob headers',
    );
    assert.is(blob.totalSize, 1000);
    const e = await rejection(readAll(blob.body), 5000);
    assert.is(errnoCode(e), 'ETIMEDOUT', String(e));
  } finally {
    c.close();
  }
});

test('abort while waiting for an answer, and while backing off', async (ctx) => {
  const stalled = await front(ctx, () => {});
  const { c } = client(stalled.host);
  const ac = new AbortController();
  setTimeout(() => ac.abort(new Error('cancelled by test')), 50);
  const e = await rejection(c.getManifest(busybox(stalled.host), ac.signal), 3000);
  assert.is((e as Error).message, 'cancelled by test');
  c.close();

  const failing = await front(ctx, (_req, res) => res.writeHead(500).end());
  const forever = new RegistryClient({
    registries: { [failing.host]: { insecure: true } },
    sleep: () => new Promise(() => {}),
  });
  const ac2 = new AbortController();
  setTimeout(() => ac2.abort(new Error('cancelled during backoff')), 50);
  const e2 = await rejection(forever.getManifest(busybox(failing.host), ac2.signal), 3000);
  assert.is((e2 as Error).message, 'cancelled during backoff');
  forever.close();
});

test('a blob read after a 200 to a ranged request starts at 0 (the server ignored Range)', async (ctx) => {
  const manifest = JSON.parse((await readBlob(ctx.layout, ctx.images.busybox?.digest as string)).toString()) as {
    config: { digest: Digest };
  };
  const f = await front(ctx, (req, _res, forward) => {
    delete req.headers.range;
    forward();
  });
  const { c } = client(f.host);
  try {
    const blob = await withTimeout(
      c.fetchBlob({ registry: f.host, repository: REPO('busybox') }, manifest.config.digest, { offset: 5 }),
      5000,
      'blob',
    );
    assert.is(blob.offset, 0);
    assert.equal(await readAll(blob.body), await readBlob(ctx.layout, manifest.config.digest));
  } finally {
    c.close();
  }
});

test('a 206 that starts elsewhere than asked is invalid', async (ctx) => {
  const f = await front(ctx, (_req, res) => {
    res.writeHead(206, { 'content-range': 'bytes 0-9/100', 'content-length': '10' }).end(Buffer.alloc(10));
  });
  const { c } = client(f.host);
  try {
    const e = await rejection(
      c.fetchBlob({ registry: f.host, repository: REPO('busybox') }, `sha256:${'3'.repeat(64)}`, { offset: 50 }),
    );
    assert.ok(isGantryError(e, 'invalid'), String(e));
    assert.match(String((e as Error).cause), 'asked from byte 50, got a range from 0');
  } finally {
    c.close();
  }
});

test.run();
