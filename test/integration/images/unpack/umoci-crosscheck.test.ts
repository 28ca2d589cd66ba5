import { createReadStream } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import * as assert from 'uvu/assert';
import { unpackLayer } from '../../../../agent/src/images/unpack/index.js';
import { type Descriptor, OciLayoutWriter, readBlob } from '../../../../scripts/lib/oci-layout.js';
import type { LayerEntry } from '../../../../scripts/lib/tar-layer.js';
import { hostSuite } from '../../../helpers/host-tools.js';
import { run } from '../../../helpers/processes.js';
import { withTimeout } from '../../../helpers/timeout.js';
import { type TempDir, tempDir } from '../../../helpers/tmp.js';
import { snapshot } from './fixtures.js';

/**
 * An independent oracle: umoci (the OCI reference tooling) unpacks a layered
 * image, and our unpacker applies the same layers in flat mode onto an empty
 * dir; the trees must agree on paths, types, modes, owners, link targets,
 * link counts and contents. Then the same layers unpacked in overlay mode
 * and mounted with the kernel's overlayfs must show that tree too.
 */

const { test } = hostSuite<{ dir: TempDir }>('unpack: agrees with umoci and with overlayfs', [
  'umoci',
  'mount',
  'umount',
]);

test.before.each(async (ctx) => {
  ctx.dir = await tempDir('gantry-umoci-');
});
test.after.each(async (ctx) => {
  await ctx.dir?.cleanup();
});

const d = (p: string, mode = 0o755, uid = 0, gid = 0): LayerEntry => ({ type: 'dir', path: p, mode, uid, gid });
const f = (p: string, content: string, mode = 0o644, uid = 0, gid = 0): LayerEntry => ({
  type: 'file',
  path: p,
  content,
  mode,
  uid,
  gid,
});
const wh = (p: string): LayerEntry => ({ type: 'file', path: p, content: '' });

/** Parent directories keep the same metadata in every layer, so overlay and flat agree on them. */
const DIRS = {
  etc: d('etc'),
  bin: d('bin'),
  data: d('data', 0o751, 0, 10),
  opq: d('data/opq', 0o711),
  home: d('home'),
  srv: d('srv', 0o2775, 0, 50),
};

const LAYERS: LayerEntry[][] = [
  [
    ...Object.values(DIRS),
    d('tmp', 0o1777),
    d('data/dir'),
    d('data/opq/sub', 0o700, 5, 5),
    d('home/app', 0o750, 1000, 1000),
    f('etc/passwd', 'root:x:0:0::/root:/bin/sh\n'),
    f('bin/tool', '#!/bin/sh\necho tool\n', 0o4755),
    f('bin/ro', 'read only\n', 0o444, 123, 456),
    f('bin/sgid', 'g\n', 0o2711, 0, 42),
    f('data/keep', 'keep\n'),
    f('data/remove-me', 'remove me\n'),
    f('data/dir/old', 'old\n'),
    f('data/opq/a', 'a\n'),
    f('data/opq/sub/b', 'b\n'),
    f('home/app/secret', 'key\n', 0o600, 1000, 1000),
    f('srv/x', 'x\n', 0o664, 0, 50),
    { type: 'symlink', path: 'bin/sh', target: 'tool' },
    { type: 'symlink', path: 'data/abs-link', target: '/etc/passwd' },
    { type: 'symlink', path: 'data/dangling', target: '../nowhere' },
    { type: 'hardlink', path: 'bin/tool-hard', target: 'bin/tool' },
  ],
  [
    DIRS.etc,
    DIRS.bin,
    DIRS.data,
    DIRS.opq,
    wh('data/.wh.remove-me'),
    wh('data/.wh.dir'),
    wh('bin/.wh.sh'),
    wh('data/opq/.wh..wh..opq'),
    f('data/opq/new', 'new\n', 0o640, 7, 8),
    f('etc/passwd', 'root:x:0:0::/root:/bin/ash\n'),
    { type: 'symlink', path: 'data/keep', target: 'opq/new' },
    d('bin/ro', 0o700, 9, 9),
    { type: 'hardlink', path: 'data/hl', target: 'etc/passwd' },
  ],
  [
    DIRS.data,
    DIRS.opq,
    wh('data/opq/.wh.new'),
    f('data/opq/newer', 'newer\n', 0o600, 3, 3),
    f('srv', 'srv is a file now\n', 0o600),
    d('data/dir', 0o705),
    f('data/dir/again', 'again\n'),
    { type: 'symlink', path: 'etc/localtime', target: '/usr/share/zoneinfo/UTC' },
  ],
];

