import { link, lstat, readFile, symlink } from 'node:fs/promises';
import path from 'node:path';
import * as assert from 'uvu/assert';
import type { UnpackResult } from '../../../../agent/src/images/unpack/index.js';
import type { TarEntry } from './fixtures.js';

/**
 * The malicious-layer table (run by malicious-layers.test.ts), part 1:
 * names that climb out or are absolute, symlinks that point out (directly,
 * chained, swapped in mid-layer, from a lower layer) and hardlinks that
 * reach out. Part 2 (malicious-cases-whiteouts.ts): whiteouts, one type
 * replacing another, devices, xattrs and odd headers.
 */

export type Mode = 'overlay' | 'flat';
export type Expect = 'error' | 'neutralised';

export interface Ctx {
  tmp: string;
  root: string;
  victim: string;
  /** An absolute path under /tmp that must never come to exist. */
  evil: string;
  mode: Mode;
}

export interface Case {
  name: string;
  entries: (c: Ctx) => Array<TarEntry | Buffer>;
  expect: Expect | Record<Mode, Expect>;
  /** For errors: what the message must say. */
  match?: RegExp;
  /** Lower-layer content already in the root (flat mode's rootfs; also used in overlay mode). */
  prepare?: (c: Ctx) => Promise<void>;
  /** Extra checks after a neutralised unpack. */
  check?: (c: Ctx, r: UnpackResult) => Promise<void>;
  /** Compare the victim without link counts and ctimes (a case that must unlink a shared inode). */
  looseInode?: boolean;
}

export const file = (name: string, content = 'pwned\n', extra: Partial<TarEntry> = {}): TarEntry => ({
  name,
  content,
  ...extra,
});
export const dir = (name: string, extra: Partial<TarEntry> = {}): TarEntry => ({ name, type: 'directory', ...extra });
export const sym = (name: string, linkname: string, extra: Partial<TarEntry> = {}): TarEntry => ({
  name,
  type: 'symlink',
  linkname,
  ...extra,
});
export const hard = (name: string, linkname: string): TarEntry => ({ name, type: 'link', linkname });
export const wh = (name: string): TarEntry => ({ name, content: '' });
/** Where an absolute path lands when it is (rightly) read relative to the root. */
export const under = (c: Ctx, abs: string) => path.join(c.root, abs);
export const readIn = (c: Ctx, rel: string) => readFile(path.join(c.root, rel), 'utf8');

export const ESCAPES = /path escapes the layer root/;

