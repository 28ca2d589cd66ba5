import { lstat, mkdir, readdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import * as assert from 'uvu/assert';
import { getXattr, rawHeader } from './fixtures.js';
import { type Case, dir, ESCAPES, file, readIn, sym, wh } from './malicious-cases.js';

/** The malicious-layer table, part 2: whiteouts, one type replacing another, devices, xattrs, odd headers. */
export const WHITEOUT_AND_TYPE_CASES: Case[] = [
  // --- whiteouts -----------------------------------------------------------------------------
  { name: 'whiteout of ".."', entries: () => [wh('.wh...')], expect: 'error', match: /whiteout names ".."/ },
  {
    name: 'whiteout of ".." in a subdirectory',
    entries: () => [dir('a/'), wh('a/.wh...')],
    expect: 'error',
    match: /whiteout names ".."/,
  },
  { name: 'whiteout of "."', entries: () => [wh('a/.wh..')], expect: 'error', match: /whiteout names "."/ },
  { name: 'whiteout of the root itself', entries: () => [wh('.wh..')], expect: 'error', match: /whiteout names "."/ },
  {
    name: 'opaque marker whose parent is a file',
    entries: () => [file('f'), wh('f/.wh..wh..opq')],
    expect: { overlay: 'error', flat: 'neutralised' },
    match: /parent "f" is not a directory/,
  },
  { name: 'whiteout of nothing', entries: () => [wh('.wh.')], expect: 'error', match: /whiteout names ""/ },
  {
    name: 'whiteout climbing out with ".."',
    entries: () => [wh('a/../../.wh.victim')],
    expect: 'error',
    match: ESCAPES,
  },
  {
    name: 'whiteout through an absolute symlink out',
    entries: (c) => [sym('s', c.victim), wh('s/.wh.secret.txt'), wh('s/sub/.wh.inner.txt')],
    expect: 'neutralised',
  },
  {
    name: 'whiteout through a relative symlink from a lower layer',
    prepare: async (c) => symlink('../victim', path.join(c.root, 's')),
    entries: () => [wh('s/.wh.secret.txt'), wh('s/.wh.sub')],
    expect: 'neutralised',
  },
  {
    name: 'whiteout of a lower-layer symlink to the victim removes only the symlink',
    prepare: async (c) => symlink(c.victim, path.join(c.root, 's')),
    entries: () => [wh('.wh.s')],
    expect: 'neutralised',
    check: async (c) => {
      const st = await lstat(path.join(c.root, 's')).catch(() => undefined);
      if (c.mode === 'flat') assert.is(st, undefined);
      else assert.ok(st?.isCharacterDevice() && st.rdev === 0);
    },
  },
  {
    name: 'opaque marker under a lower-layer symlink out',
    prepare: async (c) => symlink(c.victim, path.join(c.root, 's')),
    entries: () => [wh('s/.wh..wh..opq')],
    expect: 'neutralised',
  },
  {
    name: 'opaque root whose lower children are symlinks out',
    prepare: async (c) => {
      await symlink(c.victim, path.join(c.root, 'ln'));
      await mkdir(path.join(c.root, 'd'));
      await symlink(path.join(c.victim, 'secret.txt'), path.join(c.root, 'd/ln2'));
      await writeFile(path.join(c.root, 'f'), 'lower');
    },
    entries: () => [wh('.wh..wh..opq'), file('new', 'new')],
    expect: 'neutralised',
    check: async (c) => {
      const left = (await readdir(c.root)).sort();
      if (c.mode === 'flat') assert.equal(left, ['new']);
      else assert.is(await getXattr(c.root, 'trusted.overlay.opaque'), 'y');
    },
  },
  {
    name: 'opaque marker used as a directory',
    entries: () => [dir('.wh..wh..opq/'), file('.wh..wh..opq/x')],
    expect: 'error',
    match: /whiteout name ".wh..wh..opq" used as a directory/,
  },
  {
    name: 'entry below a whiteout name',
    entries: () => [file('.wh.etc/passwd')],
    expect: 'error',
    match: /used as a directory/,
  },
  {
    name: 'whiteout whose parent is a file',
    entries: () => [file('f'), wh('f/.wh.x')],
    expect: { overlay: 'error', flat: 'neutralised' },
    match: /parent "f" is not a directory/,
  },
  // --- one type replacing another ----------------------------------------------------------
  {
    name: 'file replaces a directory holding symlinks out',
    entries: (c) => [
      dir('d/'),
      sym('d/ln', c.victim),
      dir('d/sub/'),
      sym('d/sub/ln2', `${c.victim}/secret.txt`),
      file('d'),
    ],
    expect: 'neutralised',
    check: async (c) => assert.ok((await lstat(path.join(c.root, 'd'))).isFile()),
  },
  {
    name: 'file replaces a lower-layer directory of symlinks out',
    prepare: async (c) => {
      await mkdir(path.join(c.root, 'etc'));
      await symlink(c.victim, path.join(c.root, 'etc/v'));
      await symlink(`${c.victim}/secret.txt`, path.join(c.root, 'etc/s'));
    },
    entries: () => [file('etc', 'now a file')],
    expect: 'neutralised',
  },
  {
    name: 'directory replaces a file',
    entries: () => [file('x'), dir('x/', { mode: 0o700 }), file('x/y')],
    expect: 'neutralised',
    check: async (c) => assert.is(await readIn(c, 'x/y'), 'pwned\n'),
  },
  {
    name: 'entry whose parent is a file',
    entries: () => [file('f'), file('f/x')],
    expect: 'error',
    match: /layer entry "f\/x": parent "f" is not a directory/,
  },
  {
    name: 'entry whose parent is a symlink to a file outside',
    entries: (c) => [sym('s', `${c.victim}/secret.txt`), file('s/x')],
    expect: 'neutralised',
  },
  // --- devices, xattrs, odd headers ----------------------------------------------------------
  {
    name: 'device nodes are skipped by default',
    entries: () => [
      dir('dev/'),
      { name: 'dev/sda', type: 'block-device', devmajor: 8, devminor: 0 },
      { name: 'dev/mem', type: 'character-device', devmajor: 1, devminor: 1 },
      { name: 'etc.wh', type: 'character-device', devmajor: 0, devminor: 0 },
      { name: 'p', type: 'fifo' },
    ],
    expect: 'neutralised',
    check: async (c, r) => {
      assert.equal(
        r.skipped.map((s) => s.path),
        ['/dev/sda', '/dev/mem', '/etc.wh', '/p'],
      );
      assert.equal(await readdir(path.join(c.root, 'dev')), []);
    },
  },
  {
    name: 'overlayfs xattrs smuggled in PAX records',
    entries: (c) => [
      dir('d/', { pax: { 'SCHILY.xattr.trusted.overlay.opaque': 'y' } }),
      file('f', 'x', {
        pax: { 'SCHILY.xattr.trusted.overlay.redirect': c.victim, 'SCHILY.xattr.user.overlay.origin': 'x' },
      }),
    ],
    expect: 'neutralised',
    check: async (c, r) => {
      assert.is(r.skipped.length, 3);
      assert.is(await getXattr(path.join(c.root, 'd'), 'trusted.overlay.opaque'), '');
      assert.is(await getXattr(path.join(c.root, 'f'), 'trusted.overlay.redirect'), '');
    },
  },
  {
    name: 'unknown typeflag (GNU sparse)',
    entries: () => [rawHeader('sparse', 'S')],
    expect: 'error',
    match: /unsupported entry type/,
  },
  {
    name: 'garbage header after a valid entry',
    entries: () => [file('ok'), Buffer.alloc(512, 0x7a)],
    expect: 'error',
    match: /not a valid tar/,
  },
  {
    name: 'symlink with an empty target',
    entries: () => [sym('s', '')],
    expect: 'error',
    match: /symlink with an empty target/,
  },
];
