import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { isGantryError } from '../../../agent/src/errors.js';
import { formatReference, parseReference } from '../../../agent/src/images/reference.js';

const test = suite('image references');
const D = `sha256:${'a'.repeat(64)}`;

test('docker rules: default registry, library/, latest', () => {
  assert.equal(parseReference('busybox'), {
    kind: 'registry',
    registry: 'docker.io',
    repository: 'library/busybox',
    tag: 'latest',
  });
  assert.equal(parseReference('grafana/agent:v1.2'), {
    kind: 'registry',
    registry: 'docker.io',
    repository: 'grafana/agent',
    tag: 'v1.2',
  });
  assert.equal(parseReference('docker.io/busybox'), {
    kind: 'registry',
    registry: 'docker.io',
    repository: 'library/busybox',
    tag: 'latest',
  });
});

test('hosts with ports, localhost, IPv6, nested paths', () => {
  assert.equal(parseReference('127.0.0.1:5000/gantry-test/busybox:latest'), {
    kind: 'registry',
    registry: '127.0.0.1:5000',
    repository: 'gantry-test/busybox',
    tag: 'latest',
  });
  assert.equal(parseReference('localhost/app'), {
    kind: 'registry',
    registry: 'localhost',
    repository: 'app',
    tag: 'latest',
  });
  assert.equal(parseReference('[::1]:5000/a/b/c:t'), {
    kind: 'registry',
    registry: '[::1]:5000',
    repository: 'a/b/c',
    tag: 't',
  });
  assert.is(parseReference('registry.example.com/org/team/app').kind, 'registry');
});

test('digests, with and without a tag', () => {
  assert.equal(parseReference(`reg.io/app@${D}`), {
    kind: 'registry',
    registry: 'reg.io',
    repository: 'app',
    digest: D,
  });
  assert.equal(parseReference(`reg.io/app:1.0@${D}`), {
    kind: 'registry',
    registry: 'reg.io',
    repository: 'app',
    tag: '1.0',
    digest: D,
  });
});

test('oci layouts and archives', () => {
  assert.equal(parseReference('oci:/media/usb/images:meter'), {
    kind: 'oci-layout',
    path: '/media/usb/images',
    tag: 'meter',
  });
  assert.equal(parseReference('oci:/media/usb/images'), { kind: 'oci-layout', path: '/media/usb/images' });
  assert.equal(parseReference(`oci-archive:/tmp/app.tar@${D}`), {
    kind: 'oci-archive',
    path: '/tmp/app.tar',
    digest: D,
  });
  assert.equal(parseReference('oci:/dir:with/colon'), { kind: 'oci-layout', path: '/dir:with/colon' });
});

test('canonical form round-trips', () => {
  for (const s of [
    'docker.io/library/busybox:latest',
    `127.0.0.1:5000/x/y:1@${D}`,
    'oci:/a/b:t',
    'oci-archive:/f.tar',
  ]) {
    assert.is(formatReference(parseReference(s)), s);
  }
});

test('bad input names the bad part', () => {
  const cases: Array<[string, RegExp]> = [
    ['', /empty/],
    ['Busybox', /repository part "Busybox"/],
    ['app:', /tag ""/],
    ['app:bad tag', /tag "bad tag"/],
    ['app@sha256:xyz', /not a valid sha256 digest/],
    ['app@md5:abcd', /unsupported algorithm/],
    ['oci:relative/path', /absolute path/],
    ['a//b', /repository part ""/],
  ];
  for (const [input, re] of cases) {
    try {
      parseReference(input);
      assert.unreachable(input);
    } catch (e) {
      assert.ok(isGantryError(e, 'invalid'), input);
      assert.match((e as Error).message, re);
    }
  }
});

test.run();