export const NAME_AND_LINK_CASES: Case[] = [
  // --- names ---------------------------------------------------------------------------------
  {
    name: '".." file into the sibling victim',
    entries: () => [file('../victim/secret.txt')],
    expect: 'error',
    match: /layer entry "..\/victim\/secret.txt": path escapes the layer root/,
  },
  {
    name: '".." after a real directory',
    entries: () => [dir('a/'), file('a/../../victim/new')],
    expect: 'error',
    match: ESCAPES,
  },
  {
    name: '".." chain to an absolute location',
    entries: (c) => [file(`${'../'.repeat(12)}${c.evil.slice(1)}`)],
    expect: 'error',
    match: ESCAPES,
  },
  {
    name: '".." directory entry with mode 0777',
    entries: () => [dir('../victim/', { mode: 0o777, uid: 4242 })],
    expect: 'error',
    match: ESCAPES,
  },
  { name: '".." symlink entry', entries: () => [sym('../victim/l', '/etc/passwd')], expect: 'error', match: ESCAPES },
  {
    name: 'absolute file name outside',
    entries: (c) => [file(c.evil)],
    expect: 'neutralised',
    check: async (c) => assert.is(await readFile(under(c, c.evil), 'utf8'), 'pwned\n'),
  },
  {
    name: "absolute name of the victim's file",
    entries: (c) => [file(`${c.victim}/secret.txt`, 'pwned', { mode: 0o777 })],
    expect: 'neutralised',
    check: async (c) => assert.is(await readFile(under(c, `${c.victim}/secret.txt`), 'utf8'), 'pwned'),
  },
  {
    name: 'absolute directory name with owner and mode',
    entries: (c) => [dir(`${c.victim}/`, { mode: 0o777, uid: 4242 })],
    expect: 'neutralised',
  },
  {
    name: 'NUL byte in a PAX path',
    entries: () => [file('ok', 'x', { pax: { path: 'ok\u0000/../../victim/x' } })],
    expect: 'error',
    match: /NUL/,
  },
  {
    name: 'PAX path of 6000 bytes',
    entries: () => [file('x', 'x', { pax: { path: 'a/'.repeat(3000) } })],
    expect: 'error',
    match: /longer than 4095 bytes/,
  },
  {
    name: 'path component of 300 bytes',
    entries: () => [file(`d/${'x'.repeat(300)}`)],
    expect: 'error',
    match: /longer than 255 bytes/,
  },
  {
    name: 'weird but NUL-free names stay inside',
    entries: () =>
      ['new\nline', 'back\\slash', '-rf', ' ', '...', 'ünï', '$(touch x)', '.wh', '*'].map((n) => file(n, n)),
    expect: 'neutralised',
    check: async (c) => {
      for (const n of ['new\nline', 'back\\slash', '-rf', ' ', '...', 'ünï', '$(touch x)', '.wh', '*'])
        assert.is(await readIn(c, n), n);
    },
  },
  {
    name: 'the root as a regular file',
    entries: () => [file('.', 'x')],
    expect: 'error',
    match: /layer entry ".": the layer root cannot be replaced by a file/,
  },
  {
    name: 'the root as a symlink out',
    entries: (c) => [sym('/', c.victim)],
    expect: 'error',
    match: /root cannot be replaced by a symlink/,
  },
  {
    name: '"./" as a symlink out',
    entries: (c) => [sym('./', c.victim)],
    expect: 'error',
    match: /root cannot be replaced by a symlink/,
  },
  {
    name: 'the root as a hardlink',
    entries: () => [file('x'), hard('./', 'x')],
    expect: 'error',
    match: /root cannot be replaced by a link/,
  },
  // --- symlinks ------------------------------------------------------------------------------
  {
    name: 'absolute symlink out, then files through it',
    entries: (c) => [sym('esc', c.victim), file('esc/secret.txt'), file('esc/new')],
    expect: 'neutralised',
    check: async (c) => assert.is(await readFile(under(c, `${c.victim}/secret.txt`), 'utf8'), 'pwned\n'),
  },
  {
    name: 'relative symlink out, then a file through it',
    entries: () => [sym('esc', '../victim'), file('esc/secret.txt')],
    expect: 'neutralised',
    check: async (c) => assert.is(await readIn(c, 'victim/secret.txt'), 'pwned\n'),
  },
  {
    name: 'deep relative symlink with too many ".."',
    entries: () => [
      dir('a/'),
      dir('a/b/'),
      dir('a/b/c/'),
      sym('a/b/c/esc', `${'../'.repeat(9)}victim`),
      file('a/b/c/esc/secret.txt'),
    ],
    expect: 'neutralised',
    check: async (c) => assert.is(await readIn(c, 'victim/secret.txt'), 'pwned\n'),
  },
  {
    name: 'symlink chain of three hops out',
    entries: (c) => [sym('l1', 'l2'), sym('l2', 'sub/../l3'), sym('l3', c.victim), file('l1/secret.txt')],
    expect: 'neutralised',
    check: async (c) => assert.is(await readFile(under(c, `${c.victim}/secret.txt`), 'utf8'), 'pwned\n'),
  },
  {
    name: "symlink to the victim's file, then a file of that name",
    entries: (c) => [sym('passwd', `${c.victim}/secret.txt`), file('passwd', 'pwned', { mode: 0o777 })],
    expect: 'neutralised',
    check: async (c) => {
      assert.ok((await lstat(path.join(c.root, 'passwd'))).isFile(), 'the symlink was replaced, not followed');
      assert.is(await readIn(c, 'passwd'), 'pwned');
    },
  },
  {
    name: 'symlink loop',
    entries: () => [sym('loop', 'loop'), file('loop/x')],
    expect: 'error',
    match: /too many levels of symbolic links/,
  },
  {
    name: 'two-symlink loop',
    entries: () => [sym('a', 'b'), sym('b', 'a'), file('a/x')],
    expect: 'error',
    match: /too many levels/,
  },
  {
    name: 'directory replaced by a symlink mid-layer, then a file written through it',
    entries: (c) => [dir('d/'), file('d/a', 'a'), sym('d', c.victim), file('d/secret.txt')],
    expect: 'neutralised',
    check: async (c) => assert.is(await readFile(under(c, `${c.victim}/secret.txt`), 'utf8'), 'pwned\n'),
  },
  {
    name: 'symlink out, then a directory entry with mode and owner at its name',
    entries: (c) => [sym('x', c.victim), dir('x/', { mode: 0o777, uid: 4321 })],
    expect: 'neutralised',
    check: async (c) => assert.ok((await lstat(path.join(c.root, 'x'))).isDirectory()),
  },
  {
    name: 'symlink to ".." used as a ladder',
    entries: () => [sym('up', '..'), file('up/up/up/escaped')],
    expect: 'neutralised',
    check: async (c) => assert.is(await readIn(c, 'escaped'), 'pwned\n'),
  },
  {
    name: 'symlink out carrying a PAX xattr',
    entries: (c) => [sym('s', `${c.victim}/secret.txt`, { pax: { 'SCHILY.xattr.trusted.evil': '1' } })],
    expect: 'neutralised',
  },
  {
    name: 'directory with xattr and mtime, then replaced by a symlink out',
    entries: (c) => [dir('d/', { pax: { 'SCHILY.xattr.trusted.evil': '1' }, mtime: new Date(0) }), sym('d', c.victim)],
    expect: 'neutralised',
  },
  {
    name: 'files written through a symlink from a lower layer',
    prepare: async (c) => symlink(c.victim, path.join(c.root, 'lib')),
    entries: () => [file('lib/secret.txt'), file('lib/new'), dir('lib/sub/', { mode: 0o777 })],
    expect: 'neutralised',
  },
  // --- hardlinks -----------------------------------------------------------------------------
  {
    name: 'hardlink with a ".." target',
    entries: () => [hard('h', '../victim/secret.txt')],
    expect: 'error',
    match: /layer entry "h": hardlink target "..\/victim\/secret.txt": path escapes/,
  },
  {
    name: 'hardlink to an absolute path outside',
    entries: (c) => [hard('h', `${c.victim}/secret.txt`)],
    expect: 'error',
    match: /does not exist in the layer root/,
  },
  {
    name: 'hardlink through a symlinked parent',
    entries: (c) => [sym('s', c.victim), hard('h', 's/secret.txt')],
    expect: 'error',
    match: /does not exist in the layer root/,
  },
  {
    name: 'hardlink to a symlink that points out, then a file at the link',
    entries: (c) => [sym('s', `${c.victim}/secret.txt`), hard('h', 's'), file('h')],
    expect: 'neutralised',
    check: async (c) => {
      assert.ok((await lstat(path.join(c.root, 'h'))).isFile());
      assert.ok((await lstat(path.join(c.root, 's'))).isSymbolicLink());
    },
  },
  {
    name: 'hardlink to a symlink that points out, then a file through the link',
    entries: (c) => [sym('s', c.victim), hard('h', 's'), file('h/secret.txt')],
    expect: 'neutralised',
    check: async (c) => assert.is(await readFile(under(c, `${c.victim}/secret.txt`), 'utf8'), 'pwned\n'),
  },
  {
    name: 'hardlink to a target that comes later',
    entries: () => [hard('h', 'later'), file('later')],
    expect: 'error',
    match: /hardlink target "later" does not exist/,
  },
  {
    name: 'hardlink to a directory',
    entries: () => [dir('d/'), hard('h', 'd')],
    expect: 'error',
    match: /is a directory/,
  },
  {
    name: 'hardlink to itself',
    entries: () => [file('h'), hard('h', 'h')],
    expect: 'error',
    match: /hardlink to itself/,
  },
  {
    name: 'hardlink to the root',
    entries: () => [hard('h', '.')],
    expect: 'error',
    match: /hardlink to the layer root/,
  },
  {
    name: 'rootfs file sharing its inode with an outside file is replaced, not written into',
    prepare: async (c) => link(path.join(c.victim, 'secret.txt'), path.join(c.root, 'shared')),
    entries: () => [file('shared', 'pwned', { mode: 0o777, uid: 99 })],
    expect: 'neutralised',
    looseInode: true,
  },
];
