import { lstat, mkdir, readdir, readFile, readlink } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import * as assert from 'uvu/assert';
import { isGantryError } from '../../../../agent/src/errors.js';
import { type UnpackOptions, type UnpackResult, unpackLayer } from '../../../../agent/src/images/unpack/index.js';
import { hostSuite } from '../../../helpers/host-tools.js';
import { withTimeout } from '../../../helpers/timeout.js';
import { type TempDir, tempDir } from '../../../helpers/tmp.js';
import {
  buildTar,
  FIXED,
  getXattr,
  gzip,
  MT,
  rawHeader,
  sha256,
  snapshot,
  source,
  type TarEntry,
  zstd,
} from './fixtures.js';

const { test } = hostSuite<{ dir: TempDir }>('unpack: layers onto the real filesystem', [
  'zstd',
  'setfattr',
  'getfattr',
]);

test.before.each(async (ctx) => {
  ctx.dir = await tempDir('gantry-unpack-');
});
test.after.each(async (ctx) => {
  await ctx.dir?.cleanup();
});

type Opts = Partial<Omit<UnpackOptions, 'source'>>;

async function unpack(blob: Buffer, target: string, opts: Opts = {}, chunk?: number): Promise<UnpackResult> {
  await mkdir(target, { recursive: true });
  return withTimeout(
    unpackLayer({ source: source(blob, chunk), mediaType: MT.tar, mode: 'overlay', target, ...opts }),
    20_000,
    `unpack into ${target}`,
  );
}

/** The rejection of `p`, which must be a GantryError of `kind` whose message matches `re`. */
async function rejects(p: Promise<unknown>, kind: string, re: RegExp): Promise<Error> {
  try {
    await withTimeout(p, 20_000, 'unpack to reject');
  } catch (e) {
    assert.ok(isGantryError(e), `expected a GantryError, got ${String(e)}`);
    assert.is(e.kind, kind, e.message);
    assert.match(e.message, re);
    return e;
  }
  throw assert.unreachable(`expected a rejection matching ${re}`);
}

const xattr = (p: string, name: string) => getXattr(p, name);

const longName = `deep/${'n'.repeat(120)}/${'m'.repeat(120)}.txt`;
const richLayer: TarEntry[] = [
  { name: './', type: 'directory', mode: 0o755 },
  { name: 'bin/', type: 'directory' },
  { name: 'bin/suid', content: '#!/bin/sh\n', mode: 0o4755, uid: 0, gid: 0 },
  { name: 'bin/sgid', content: 'g', mode: 0o2711, uid: 0, gid: 42 },
  { name: 'tmp/', type: 'directory', mode: 0o1777 },
  { name: 'home/', type: 'directory' },
  { name: 'home/app/', type: 'directory', mode: 0o750, uid: 1000, gid: 1000 },
  { name: 'home/app/secret', content: 'key', mode: 0o600, uid: 1000, gid: 1000 },
  { name: 'home/app/ro', content: 'ro', mode: 0o444, uid: 123, gid: 456 },
  {
    name: 'home/app/tagged',
    content: 'x',
    pax: { 'SCHILY.xattr.user.mime': 'text/plain', 'SCHILY.xattr.trusted.k': 'v=1' },
  },
  { name: 'home/app/link-rel', type: 'symlink', linkname: 'secret', uid: 1000, gid: 1000 },
  { name: 'home/app/link-abs', type: 'symlink', linkname: '/does/not/exist' },
  { name: 'home/app/hard', type: 'link', linkname: 'home/app/secret' },
  { name: 'deep/', type: 'directory' },
  { name: `deep/${'n'.repeat(120)}/`, type: 'directory' },
  { name: longName, content: 'long' },
  { name: 'ünï cødé\nname', content: 'weird' },
  { name: 'big.bin', content: Buffer.alloc(300_000, 7) },
];

