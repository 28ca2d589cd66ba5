import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { resolveUser } from '../../../../agent/src/runtime/bundle/index.js';

const test = suite('bundle: user resolution (runc GetExecUser semantics)');

const PASSWD = `# comment
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
meter:x:1000:1000:Meter reader:/home/meter:/bin/sh
broken line
`;
const GROUP = `root:x:0:
dialout:x:20:meter,other
gpio:x:997:meter
meter:x:1000:
staff:x:50:
`;

const r = (spec: string, files: { passwd?: string; group?: string } = { passwd: PASSWD, group: GROUP }) =>
  resolveUser(spec, files.passwd, files.group, 'user');

test('empty means root', () => {
  assert.equal(r(''), { uid: 0, gid: 0 });
});

test('a name: uid and primary gid from passwd, supplementary groups from group membership', () => {
  assert.equal(r('meter'), { uid: 1000, gid: 1000, additionalGids: [20, 997] });
  assert.equal(r('daemon'), { uid: 1, gid: 1 });
});

test('a uid: taken as is; gid from the passwd entry when there is one, else 0', () => {
  assert.equal(r('1000'), { uid: 1000, gid: 1000, additionalGids: [20, 997] });
  assert.equal(r('4242'), { uid: 4242, gid: 0 });
  assert.equal(r('4242', {}), { uid: 4242, gid: 0 });
});

test('an explicit group: numeric or by name; then no supplementary groups', () => {
  assert.equal(r('meter:50'), { uid: 1000, gid: 50 });
  assert.equal(r('meter:staff'), { uid: 1000, gid: 50 });
  assert.equal(r('1000:dialout'), { uid: 1000, gid: 20 });
  assert.equal(r('7:8', {}), { uid: 7, gid: 8 });
});

test('unknown names are refused, saying which file', () => {
  assert.throws(() => r('ghost'), /user: unknown user ghost: not in the image's \/etc\/passwd/);
  assert.throws(() => r('ghost', { group: GROUP }), /unknown user ghost: the image has no \/etc\/passwd/);
  assert.throws(() => r('meter:ghosts'), /unknown group ghosts: not in the image's \/etc\/group/);
  assert.throws(() => r('meter:ghosts', { passwd: PASSWD }), /the image has no \/etc\/group/);
});

test('malformed specs and out-of-range ids are refused', () => {
  assert.throws(() => r('a:b:c'), /is not "user", "user:group"/);
  assert.throws(() => r(':5'), /is not "user"/);
  assert.throws(() => r('5:'), /is not "user"/);
  assert.throws(() => r('4294967295'), /out of range/);
});

test.run();
