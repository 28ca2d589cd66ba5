import * as assert from 'uvu/assert';
import { buildTestImages } from '../../../scripts/lib/build-test-images.js';
import { MediaType } from '../../../scripts/lib/oci-layout.js';
import { pushToRegistry } from '../../../scripts/lib/registry-push.js';
import { hostSuite } from '../../helpers/host-tools.js';
import { type Registry, startRegistry } from '../../helpers/registry.js';
import { withTimeout } from '../../helpers/timeout.js';
import { type TempDir, tempDir } from '../../helpers/tmp.js';

const { test } = hostSuite<{ registry: Registry; dir: TempDir }>('harness: docker-registry', [
  'docker-registry',
  'busybox',
]);

test.before(async (ctx) => {
  ctx.registry = await startRegistry();
  ctx.dir = await tempDir();
});
test.after(async (ctx) => {
  await ctx.registry?.stop();
  await ctx.dir?.cleanup();
});

test('/v2/ answers as a distribution registry', async ({ registry }) => {
  const res = await withTimeout(fetch(`${registry.url}/v2/`), 5000, 'GET /v2/');
  assert.is(res.status, 200);
  assert.is(res.headers.get('docker-distribution-api-version'), 'registry/2.0');
});

test('a pushed test image and index come back with the same digests', async ({ registry, dir }) => {
  const built = await buildTestImages(dir.path, ['busybox', 'multiarch']);
  for (const [name, desc] of Object.entries(built)) {
    await withTimeout(
      pushToRegistry(dir.path, registry.url, `gantry-test/${name}`, 'latest', desc),
      30_000,
      `push ${name}`,
    );
    const res = await fetch(`${registry.url}/v2/gantry-test/${name}/manifests/latest`, {
      headers: { Accept: [MediaType.manifest, MediaType.index].join(', ') },
    });
    assert.is(res.status, 200, `GET manifest ${name}`);
    assert.is(res.headers.get('docker-content-digest'), desc.digest);
    assert.is(res.headers.get('content-type'), desc.mediaType);
  }
});

test.run();