test('gzip, zstd and plain layers unpack to the same tree, with the diff_id of the tar', async ({ dir }) => {
  const tar = await buildTar(richLayer);
  const blobs: Array<[string, Buffer]> = [
    [MT.tar, tar],
    [MT.gzip, gzip(tar)],
    [MT.zstd, await zstd(tar)],
  ];
  const trees = [];
  for (const [mediaType, blob] of blobs) {
    const target = path.join(dir.path, mediaType.replace(/\W/g, '_'));
    const r = await unpack(blob, target, { mediaType, expectedDiffId: sha256(tar) }, 1000);
    assert.is(r.diffId, sha256(tar), mediaType);
    assert.is(r.bytes, 10 + 1 + 3 + 2 + 1 + 4 + 5 + 300_000);
    assert.is(r.entries, richLayer.length);
    assert.equal(r.skipped, []);
    trees.push(await snapshot(target, { times: true }));
  }
  // ctime differs between runs; everything else (incl. mtimes) must not.
  const noCtime = (t: Record<string, { ctimeMs: number }>) =>
    Object.fromEntries(Object.entries(t).map(([k, v]) => [k, { ...v, ctimeMs: 0 }]));
  assert.equal(noCtime(trees[1] ?? {}), noCtime(trees[0] ?? {}), 'gzip = plain');
  assert.equal(noCtime(trees[2] ?? {}), noCtime(trees[0] ?? {}), 'zstd = plain');
});

test('modes, owners, times, links and xattrs are preserved', async ({ dir }) => {
  const root = path.join(dir.path, 'root');
  await unpack(await buildTar(richLayer), root);
  const st = async (p: string) => lstat(path.join(root, p));
  const fixedMs = FIXED.getTime();
  assert.is((await st('bin/suid')).mode & 0o7777, 0o4755, 'setuid survives chown');
  assert.is((await st('bin/sgid')).mode & 0o7777, 0o2711);
  assert.is((await st('bin/sgid')).gid, 42);
  assert.is((await st('tmp')).mode & 0o7777, 0o1777, 'sticky dir');
  const app = await st('home/app');
  assert.equal([app.mode & 0o7777, app.uid, app.gid], [0o750, 1000, 1000]);
  const ro = await st('home/app/ro');
  assert.equal([ro.mode & 0o7777, ro.uid, ro.gid], [0o444, 123, 456]);
  for (const p of ['bin/suid', 'home/app/secret', 'home/app/link-rel', 'home/app', 'bin', 'deep', '.']) {
    assert.is((await st(p)).mtimeMs, fixedMs, `mtime of ${p} (directories set last)`);
  }
  assert.is(await readlink(path.join(root, 'home/app/link-rel')), 'secret');
  assert.is((await st('home/app/link-rel')).uid, 1000, 'lchown on the symlink');
  assert.is(await readlink(path.join(root, 'home/app/link-abs')), '/does/not/exist');
  assert.is((await st('home/app/hard')).ino, (await st('home/app/secret')).ino, 'hardlink shares the inode');
  assert.is((await st('home/app/secret')).nlink, 2);
  assert.is(await readFile(path.join(root, longName), 'utf8'), 'long');
  assert.is(await readFile(path.join(root, 'ünï cødé\nname'), 'utf8'), 'weird');
  assert.is(await xattr(path.join(root, 'home/app/tagged'), 'user.mime'), 'text/plain');
  assert.is(await xattr(path.join(root, 'home/app/tagged'), 'trusted.k'), 'v=1');
});