async function writeLayered(layout: string): Promise<Descriptor[]> {
  const w = new OciLayoutWriter(layout);
  await w.init();
  const manifest = await w.writeImage({
    platform: { os: 'linux', architecture: 'amd64' },
    layers: LAYERS,
    config: { Cmd: ['/bin/sh'] },
  });
  await w.tag('layered', manifest);
  const m = JSON.parse((await readBlob(layout, manifest.digest)).toString()) as { layers: Descriptor[] };
  return m.layers;
}

async function applyAll(layout: string, layers: Descriptor[], target: (i: number) => string, mode: 'flat' | 'overlay') {
  for (const [i, layer] of layers.entries()) {
    const dir = target(i);
    await mkdir(dir, { recursive: true, mode: 0o755 });
    const blob = path.join(layout, 'blobs/sha256', layer.digest.slice(7));
    await withTimeout(
      unpackLayer({ source: createReadStream(blob), mediaType: layer.mediaType, target: dir, mode }),
      20_000,
      `unpack layer ${i}`,
    );
  }
}

/** A tree without its root entry (the two tools make the root dir differently). */
async function tree(dir: string) {
  const { '.': _root, ...rest } = await snapshot(dir);
  return rest;
}

test('a layered image unpacks to the same tree as umoci unpack', async ({ dir }) => {
  const layout = path.join(dir.path, 'layout');
  const layers = await writeLayered(layout);
  const bundle = path.join(dir.path, 'bundle');
  const u = await run('umoci', ['unpack', '--image', `${layout}:layered`, bundle], { timeoutMs: 60_000 });
  assert.is(u.code, 0, u.stderr);
  const flat = path.join(dir.path, 'flat');
  await applyAll(layout, layers, () => flat, 'flat');
  const ours = await tree(flat);
  const theirs = await tree(path.join(bundle, 'rootfs'));
  assert.equal(Object.keys(ours), Object.keys(theirs), 'same paths');
  assert.equal(ours, theirs, 'same types, modes, owners, link targets, link counts and contents');
  // And the tree is what the layers say, not merely what both tools happen to do.
  assert.equal(
    Object.keys(ours).filter((p) => p.startsWith('data/opq/')),
    ['data/opq/newer'],
  );
  assert.equal(
    Object.keys(ours).filter((p) => p.startsWith('data/dir/')),
    ['data/dir/again'],
  );
  assert.is(ours.srv?.type, 'file');
  assert.is(ours['bin/ro']?.type, 'dir');
  assert.is(ours['bin/sh'], undefined);
  assert.is(ours['bin/tool']?.mode, 0o4755);
  assert.is(ours['data/hl']?.nlink, 2);
  assert.is(await readFile(path.join(flat, 'data/hl'), 'utf8'), 'root:x:0:0::/root:/bin/ash\n');
});

test('overlay-mode snapshots mounted with overlayfs show the same tree', async ({ dir }) => {
  const layout = path.join(dir.path, 'layout');
  const layers = await writeLayered(layout);
  const flat = path.join(dir.path, 'flat');
  await applyAll(layout, layers, () => flat, 'flat');
  const snap = (i: number) => path.join(dir.path, 'snapshots', String(i));
  await applyAll(layout, layers, snap, 'overlay');
  const mnt = path.join(dir.path, 'mnt');
  await mkdir(mnt);
  // lowerdir lists the top layer first (kernel Documentation/filesystems/overlayfs.rst).
  const lower = layers
    .map((_, i) => snap(i))
    .reverse()
    .join(':');
  const m = await run('mount', ['-t', 'overlay', 'overlay', '-o', `ro,lowerdir=${lower}`, mnt], { timeoutMs: 10_000 });
  assert.is(m.code, 0, `mount -t overlay: ${m.stderr}`);
  try {
    assert.equal(await tree(mnt), await tree(flat));
  } finally {
    await run('umount', [mnt], { timeoutMs: 10_000 });
  }
});

test.run();
