import * as assert from 'uvu/assert';
import { isGantryError } from '../../../../agent/src/errors.js';
import type { Digest } from '../../../../agent/src/images/digest.js';
import { RegistryClient } from '../../../../agent/src/images/registry/index.js';
import { readBlob } from '../../../../scripts/lib/oci-layout.js';
import { hostSuite } from '../../../helpers/host-tools.js';
import { type Registry, startRegistry } from '../../../helpers/registry.js';
import { withTimeout } from '../../../helpers/timeout.js';
import { type Front, REPO, readAll, rejection, type Seeded, seedStorage, startFront } from './fixtures.js';

interface Ctx {
  seeded: Seeded;
  registry: Registry;
}

const USER = 'gateway';
const PASSWORD = 'pa:ss "wörd"';

const { test } = hostSuite<Ctx>('registry client: htpasswd basic auth', ['docker-registry', 'htpasswd', 'busybox']);

test.before(async (ctx) => {
  ctx.seeded = await seedStorage();
  ctx.registry = await startRegistry({
    storageDir: ctx.seeded.storage,
    auth: { kind: 'htpasswd', users: { [USER]: PASSWORD } },
  });
});
test.after(async (ctx) => {
  await ctx.registry?.stop();
  await ctx.seeded?.dir.cleanup();
});

function client(host: string, creds?: { username: string; password: string }) {
  return new RegistryClient({ registries: { [host]: { insecure: true, ...creds } }, retries: 2 });
}

test('with the configured credentials: manifest and blob', async ({ registry, seeded }) => {
  const c = client(registry.host, { username: USER, password: PASSWORD });
  try {
    const repo = { registry: registry.host, repository: REPO('busybox') };
    const m = await withTimeout(c.getManifest({ ...repo, tag: 'latest' }), 10_000, 'manifest');
    assert.is(m.digest, seeded.images.busybox?.digest);
    const config = (JSON.parse(m.bytes.toString()) as { config: { digest: Digest } }).config.digest;
    const blob = await withTimeout(c.fetchBlob(repo, config), 10_000, 'blob');
    assert.equal(await readAll(blob.body), await readBlob(seeded.layout, config));
  } finally {
    c.close();
  }
});

test('without credentials: denied, saying none are configured', async ({ registry }) => {
  const c = client(registry.host);
  try {
    const e = await rejection(c.getManifest({ registry: registry.host, repository: REPO('busybox'), tag: 'latest' }));
    assert.ok(isGantryError(e, 'denied'), String(e));
    assert.match((e as Error).message, `registry ${registry.host} needs credentials for gantry-test/busybox`);
  } finally {
    c.close();
  }
});

test('with a wrong password: denied, naming registry and repository', async ({ registry }) => {
  const c = client(registry.host, { username: USER, password: 'wrong' });
  try {
    const e = await rejection(c.getManifest({ registry: registry.host, repository: REPO('busybox'), tag: 'latest' }));
    assert.ok(isGantryError(e, 'denied'), String(e));
    assert.match((e as Error).message, `registry ${registry.host} denied pulling repository gantry-test/busybox`);
  } finally {
    c.close();
  }
});

test('a blob redirected to another host gets no Authorization; the registry still does', async ({
  registry,
  seeded,
}) => {
  const layerDigest = (
    JSON.parse((await readBlob(seeded.layout, seeded.images.busybox?.digest as string)).toString()) as {
      layers: Array<{ digest: Digest }>;
    }
  ).layers[0]?.digest as Digest;
  const basic = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`;
  // "Storage": another origin that serves the blob, fetching it from the registry itself.
  const storage: Front = await startFront(registry.url, (req, _res, forward) => {
    req.url = `/v2/${REPO('busybox')}/blobs/${layerDigest}`;
    req.headers = { ...req.headers, authorization: basic };
    forward();
  });
  const front: Front = await startFront(registry.url, (req, res, forward) => {
    if (req.method === 'GET' && req.url?.includes('/blobs/') && req.headers.authorization !== undefined) {
      res.writeHead(307, { location: `${storage.url}/storage/${layerDigest}` }).end();
      return;
    }
    forward();
  });
  const c = client(front.host, { username: USER, password: PASSWORD });
  try {
    const repo = { registry: front.host, repository: REPO('busybox') };
    const blob = await withTimeout(c.fetchBlob(repo, layerDigest, { offset: 10 }), 10_000, 'redirected blob');
    const bytes = await readAll(blob.body);
    assert.ok(bytes.equals((await readBlob(seeded.layout, layerDigest)).subarray(10)), 'the range followed the hop');
    assert.is(blob.offset, 10);
    assert.is(storage.seen.length, 1);
    // The storage front copied the request before adding its own credentials to the upstream call.
    assert.is(storage.seen[0]?.headers.authorization, undefined, 'no Authorization to another origin');
    assert.is(storage.seen[0]?.headers.range, 'bytes=10-');
    assert.ok(
      front.seen.some((r) => r.headers.authorization === basic),
      'the registry got the credentials',
    );
  } finally {
    c.close();
    await front.stop();
    await storage.stop();
  }
});

test.run();
