import * as assert from 'uvu/assert';
import { isGantryError } from '../../../../agent/src/errors.js';
import type { Digest } from '../../../../agent/src/images/digest.js';
import { MT } from '../../../../agent/src/images/media-types.js';
import { RegistryClient, type RegistryClientOptions } from '../../../../agent/src/images/registry/index.js';
import { readBlob } from '../../../../scripts/lib/oci-layout.js';
import { hostSuite } from '../../../helpers/host-tools.js';
import { type Registry, startRegistry } from '../../../helpers/registry.js';
import { withTimeout } from '../../../helpers/timeout.js';
import { REPO, readAll, rejection, type Seeded, seedStorage } from './fixtures.js';
import { startTokenServer, type TokenServer } from './token-server.js';

interface Ctx {
  seeded: Seeded;
  tokens: TokenServer;
  registry: Registry;
}

const USER = 'gateway';
const PASSWORD = 's3cret';

const { test } = hostSuite<Ctx>('registry client: bearer token auth', ['docker-registry', 'openssl', 'busybox']);

test.before(async (ctx) => {
  ctx.seeded = await seedStorage();
  // Anonymous callers get a token with no access: the registry then says 401 to a fresh token.
  ctx.tokens = await startTokenServer({ users: { [USER]: PASSWORD }, anonymous: 'empty-token', expiresIn: 300 });
  ctx.registry = await startRegistry({
    storageDir: ctx.seeded.storage,
    auth: {
      kind: 'token',
      realm: ctx.tokens.realm,
      service: ctx.tokens.service,
      issuer: ctx.tokens.issuer,
      rootCertBundle: ctx.tokens.rootCertBundle,
    },
  });
});
test.before.each((ctx) => {
  ctx.tokens.requests.length = 0;
});
test.after(async (ctx) => {
  await ctx.registry?.stop();
  await ctx.tokens?.stop();
  await ctx.seeded?.dir.cleanup();
});

/** A client whose registry and token realm (plain HTTP on loopback) are both marked insecure. */
function client(ctx: Ctx, creds: { username?: string; password?: string } = {}, more: RegistryClientOptions = {}) {
  return new RegistryClient({
    registries: { [ctx.registry.host]: { insecure: true, ...creds }, [ctx.tokens.host]: { insecure: true } },
    retries: 2,
    ...more,
  });
}

test('with credentials: the token server is asked once, with them and the pull scope', async (ctx) => {
  const c = client(ctx, { username: USER, password: PASSWORD });
  try {
    const repo = { registry: ctx.registry.host, repository: REPO('busybox') };
    const m = await withTimeout(c.getManifest({ ...repo, tag: 'latest' }), 10_000, 'manifest');
    assert.is(m.digest, ctx.seeded.images.busybox?.digest);
    const config = (JSON.parse(m.bytes.toString()) as { config: { digest: Digest } }).config.digest;
    const blob = await withTimeout(c.fetchBlob(repo, config), 10_000, 'blob');
    assert.equal(await readAll(blob.body), await readBlob(ctx.seeded.layout, config));
    // HEAD, GET and the blob share one token: cached per (registry, scope).
    assert.is(ctx.tokens.requests.length, 1);
    const req = ctx.tokens.requests[0];
    assert.is(req?.scope, 'repository:gantry-test/busybox:pull');
    assert.is(req?.service, ctx.tokens.service);
    assert.is(req?.authorization, `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`);

    // Another repository is another scope: one more token.
    const idx = await withTimeout(
      c.getManifest({ ...repo, repository: REPO('multiarch'), tag: 'latest' }),
      10_000,
      'x',
    );
    assert.is(idx.mediaType, MT.ociIndex);
    assert.is(ctx.tokens.requests.length, 2);
    assert.is(ctx.tokens.requests[1]?.scope, 'repository:gantry-test/multiarch:pull');
  } finally {
    c.close();
  }
});

test('concurrent requests for one scope share one token fetch', async (ctx) => {
  const c = client(ctx, { username: USER, password: PASSWORD });
  try {
    const repo = { registry: ctx.registry.host, repository: REPO('busybox') };
    const digest = ctx.seeded.images.busybox?.digest as Digest;
    await withTimeout(
      Promise.all([1, 2, 3, 4].map(() => c.getManifest({ ...repo, digest }))),
      10_000,
      'concurrent manifests',
    );
    // The first anonymous 401s all arrive before any token: each answers the
    // challenge, and they share the fetch that is in flight.
    assert.is(ctx.tokens.requests.length, 1);
  } finally {
    c.close();
  }
});

test('an expired token is not sent again: a new one is fetched', async (ctx) => {
  let now = Date.now();
  const c = client(ctx, { username: USER, password: PASSWORD }, { now: () => now });
  try {
    const repo = { registry: ctx.registry.host, repository: REPO('busybox'), tag: 'latest' };
    await withTimeout(c.getManifest(repo), 10_000, 'first');
    await withTimeout(c.getManifest(repo), 10_000, 'second, cached');
    assert.is(ctx.tokens.requests.length, 1);
    now += 300_000; // expires_in of the token server
    await withTimeout(c.getManifest(repo), 10_000, 'third, after expiry');
    assert.is(ctx.tokens.requests.length, 2, 'refreshed before sending, not after a 401');
  } finally {
    c.close();
  }
});

test('without credentials: a token with no access, a 401, then denied naming registry and repository', async (ctx) => {
  const c = client(ctx);
  try {
    const e = await rejection(
      c.getManifest({ registry: ctx.registry.host, repository: REPO('busybox'), tag: 'latest' }),
    );
    assert.ok(isGantryError(e, 'denied'), String(e));
    assert.match(
      (e as Error).message,
      `registry ${ctx.registry.host} denied pulling repository gantry-test/busybox: HTTP 401 even with a fresh token`,
    );
    assert.is(ctx.tokens.requests[0]?.authorization, undefined, 'anonymous token request');
  } finally {
    c.close();
  }
});

test('a wrong password: the token server says 401, and that is denied', async (ctx) => {
  const c = client(ctx, { username: USER, password: 'nope' });
  try {
    const e = await rejection(
      c.getManifest({ registry: ctx.registry.host, repository: REPO('busybox'), tag: 'latest' }),
    );
    assert.ok(isGantryError(e, 'denied'), String(e));
    assert.match((e as Error).message, `refused user ${USER} for ${ctx.registry.host}/gantry-test/busybox`);
  } finally {
    c.close();
  }
});

test('credentials are never sent to a plain-HTTP realm that is not marked insecure', async (ctx) => {
  const c = new RegistryClient({
    registries: { [ctx.registry.host]: { insecure: true, username: USER, password: PASSWORD } },
    retries: 1,
  });
  try {
    const e = await rejection(
      c.getManifest({ registry: ctx.registry.host, repository: REPO('busybox'), tag: 'latest' }),
    );
    assert.ok(isGantryError(e, 'denied'), String(e));
    assert.match((e as Error).message, 'over plain HTTP');
    assert.is(ctx.tokens.requests.length, 0, 'the token server heard nothing');
  } finally {
    c.close();
  }
});

test.run();
