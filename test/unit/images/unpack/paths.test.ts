import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { isGantryError } from '../../../../agent/src/errors.js';
import {
  ancestorKeys,
  classifyEntry,
  entryError,
  isSameOrBelow,
  normaliseName,
  splitLinkTarget,
} from '../../../../agent/src/images/unpack/paths.js';

const test = suite('unpack: entry names');

const parts = (name: string) => {
  const n = normaliseName(name);
  if (!n.ok) throw new Error(`${name}: ${n.problem}`);
  return n.parts;
};
const problem = (name: string) => {
  const n = normaliseName(name);
  return n.ok ? undefined : n.problem;
};

test('ordinary names become components', () => {
  assert.equal(parts('usr/bin/env'), ['usr', 'bin', 'env']);
  assert.equal(parts('./usr/bin/'), ['usr', 'bin']);
  assert.equal(parts('usr//lib/./x'), ['usr', 'lib', 'x']);
});

test('the root itself is the empty list, however it is spelled', () => {
  for (const n of ['.', './', '/', '//', './.', 'a/..']) assert.equal(parts(n), [], n);
});

test('absolute names are relative to the layer root', () => {
  assert.equal(parts('/etc/passwd'), ['etc', 'passwd']);
  assert.equal(parts('//etc//passwd'), ['etc', 'passwd']);
});

test('".." inside the root is resolved lexically; climbing out is refused', () => {
  assert.equal(parts('a/b/../c'), ['a', 'c']);
  assert.equal(parts('a/../b'), ['b']);
  for (const n of ['..', '../etc/passwd', '../../etc/passwd', 'a/../../b', '/../x', './..', 'a/b/../../../c']) {
    assert.is(problem(n), 'path escapes the layer root', n);
  }
});

test('empty names, NUL bytes and overlong names are refused', () => {
  assert.is(problem(''), 'empty path');
  assert.match(problem('a\0b') ?? '', /NUL/);
  assert.match(problem(`${'x'.repeat(256)}`) ?? '', /longer than 255 bytes/);
  assert.is(problem('x'.repeat(255)), undefined, '255 bytes is fine');
  // 255 bytes counts bytes, not characters: 128 two-byte characters are 256 bytes.
  assert.match(problem('é'.repeat(128)) ?? '', /longer than 255/);
  assert.match(problem('a/'.repeat(2100)) ?? '', /longer than 4095 bytes/);
});

test('weird but harmless names are kept as they are', () => {
  for (const n of ['new\nline', 'back\\slash', ' ', '...', '-rf', 'ünïcødé', '.wh', 'a b=c', '*']) {
    assert.equal(parts(n), [n], JSON.stringify(n));
  }
});

test('symlink targets split into components; absolute ones restart at the root', () => {
  assert.equal(splitLinkTarget('/etc/passwd'), { absolute: true, parts: ['etc', 'passwd'] });
  assert.equal(splitLinkTarget('../../x/./y/'), { absolute: false, parts: ['..', '..', 'x', 'y'] });
  assert.equal(splitLinkTarget('/'), { absolute: true, parts: [] });
});

test('ancestor keys and prefixes', () => {
  assert.equal(ancestorKeys('a/b/c'), ['a/b/c', 'a/b', 'a']);
  assert.equal(ancestorKeys(''), []);
  assert.ok(isSameOrBelow('a/b', 'a'));
  assert.ok(isSameOrBelow('a', 'a'));
  assert.ok(isSameOrBelow('anything', ''));
  assert.not.ok(isSameOrBelow('ab', 'a'));
});

test('whiteouts are classified by name (image-spec "Whiteouts")', () => {
  assert.equal(classifyEntry(['etc', '.wh.passwd']), { kind: 'whiteout', dir: ['etc'], name: 'passwd' });
  assert.equal(classifyEntry(['.wh.x']), { kind: 'whiteout', dir: [], name: 'x' });
  assert.equal(classifyEntry(['a', '.wh..wh..opq']), { kind: 'opaque', dir: ['a'] });
  assert.equal(classifyEntry(['.wh..wh..opq']), { kind: 'opaque', dir: [] });
  assert.equal(classifyEntry(['.wh..wh.plnk']), { kind: 'meta', parts: ['.wh..wh.plnk'] });
  assert.equal(classifyEntry(['a', 'b']), { kind: 'plain', parts: ['a', 'b'] });
  assert.equal(classifyEntry([]), { kind: 'plain', parts: [] });
  assert.equal(classifyEntry(['x.wh.y']), { kind: 'plain', parts: ['x.wh.y'] });
});

test('whiteouts of ".", ".." or nothing, and whiteout names used as directories, are bad', () => {
  for (const base of ['.wh.', '.wh..', '.wh...']) {
    const k = classifyEntry(['d', base]);
    assert.is(k.kind, 'bad', base);
  }
  assert.is(classifyEntry(['.wh.x', 'y']).kind, 'bad');
  assert.is(classifyEntry(['.wh..wh..opq', 'y']).kind, 'bad');
});

test('entry errors are invalid GantryErrors naming the entry', () => {
  const e = entryError('../../etc/passwd', 'path escapes the layer root');
  assert.ok(isGantryError(e, 'invalid'));
  assert.is(e.message, 'layer entry "../../etc/passwd": path escapes the layer root');
});

test.run();