test('overlay mode: a whiteout is a 0:0 char device, an opaque dir has trusted.overlay.opaque=y', async ({ dir }) => {
  const root = path.join(dir.path, 'snap');
  const r = await unpack(
    await buildTar([
      { name: 'etc/', type: 'directory' },
      { name: 'etc/.wh.motd', content: '' },
      { name: 'var/.wh..wh..opq', content: '' }, // before its directory entry, and no parent entry
      { name: 'var/', type: 'directory', mode: 0o711 },
      { name: 'var/kept', content: 'k' },
      { name: '.wh..wh.plnk', type: 'directory' }, // aufs bookkeeping: skipped
      { name: 'a/.wh.new', content: '' }, // whiteout of a file this layer makes later: replaced by it
      { name: 'a/new', content: 'new' },
    ]),
    root,
  );
  const wh = await lstat(path.join(root, 'etc/motd'));
  assert.ok(wh.isCharacterDevice(), 'whiteout device');
  assert.equal([wh.rdev, wh.uid, wh.gid], [0, 0, 0]);
  assert.equal(await readdir(path.join(root, 'etc')), ['motd'], 'no .wh. file left behind');
  assert.is(await xattr(path.join(root, 'var'), 'trusted.overlay.opaque'), 'y');
  assert.is((await lstat(path.join(root, 'var'))).mode & 0o7777, 0o711);
  assert.is(await readFile(path.join(root, 'a/new'), 'utf8'), 'new');
  assert.equal(r.skipped, [{ path: '/.wh..wh.plnk', reason: 'reserved whiteout name (aufs metadata)' }]);
});

test('flat mode: a stack of layers with whiteouts and opaque dirs', async ({ dir }) => {
  const root = path.join(dir.path, 'rootfs');
  const layers: TarEntry[][] = [
    [
      { name: 'data/', type: 'directory' },
      { name: 'data/keep', content: 'keep' },
      { name: 'data/gone', content: 'gone' },
      { name: 'data/tree/', type: 'directory' },
      { name: 'data/tree/leaf', content: 'leaf' },
      { name: 'opq/', type: 'directory' },
      { name: 'opq/old', content: 'old' },
      { name: 'opq/olddir/', type: 'directory' },
      { name: 'opq/olddir/x', content: 'x' },
      { name: 'link-to-data', type: 'symlink', linkname: '/data' },
    ],
    [
      { name: 'data/.wh.gone', content: '' },
      { name: 'data/.wh.tree', content: '' },
      { name: 'data/.wh.never-existed', content: '' },
      { name: 'opq/', type: 'directory' },
      { name: 'opq/new', content: 'new' }, // same layer as the opaque marker, before it: must survive
      { name: 'opq/.wh..wh..opq', content: '' },
      { name: '.wh.link-to-data', content: '' }, // removes the symlink, not what it points at
    ],
    [{ name: 'data/gone', content: 'back' }],
  ];
  for (const l of layers) await unpack(await buildTar(l), root, { mode: 'flat' });
  const tree = await snapshot(root);
  assert.equal(Object.keys(tree), ['.', 'data', 'data/gone', 'data/keep', 'opq', 'opq/new']);
  assert.is(await readFile(path.join(root, 'data/gone'), 'utf8'), 'back');
});

test('the diff_id is checked: a mismatch or a malformed expected value is refused', async ({ dir }) => {
  const tar = await buildTar([{ name: 'f', content: 'x' }]);
  const wrong = sha256('something else');
  await rejects(
    unpack(gzip(tar), path.join(dir.path, 'a'), { mediaType: MT.gzip, expectedDiffId: wrong }),
    'invalid',
    /diff_id mismatch: the uncompressed layer is sha256:[0-9a-f]{64}, the image config says sha256:/,
  );
  await rejects(
    unpack(tar, path.join(dir.path, 'b'), { expectedDiffId: 'md5:abc' }),
    'invalid',
    /expected diff_id "md5:abc" uses an unsupported algorithm/,
  );
});

test('maxBytes caps the unpacked file contents', async ({ dir }) => {
  const tar = await buildTar([
    { name: 'a', content: Buffer.alloc(600) },
    { name: 'b', content: Buffer.alloc(400) },
  ]);
  assert.is((await unpack(tar, path.join(dir.path, 'ok'), { maxBytes: 1000 })).bytes, 1000, 'exactly the cap is fine');
  await rejects(
    unpack(tar, path.join(dir.path, 'over'), { maxBytes: 999 }),
    'failed-precondition',
    /layer entry "b": unpacking it passes the 999-byte limit/,
  );
  await rejects(unpack(tar, path.join(dir.path, 'zero'), { maxBytes: 0 }), 'failed-precondition', /"a"/);
});

