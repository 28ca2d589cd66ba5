import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import * as assert from 'uvu/assert';
import { buildTestImages } from '../../../scripts/lib/build-test-images.js';
import { readBlob } from '../../../scripts/lib/oci-layout.js';
import { hostSuite } from '../../helpers/host-tools.js';
import { run } from '../../helpers/processes.js';
import { type TempDir, tempDir } from '../../helpers/tmp.js';

const { test } = hostSuite<{ dir: TempDir }>('test images: deterministic, and umoci agrees', ['busybox', 'umoci']);

test.before.each(async (ctx) => {
  ctx.dir = await tempDir('gantry-images-');
});
test.after.each(async (ctx) => {
  await ctx.dir?.cleanup();
});

test('the same host files give the same digests', async ({ dir }) => {
  const a = await buildTestImages(path.join(dir.path, 'a'), ['busybox', 'layered', 'multiarch']);
  const b = await buildTestImages(path.join(dir.path, 'b'), ['multiarch', 'layered', 'busybox']);
  for (const name of Object.keys(a)) assert.is(a[name]?.digest, b[name]?.digest, name);
});

test('the multi-platform index has three distinct platform manifests', async ({ dir }) => {
  const layout = path.join(dir.path, 'l');
  const { multiarch } = await buildTestImages(layout, ['multiarch']);
  const index = JSON.parse((await readBlob(layout, multiarch?.digest as string)).toString()) as {
    manifests: Array<{ digest: string; platform: { architecture: string; variant?: string } }>;
  };
  const platforms = index.manifests.map((m) => [m.platform.architecture, m.platform.variant].filter(Boolean).join('/'));
  assert.equal(platforms, ['amd64', 'arm64/v8', 'arm/v7']);
  assert.is(new Set(index.manifests.map((m) => m.digest)).size, 3, 'distinct content per platform');
});

test('umoci unpacks busybox, and honours whiteouts and opaque dirs in the layered image', async ({ dir }) => {
  const layout = path.join(dir.path, 'l');
  await buildTestImages(layout, ['busybox', 'layered']);
  const bb = await run('umoci', ['unpack', '--image', `${layout}:busybox`, path.join(dir.path, 'bb')]);
  assert.is(bb.code, 0, bb.stderr);
  const sh = await run(path.join(dir.path, 'bb/rootfs/bin/busybox'), ['echo', 'hello']);
  assert.is(sh.stdout.trim(), 'hello');

  const lay = await run('umoci', ['unpack', '--image', `${layout}:layered`, path.join(dir.path, 'lay')]);
  assert.is(lay.code, 0, lay.stderr);
  const data = path.join(dir.path, 'lay/rootfs/data');
  assert.equal((await readdir(data)).sort(), ['dir', 'keep-link.txt', 'keep.txt']);
  assert.equal(await readdir(path.join(data, 'dir')), ['new.txt']);
  assert.is(await readFile(path.join(dir.path, 'lay/rootfs/etc/motd'), 'utf8'), 'v2\n');
});

test.run();
