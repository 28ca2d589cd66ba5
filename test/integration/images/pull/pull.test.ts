import { lstat, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import * as assert from 'uvu/assert';
import type { ImageSummary } from '../../../../agent/src/images/ports.js';
import { startAgent, type TestAgent } from '../../../helpers/agent.js';
import { hostSuite } from '../../../helpers/host-tools.js';
import { buildAndPush, insecureRegistryConfig } from '../../../helpers/images.js';
import { run } from '../../../helpers/processes.js';
import { type Registry, startRegistry } from '../../../helpers/registry.js';
import { type TempDir, tempDir } from '../../../helpers/tmp.js';

interface Ctx {
  registry: Registry;
  dir: TempDir;
  agent: TestAgent;
  images: Awaited<ReturnType<typeof buildAndPush>>;
}
const { test } = hostSuite<Ctx>('images: gantry pull from a real registry, layouts and archives', [
  'docker-registry',
  'busybox',
  'tar',
]);

test.before(async (ctx) => {
  ctx.registry = await startRegistry();
  ctx.dir = await tempDir('gantry-pull-');
  ctx.images = await buildAndPush(ctx.registry, path.join(ctx.dir.path, 'layout'), ['busybox', 'layered', 'multiarch']);
  const config = await insecureRegistryConfig(ctx.dir.path, ctx.registry);
  ctx.agent = await startAgent({ config, dataDir: path.join(ctx.dir.path, 'data') });
});
test.after(async (ctx) => {
  await ctx.agent?.stop();
  await ctx.registry?.stop();
  await ctx.dir?.cleanup();
});

const snapshots = (agent: TestAgent) => path.join(agent.dataDir, 'images', 'snapshots');

async function images(agent: TestAgent): Promise<ImageSummary[]> {
  const res = await agent.gantry('images', '--json');
  assert.is(res.code, 0, res.stderr);
  return JSON.parse(res.stdout) as ImageSummary[];
}

test('pull by tag: progress lines, the image listed, its layer unpacked', async ({ agent, images: built }) => {
  const ref = built.busybox?.ref as string;
  const res = await agent.gantry('pull', ref);
  assert.is(res.code, 0, res.stdout + res.stderr);
  assert.match(res.stdout, /downloading/);
  assert.match(res.stdout, new RegExp(`Pulled ${ref.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  const list = await images(agent);
  const img = list.find((i) => i.ref === ref);
  assert.is(img?.digest, built.busybox?.digest);
  assert.is(img?.platform, 'linux/amd64');
  const [snap] = await readdir(snapshots(agent));
  const bb = await lstat(path.join(snapshots(agent), snap as string, 'bin/busybox'));
  assert.ok(bb.isFile() && (bb.mode & 0o111) !== 0);
  const table = await agent.gantry('images');
  assert.match(table.stdout, /REFERENCE\s+DIGEST\s+PLATFORM/);
});

test('pull by digest reuses the stored layers', async ({ agent, images: built, registry }) => {
  const ref = `${registry.host}/gantry-test/busybox@${built.busybox?.digest}`;
  const res = await agent.gantry('pull', '--json', ref);
  assert.is(res.code, 0, res.stderr);
  const events = res.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { type: string; status?: string; image?: ImageSummary });
  assert.ok(events.some((e) => e.type === 'layer' && e.status === 'cached'));
  assert.is(events.at(-1)?.image?.downloaded, 0);
});

test('multi-platform index: --platform picks the variant, the host default is amd64, no fit lists the offer', async ({
  agent,
  images: built,
}) => {
  const ref = built.multiarch?.ref as string;
  for (const [platform, want] of [
    ['linux/arm/v7', 'linux/arm/v7'],
    ['linux/arm64', 'linux/arm64/v8'],
    ['linux/armhf', 'linux/arm/v7'],
  ] as const) {
    const res = await agent.gantry('pull', '--json', '--platform', platform, ref);
    assert.is(res.code, 0, res.stderr);
    const done = JSON.parse(res.stdout.trim().split('\n').at(-1) as string) as { image: ImageSummary };
    assert.is(done.image.platform, want);
    const info = JSON.parse((await agent.gantry('image', 'inspect', ref)).stdout) as {
      layers: Array<{ diffId: string }>;
    };
    const diffId = info.layers[0]?.diffId.slice(7) as string;
    assert.is(await readFile(path.join(snapshots(agent), diffId, 'platform'), 'utf8'), `${want}\n`);
  }
  // The tag moved twice: the images it pointed at stay under their digests until prune finds no app using them.
  const retired = (await images(agent)).filter((i) => i.ref.startsWith(ref.replace(/:latest$/, '@sha256:')));
  assert.is(retired.length, 2, JSON.stringify(retired.map((i) => i.ref)));
  assert.is((await agent.gantry('image', 'prune')).code, 0);
  assert.equal(
    (await images(agent)).filter((i) => i.ref.includes('multiarch@')),
    [],
  );
  const none = await agent.gantry('pull', '--platform', 'linux/ppc64le', ref);
  assert.is(none.code, 1);
  assert.match(
    none.stderr,
    /has no image for linux\/ppc64le; it offers linux\/amd64, linux\/arm64\/v8, linux\/arm\/v7/,
  );
});

test('whiteouts become overlay whiteouts in the layer snapshot', async ({ agent, images: built }) => {
  const ref = built.layered?.ref as string;
  assert.is((await agent.gantry('pull', ref)).code, 0);
  const info = JSON.parse((await agent.gantry('image', 'inspect', ref)).stdout) as {
    layers: Array<{ diffId: string }>;
  };
  assert.is(info.layers.length, 3);
  const top = path.join(snapshots(agent), (info.layers[2]?.diffId ?? '').slice(7));
  const wh = await lstat(path.join(top, 'data/remove-me.txt'));
  assert.ok(wh.isCharacterDevice() && wh.rdev === 0, 'whiteout is a 0:0 char device');
  const opq = await run('getfattr', ['--only-values', '-n', 'trusted.overlay.opaque', path.join(top, 'data/dir')]);
  assert.is(opq.stdout, 'y');
});

test('oci: layouts and oci-archive: tarballs pull offline', async ({ agent, dir }) => {
  const layout = path.join(dir.path, 'layout');
  const fromLayout = await agent.gantry('pull', `oci:${layout}:busybox`);
  assert.is(fromLayout.code, 0, fromLayout.stderr);
  const archive = path.join(dir.path, 'images.tar');
  assert.is((await run('tar', ['-C', layout, '-cf', archive, '.'])).code, 0);
  const fromArchive = await agent.gantry('pull', '--platform', 'linux/arm/v7', `oci-archive:${archive}:multiarch`);
  assert.is(fromArchive.code, 0, fromArchive.stderr);
  const refs = (await images(agent)).map((i) => i.ref);
  assert.ok(refs.includes(`oci:${layout}:busybox`));
  assert.ok(refs.includes(`oci-archive:${archive}:multiarch`));
  const missing = await agent.gantry('pull', `oci:${layout}:nope`);
  assert.is(missing.code, 1);
  assert.match(missing.stderr, /no image tagged nope; tags: busybox, layered, multiarch/);
});

test('rmi and prune free what nothing references', async ({ agent }) => {
  const before = await images(agent);
  for (const i of before) {
    const res = await agent.gantry('rmi', i.ref);
    assert.is(res.code, 0, res.stderr);
  }
  assert.equal(await images(agent), []);
  assert.equal(await readdir(path.join(agent.dataDir, 'images', 'blobs', 'sha256')), []);
  assert.equal(await readdir(snapshots(agent)), []);
  const again = await agent.gantry('rmi', 'nothing:here');
  assert.is(again.code, 1);
  assert.match(again.stderr, /no image nothing:here/);
  const prune = await agent.gantry('image', 'prune', '--json');
  assert.is(JSON.parse(prune.stdout).blobs, 0);
});

test('two pulls sharing a layer at once, on a fresh store, both succeed', async ({ registry, dir, images: built }) => {
  const config = await insecureRegistryConfig(dir.path, registry);
  const fresh = await startAgent({ config });
  try {
    const [a, b] = await Promise.all([
      fresh.gantry('pull', built.busybox?.ref as string),
      fresh.gantry('pull', built.layered?.ref as string),
    ]);
    assert.is(a.code, 0, a.stderr);
    assert.is(b.code, 0, b.stderr);
    assert.is((await images(fresh)).length, 2);
  } finally {
    await fresh.dispose();
  }
});

test.run();