test('truncated or corrupt gzip, zstd and tar streams reject cleanly', async ({ dir }) => {
  const tar = await buildTar([
    { name: 'f', content: Buffer.alloc(100_000, 1) },
    { name: 'g', content: 'g' },
  ]);
  const gz = gzip(tar);
  const zs = await zstd(tar);
  const target = (n: string) => path.join(dir.path, n);
  await rejects(
    unpack(gz.subarray(0, gz.length - 30), target('gz-trunc'), { mediaType: MT.gzip }),
    'invalid',
    /gzip stream is corrupt or truncated: unexpected end of file/,
  );
  const gzBad = Buffer.from(gz);
  gzBad.fill(0x55, 40, 80);
  await rejects(unpack(gzBad, target('gz-bad'), { mediaType: MT.gzip }), 'invalid', /gzip stream is corrupt/);
  await rejects(
    unpack(zs.subarray(0, zs.length - 10), target('zs-trunc'), { mediaType: MT.zstd }),
    'invalid',
    /zstd stream is truncated/,
  );
  const zsBad = Buffer.from(zs);
  zsBad.fill(0xa5, 20, 60);
  await rejects(unpack(zsBad, target('zs-bad'), { mediaType: MT.zstd }), 'invalid', /zstd|not a valid tar/);
  await rejects(
    unpack(tar.subarray(0, 5000), target('tar-trunc')),
    'invalid',
    /layer is not a valid tar: Unexpected end of data/,
  );
  await rejects(
    unpack(Buffer.alloc(2048, 0x41), target('garbage')),
    'invalid',
    /layer is not a valid tar: Invalid tar header/,
  );
  await rejects(
    unpack(tar, target('gz-not'), { mediaType: MT.gzip }),
    'invalid',
    /gzip stream is corrupt or truncated: incorrect header check/,
  );
  await rejects(
    unpack(tar, target('zs-not'), { mediaType: MT.zstd }),
    'invalid',
    /zstd stream is corrupt: bad frame magic/,
  );
});

test('unknown media types, unsupported entry types and a missing target are refused', async ({ dir }) => {
  const tar = await buildTar([{ name: 'f', content: 'x' }]);
  await rejects(
    unpack(tar, path.join(dir.path, 'a'), { mediaType: 'application/vnd.oci.image.layer.v1.tar+bzip2' }),
    'invalid',
    /media type "application\/vnd.oci.image.layer.v1.tar\+bzip2" is not a layer type/,
  );
  await rejects(
    unpack(await buildTar([rawHeader('vol', 'V')]), path.join(dir.path, 'b')),
    'invalid',
    /layer entry "vol": unsupported entry type "unknown"/,
  );
  await rejects(
    withTimeout(
      unpackLayer({ source: source(tar), mediaType: MT.tar, mode: 'flat', target: path.join(dir.path, 'nope') }),
      5000,
      'unpack',
    ),
    'invalid',
    /unpack target .* does not exist/,
  );
});

