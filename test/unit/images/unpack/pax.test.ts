import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  entryMeta,
  paxXattrs,
  quoteDumpField,
  setfattrDump,
  setfattrFailures,
} from '../../../../agent/src/images/unpack/pax.js';

const test = suite('unpack: headers and PAX xattrs');

const mtime = new Date(Date.UTC(2020, 0, 2, 3, 4, 5));

test('mode keeps setuid, setgid and sticky bits and drops the type bits', () => {
  assert.equal(entryMeta({ name: 'x', mode: 0o104755, uid: 1, gid: 2, mtime }), {
    mode: 0o4755,
    uid: 1,
    gid: 2,
    mtime: mtime.getTime() / 1000,
    atime: mtime.getTime() / 1000,
  });
  const sticky = entryMeta({ name: 'tmp/', mode: 0o41777 });
  assert.ok(!('problem' in sticky) && sticky.mode === 0o1777);
});

test('PAX records win over the ustar fields (uid, gid, sub-second mtime, atime)', () => {
  const m = entryMeta({
    name: 'x',
    uid: 0,
    gid: 0,
    mtime,
    pax: { uid: '3000000', gid: '4000000', mtime: '1600000000.25', atime: '1500000000' },
  });
  assert.equal(m, { mode: 0o644, uid: 3000000, gid: 4000000, mtime: 1600000000.25, atime: 1500000000 });
});

test('ids chown cannot take are refused; malformed PAX numbers are ignored', () => {
  assert.equal(entryMeta({ name: 'x', uid: 2 ** 32 }), { problem: 'uid 4294967296 is out of range' });
  assert.equal(entryMeta({ name: 'x', gid: 2 ** 32 - 1 }), { problem: 'gid 4294967295 is out of range' });
  const m = entryMeta({ name: 'x', uid: 5, pax: { uid: '12abc', mtime: 'soon' } });
  assert.ok(!('problem' in m) && m.uid === 5 && m.mtime === 0);
});

test('SCHILY.xattr records become xattrs; other PAX records are not xattrs', () => {
  const { xattrs, refused } = paxXattrs({
    path: 'ignored',
    'SCHILY.xattr.user.mime': 'text/plain',
    'SCHILY.xattr.trusted.note': 'a=b\nc',
    'SCHILY.xattr.security.selinux': 'system_u:object_r:bin_t:s0',
  });
  assert.equal(
    xattrs.map((x) => [x.name, x.value.toString()]),
    [
      ['user.mime', 'text/plain'],
      ['trusted.note', 'a=b\nc'],
      ['security.selinux', 'system_u:object_r:bin_t:s0'],
    ],
  );
  assert.equal(refused, []);
  assert.equal(paxXattrs(null), { xattrs: [], refused: [] });
});

test('overlayfs xattrs, unknown namespaces and undecodable values are refused with a reason', () => {
  const { xattrs, refused } = paxXattrs({
    'SCHILY.xattr.trusted.overlay.opaque': 'y',
    'SCHILY.xattr.trusted.overlay.redirect': '/etc',
    'SCHILY.xattr.user.overlay.metacopy': '',
    'SCHILY.xattr.evil.x': '1',
    'SCHILY.xattr.user.': '1',
    'SCHILY.xattr.security.capability': '\u0001\uFFFD\u0000',
    [`SCHILY.xattr.user.${'n'.repeat(300)}`]: '1',
  });
  assert.equal(xattrs, []);
  assert.equal(
    refused.map((r) => r.reason),
    [
      'overlayfs xattrs are not taken from layers',
      'overlayfs xattrs are not taken from layers',
      'overlayfs xattrs are not taken from layers',
      'unknown xattr namespace',
      'unknown xattr namespace',
      'binary xattr value (not valid UTF-8) is not supported',
      'xattr name too long',
    ],
  );
});

test('dump fields quote every unsafe byte as \\ooo (what setfattr unquotes)', () => {
  assert.is(quoteDumpField('/r/usr/bin/x-1.2_3'), '/r/usr/bin/x-1.2_3');
  assert.is(quoteDumpField('a b'), 'a\\040b');
  assert.is(quoteDumpField('new\nline'), 'new\\012line');
  assert.is(quoteDumpField('x=y\\z'), 'x\\075y\\134z');
  assert.is(quoteDumpField('é'), '\\303\\251');
});

test('the dump lists each file once, values in base64', () => {
  const dump = setfattrDump([
    { path: '/r/a b', xattrs: [{ name: 'user.k', value: Buffer.from([0, 1, 255]) }] },
    { path: '/r/none', xattrs: [] },
    {
      path: '/r/c',
      xattrs: [
        { name: 'user.x', value: Buffer.from('1') },
        { name: 'trusted.y', value: Buffer.from('') },
      ],
    },
  ]);
  assert.is(dump, '# file: /r/a\\040b\nuser.k=0sAAH/\n\n# file: /r/c\nuser.x=0sMQ==\ntrusted.y=0s\n\n');
});

test("setfattr's complaints are matched to the files they name", () => {
  const paths = ['/r/a', '/r/a b', '/r/c'];
  const r = setfattrFailures('setfattr: /r/a b: Operation not supported\nsetfattr: /r/c: Permission denied\n', paths);
  assert.equal(
    [...r.failed],
    [
      ['/r/a b', 'Operation not supported'],
      ['/r/c', 'Permission denied'],
    ],
  );
  assert.is(r.unknown, false);
  assert.is(setfattrFailures('setfattr: something else broke\n', paths).unknown, true);
});

test.run();
