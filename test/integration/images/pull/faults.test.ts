import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import * as assert from 'uvu/assert';
import type { ImageSummary } from '../../../../agent/src/images/ports.js';
import { MediaType, OciLayoutWriter } from '../../../../scripts/lib/oci-layout.js';
import { buildLayerTar, type LayerEntry } from '../../../../scripts/lib/tar-layer.js';
import { REPO_ROOT, startAgent, type TestAgent } from '../../../helpers/agent.js';
import { hostSuite } from '../../../helpers/host-tools.js';
import { run } from '../../../helpers/processes.js';
import { type TempDir, tempDir } from '../../../helpers/tmp.js';

const { test } = hostSuite<{ dir: TempDir; agent: TestAgent }>('images: bad content and full disks fail cleanly', [
  'mount',
  'umount',
]);

test.before(async (ctx) => {
  ctx.dir = await tempDir('gantry-faults-');
  ctx.agent = await startAgent({ dataDir: path.join(ctx.dir.path, 'data') });
});
test.after(async (ctx) => {
  await ctx.agent?.dispose();
  await ctx.dir?.cleanup();
});

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const FILES: LayerEntry[] = [
  { type: 'dir', path: 'data' },
  { type: 'file', path: 'data/hello.txt', content: 'hello\n'.repeat(1000) },
];

/** Write a one-layer image whose manifest and config say whatever the case needs. */
async function craft(
  layoutDir: string,
  tag: string,
  o: { blob: Buffer; size?: number; diffId: string; mediaType?: string },
) {
  const layout = new OciLayoutWriter(layoutDir);
  await layout.init();
  const layer = await layout.writeBlob(o.blob, o.mediaType ?? MediaType.layerGzip);
  const config = await layout.writeJsonBlob(
    { architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: [o.diffId] } },
    MediaType.config,
  );
  const manifest = await layout.writeJsonBlob(
    { schemaVersion: 2, mediaType: MediaType.manifest, config, layers: [{ ...layer, size: o.size ?? layer.size }] },
    MediaType.manifest,
  );
  await layout.tag(tag, manifest);
  return `oci:${layoutDir}:${tag}`;
}

async function assertConsistent(agent: TestAgent): Promise<void> {
  const list = JSON.parse((await agent.gantry('images', '--json')).stdout) as ImageSummary[];
  assert.equal(list, [], 'no image recorded');
  const snaps = await readdir(path.join(agent.dataDir, 'images', 'snapshots'));
  assert.equal(snaps, [], 'no snapshot, finished or not');
  assert.is((await agent.gantry('image', 'prune')).code, 0);
  assert.equal(await readdir(path.join(agent.dataDir, 'images', 'blobs', 'sha256')), [], 'nothing left after prune');
}

test('a layer blob that does not match its digest', async ({ dir, agent }) => {
  const tar = await buildLayerTar(FILES);
  const blob = gzipSync(tar);
  const ref = await craft(path.join(dir.path, 'tampered'), 'x', { blob, diffId: sha(tar) });
  const file = path.join(dir.path, 'tampered', 'blobs', 'sha256', sha(blob).slice(7));
  const bytes = await readFile(file);
  bytes[bytes.length - 20] = (bytes[bytes.length - 20] ?? 0) ^ 0xff;
  await writeFile(file, bytes);
  const res = await agent.gantry('pull', ref);
  assert.is(res.code, 1);
  assert.match(
    res.stderr,
    new RegExp(
      `blob ${sha(blob)}: got ${blob.length} bytes hashing to sha256:[0-9a-f]{64}, expected ${blob.length} bytes`,
    ),
  );
  await assertConsistent(agent);
});