test('device nodes and fifos are skipped unless allowed', async ({ dir }) => {
  const tar = await buildTar([
    { name: 'dev/', type: 'directory' },
    { name: 'dev/null', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666 },
    { name: 'dev/loop9', type: 'block-device', devmajor: 7, devminor: 9, mode: 0o660, gid: 6 },
    { name: 'run/', type: 'directory' },
    { name: 'run/pipe', type: 'fifo', mode: 0o620, uid: 5 },
  ]);
  const off = path.join(dir.path, 'off');
  const r = await unpack(tar, off);
  assert.equal(
    r.skipped.map((s) => s.path),
    ['/dev/null', '/dev/loop9', '/run/pipe'],
  );
  assert.equal(await readdir(path.join(off, 'dev')), []);
  const on = path.join(dir.path, 'on');
  assert.equal((await unpack(tar, on, { allowDeviceNodes: true })).skipped, []);
  const nul = await lstat(path.join(on, 'dev/null'));
  assert.ok(nul.isCharacterDevice());
  assert.equal([nul.rdev, nul.mode & 0o7777], [(1 << 8) | 3, 0o666]);
  const loop = await lstat(path.join(on, 'dev/loop9'));
  assert.ok(loop.isBlockDevice());
  assert.equal([loop.rdev, loop.mode & 0o7777, loop.gid], [(7 << 8) | 9, 0o660, 6]);
  const fifo = await lstat(path.join(on, 'run/pipe'));
  assert.ok(fifo.isFIFO());
  assert.equal([fifo.mode & 0o7777, fifo.uid], [0o620, 5]);
});

test('xattrs the filesystem refuses, and overlayfs xattrs, are recorded in skipped', async ({ dir }) => {
  const root = path.join(dir.path, 'r');
  const r = await unpack(
    await buildTar([
      // Linux refuses user.* xattrs on symlinks (EPERM): recorded, not fatal.
      {
        name: 'l',
        type: 'symlink',
        linkname: 't',
        pax: { 'SCHILY.xattr.user.x': '1', 'SCHILY.xattr.trusted.ok': '2' },
      },
      { name: 'f', content: 'f', pax: { 'SCHILY.xattr.trusted.overlay.redirect': '/etc' } },
    ]),
    root,
  );
  assert.equal(r.skipped, [
    { path: '/f', reason: 'xattr trusted.overlay.redirect: overlayfs xattrs are not taken from layers' },
    {
      path: '/l',
      reason: `xattr user.x refused by the filesystem: setfattr: ${path.join(root, 'l')}: Operation not permitted`,
    },
  ]);
  assert.is(await xattr(path.join(root, 'l'), 'trusted.ok'), '2', 'the other xattr of the symlink is set');
  assert.is(await xattr(path.join(root, 'f'), 'trusted.overlay.redirect'), '');
});

test('an abort signal stops an unpack promptly, also while waiting for data', async ({ dir }) => {
  const aborted = new AbortController();
  aborted.abort();
  const target = path.join(dir.path, 'a');
  await mkdir(target);
  const src = source(await buildTar([{ name: 'f', content: 'x' }]));
  await withTimeout(
    unpackLayer({ source: src, mediaType: MT.tar, mode: 'flat', target, signal: aborted.signal }).then(
      () => assert.unreachable('resolved'),
      (e: unknown) => assert.is((e as Error).name, 'AbortError'),
    ),
    5000,
    'pre-aborted unpack',
  );
  // A source that sends one entry's header and then stalls forever.
  const head = (await buildTar([{ name: 'slow', content: Buffer.alloc(10_000) }])).subarray(0, 1024);
  const stalled = new Readable({ read() {} });
  stalled.push(head);
  const ctl = new AbortController();
  setTimeout(() => ctl.abort(), 100);
  await withTimeout(
    unpackLayer({ source: stalled, mediaType: MT.tar, mode: 'flat', target, signal: ctl.signal }).then(
      () => assert.unreachable('resolved'),
      (e: unknown) => assert.is((e as Error).name, 'AbortError'),
    ),
    5000,
    'aborted unpack',
  );
  assert.ok(stalled.destroyed, 'the source is destroyed');
});

test('a source that fails is an internal error, not a hang', async ({ dir }) => {
  const target = path.join(dir.path, 'a');
  await mkdir(target);
  const failing = new Readable({
    read() {
      this.destroy(new Error('disk on fire'));
    },
  });
  await rejects(
    unpackLayer({ source: failing, mediaType: MT.gzip, mode: 'flat', target }),
    'internal',
    /reading the layer blob failed: disk on fire/,
  );
});

test.run();
