import { createHash } from 'node:crypto';
import path from 'node:path';
import * as assert from 'uvu/assert';
import { isGantryError } from '../../../../agent/src/errors.js';
import type { Digest } from '../../../../agent/src/images/digest.js';
import { MT } from '../../../../agent/src/images/media-types.js';
import { RegistryClient } from '../../../../agent/src/images/registry/index.js';
import type { Descriptor } from '../../../../scripts/lib/oci-layout.js';
import { readBlob } from '../../../../scripts/lib/oci-layout.js';
import { hostSuite } from '../../../helpers/host-tools.js';
import { type Registry, startRegistry } from '../../../helpers/registry.js';
import { withTimeout } from '../../../helpers/timeout.js';
import { type TempDir, tempDir } from '../../../helpers/tmp.js';
import { pushImages, REPO, readAll, rejection } from './fixtures.js';

interface Ctx {
  registry: Registry;
  dir: TempDir;
  layout: string;
  images: Record<string, Descriptor>;
  client: RegistryClient;
}

const { test } = hostSuite<Ctx>('registry client: pull from docker-registry', ['docker-registry', 'busybox']);

test.before(async (ctx) => {
  ctx.registry = await startRegistry();
  ctx.dir = await tempDir('gantry-regclient-');
  ctx.layout = path.join(ctx.dir.path, 'layout');
  ctx.images = await pushImages(ctx.registry.url, ctx.layout);
  ctx.client = new RegistryClient({ registries: { [ctx.registry.host]: { insecure: true } } });
});
test.after(async (ctx) => {
  ctx.client?.close();
  await ctx.registry?.stop();
  await ctx.dir?.cleanup();
});

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const ref = (ctx: Ctx, name: string) => ({ registry: ctx.registry.host, repository: REPO(name) });

/** The first (biggest) layer of the busybox image, from the layout it was built into. */
async function busyboxLayer(ctx: Ctx): Promise<{ digest: Digest; bytes: Buffer }> {
  const manifest = JSON.parse((await readBlob(ctx.layout, ctx.images.busybox?.digest as string)).toString()) as {
    layers: Array<{ digest: Digest }>;
  };
  const digest = manifest.layers[0]?.digest as Digest;
  return { digest, bytes: await readBlob(ctx.layout, digest) };
}

test('a manifest by tag: HEAD then GET, digest and media type as pushed', async (ctx) => {
  const m = await withTimeout(ctx.client.getManifest({ ...ref(ctx, 'busybox'), tag: 'latest' }), 10_000, 'get');
  assert.is(m.digest, ctx.images.busybox?.digest);
  assert.is(m.mediaType, MT.ociManifest);
  assert.is(sha(m.bytes), m.digest);
  assert.equal(m.bytes, await readBlob(ctx.layout, m.digest));
});

test('a manifest by digest, verified against it', async (ctx) => {
  const digest = ctx.images.busybox?.digest as Digest;
  const m = await withTimeout(ctx.client.getManifest({ ...ref(ctx, 'busybox'), digest }), 10_000, 'get');
  assert.is(m.digest, digest);
  assert.is(m.mediaType, MT.ociManifest);
});

test('an index (multiarch) comes back as an index, and its platform manifests by digest', async (ctx) => {
  const idx = await withTimeout(ctx.client.getManifest({ ...ref(ctx, 'multiarch'), tag: 'latest' }), 10_000, 'get');
  assert.is(idx.mediaType, MT.ociIndex);
  assert.is(idx.digest, ctx.images.multiarch?.digest);
  const { manifests } = JSON.parse(idx.bytes.toString()) as { manifests: Array<{ digest: Digest }> };
  assert.is(manifests.length, 3);
  for (const child of manifests) {
    const m = await withTimeout(
      ctx.client.getManifest({ ...ref(ctx, 'multiarch'), digest: child.digest }),
      10_000,
      'child',
    );
    assert.is(m.mediaType, MT.ociManifest);
    assert.is(m.digest, child.digest);
  }
});

test('fetchBlob whole: a 200 with the size, bytes as built', async (ctx) => {
  const layer = await busyboxLayer(ctx);
  const blob = await withTimeout(ctx.client.fetchBlob(ref(ctx, 'busybox'), layer.digest), 10_000, 'blob');
  assert.is(blob.offset, 0);
  assert.is(blob.totalSize, layer.bytes.length);
  assert.equal(await readAll(blob.body), layer.bytes);
});

test('fetchBlob from an offset: a 206 starting there, the tail of the blob', async (ctx) => {
  const layer = await busyboxLayer(ctx);
  const offset = Math.floor(layer.bytes.length / 3);
  const blob = await withTimeout(
    ctx.client.fetchBlob(ref(ctx, 'busybox'), layer.digest, { offset }),
    10_000,
    'ranged blob',
  );
  assert.is(blob.offset, offset);
  assert.is(blob.totalSize, layer.bytes.length);
  const tail = await readAll(blob.body);
  assert.is(tail.length, layer.bytes.length - offset);
  assert.ok(tail.equals(layer.bytes.subarray(offset)), 'bytes from the offset match');
});

test('a missing tag is not-found, naming the reference', async (ctx) => {
  const e = await rejection(ctx.client.getManifest({ ...ref(ctx, 'busybox'), tag: 'nope' }));
  assert.ok(isGantryError(e, 'not-found'), String(e));
  assert.match((e as Error).message, `manifest ${ctx.registry.host}/gantry-test/busybox:nope not found`);
});

test('a missing repository and a missing blob are not-found too', async (ctx) => {
  const repo = await rejection(ctx.client.getManifest({ ...ref(ctx, 'nothing-here'), tag: 'latest' }));
  assert.ok(isGantryError(repo, 'not-found'), String(repo));
  const missing = `sha256:${'0'.repeat(64)}` as Digest;
  const blob = await rejection(ctx.client.fetchBlob(ref(ctx, 'busybox'), missing));
  assert.ok(isGantryError(blob, 'not-found'), String(blob));
  assert.match((blob as Error).message, `blob ${missing} of ${ctx.registry.host}/gantry-test/busybox not found`);
});

test('a manifest over maxManifestBytes is invalid', async (ctx) => {
  const small = new RegistryClient({ registries: { [ctx.registry.host]: { insecure: true } }, maxManifestBytes: 100 });
  try {
    const e = await rejection(small.getManifest({ ...ref(ctx, 'busybox'), tag: 'latest' }));
    assert.ok(isGantryError(e, 'invalid'), String(e));
    assert.match((e as Error).message, 'more than the limit of 100');
  } finally {
    small.close();
  }
});

test('a bad repository name never reaches the wire', async (ctx) => {
  const e = await rejection(ctx.client.getManifest({ registry: ctx.registry.host, repository: '../etc', tag: 'x' }));
  assert.ok(isGantryError(e, 'invalid'), String(e));
});

test('an aborted signal rejects with its reason', async (ctx) => {
  const ac = new AbortController();
  ac.abort(new Error('stop now'));
  const e = await rejection(ctx.client.getManifest({ ...ref(ctx, 'busybox'), tag: 'latest' }, ac.signal));
  assert.is((e as Error).message, 'stop now');
});

test('without insecure, the client speaks HTTPS and fails as unavailable (no plain-HTTP fallback)', async (ctx) => {
  const strict = new RegistryClient({ retries: 1 });
  try {
    const e = await rejection(strict.getManifest({ ...ref(ctx, 'busybox'), tag: 'latest' }));
    assert.ok(isGantryError(e, 'unavailable'), String(e));
  } finally {
    strict.close();
  }
});

test.run();