test('a descriptor size that is too small or too large', async ({ dir, agent }) => {
  const tar = await buildLayerTar(FILES);
  const blob = gzipSync(tar);
  const small = await craft(path.join(dir.path, 'small'), 'x', { blob, size: blob.length - 10, diffId: sha(tar) });
  const r1 = await agent.gantry('pull', small);
  assert.is(r1.code, 1);
  assert.match(r1.stderr, /is larger than its descriptor's \d+ bytes/);
  const large = await craft(path.join(dir.path, 'large'), 'x', { blob, size: blob.length + 10, diffId: sha(tar) });
  const r2 = await agent.gantry('pull', large);
  assert.is(r2.code, 1);
  assert.match(r2.stderr, new RegExp(`got ${blob.length} bytes .* expected ${blob.length + 10} bytes`));
  await assertConsistent(agent);
});

test('a truncated gzip layer and a wrong diff_id', async ({ dir, agent }) => {
  const tar = await buildLayerTar(FILES);
  const full = gzipSync(tar);
  const cut = full.subarray(0, Math.floor(full.length / 2));
  const truncated = await craft(path.join(dir.path, 'truncated'), 'x', { blob: cut, diffId: sha(tar) });
  const r1 = await agent.gantry('pull', truncated);
  assert.is(r1.code, 1);
  assert.match(r1.stderr, /gantry pull: .+/);
  const wrongDiff = await craft(path.join(dir.path, 'diffid'), 'x', { blob: full, diffId: `sha256:${'0'.repeat(64)}` });
  const r2 = await agent.gantry('pull', wrongDiff);
  assert.is(r2.code, 1);
  assert.match(r2.stderr, /sha256:0{64}/);
  await assertConsistent(agent);
});

test('one missing layer fails the pull with its own error, and the other layers are cleaned up', async ({
  dir,
  agent,
}) => {
  const layoutDir = path.join(dir.path, 'three');
  const layout = new OciLayoutWriter(layoutDir);
  await layout.init();
  const big = (n: number) => [{ type: 'file' as const, path: `f${n}.bin`, content: Buffer.alloc(4 << 20, n) }];
  const desc = await layout.writeImage({
    platform: { os: 'linux', architecture: 'amd64' },
    layers: [big(1), big(2), big(3)],
    config: {},
  });
  await layout.tag('x', desc);
  const manifest = JSON.parse(await readFile(path.join(layoutDir, 'blobs/sha256', desc.digest.slice(7)), 'utf8')) as {
    layers: Array<{ digest: string }>;
  };
  const gone = manifest.layers[1]?.digest as string;
  await rm(path.join(layoutDir, 'blobs/sha256', gone.slice(7)));
  const res = await agent.gantry('pull', `oci:${layoutDir}:x`);
  assert.is(res.code, 1);
  assert.match(res.stderr, new RegExp(`blob ${gone} is missing`));
  await assertConsistent(agent);
});

test('a full disk: a layer that unpacks past the free space fails, and the store stays consistent', async ({ dir }) => {
  const mnt = path.join(dir.path, 'small-disk');
  await mkdir(mnt);
  const mount = await run('mount', ['-t', 'tmpfs', '-o', 'size=24m', 'tmpfs', mnt]);
  assert.is(mount.code, 0, mount.stderr);
  let agent: TestAgent | undefined;
  try {
    // A profile that keeps only 1 MiB free, so the download passes the pre-check and the unpack hits the wall.
    const profile = JSON.parse(await readFile(path.join(REPO_ROOT, 'firmware-profiles/generic-x86_64.json'), 'utf8'));
    profile.storage.minFreeMiB = 1;
    const profileFile = path.join(dir.path, 'tiny-disk.json');
    await writeFile(profileFile, JSON.stringify(profile));
    agent = await startAgent({ dataDir: path.join(mnt, 'data'), profile: profileFile });
    // 64 MiB of zeros gzip to ~64 KiB: the download fits, the unpack cannot.
    const tar = await buildLayerTar([{ type: 'file', path: 'zeros.bin', content: Buffer.alloc(64 * 1024 * 1024) }]);
    const ref = await craft(path.join(dir.path, 'zeros'), 'x', { blob: gzipSync(tar, { level: 1 }), diffId: sha(tar) });
    const res = await agent.gantry('pull', ref);
    assert.is(res.code, 1);
    assert.match(
      res.stderr,
      /not enough disk space to unpack layer sha256:[0-9a-f]{64}: \d+ MiB free above the profile's minimum of 1 MiB/,
      res.stderr,
    );
    await assertConsistent(agent);
    const info = await agent.gantry('info', '--json');
    assert.is(info.code, 0, 'the agent survives');
  } finally {
    await agent?.dispose();
    await run('umount', ['-l', mnt]);
  }
});

test.run();
