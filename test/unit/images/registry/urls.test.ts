import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { isGantryError } from '../../../../agent/src/errors.js';
import {
  apiHost,
  blobUrl,
  checkRepository,
  manifestUrl,
  mayCarryCredentials,
  pullScope,
  registryBaseUrl,
  sameOrigin,
  tokenUrl,
} from '../../../../agent/src/images/registry/urls.js';

const test = suite('registry URLs');

const D = `sha256:${'b'.repeat(64)}`;
const invalidError = (e: unknown) => isGantryError(e, 'invalid');

test('Docker Hub answers on registry-1.docker.io; other hosts on themselves', () => {
  assert.is(apiHost('docker.io'), 'registry-1.docker.io');
  assert.is(apiHost('ghcr.io'), 'ghcr.io');
  assert.is(registryBaseUrl('docker.io').href, 'https://registry-1.docker.io/');
});

test('HTTPS by default, plain HTTP only for insecure registries; ports and IPv6 kept', () => {
  assert.is(registryBaseUrl('127.0.0.1:5000').href, 'https://127.0.0.1:5000/');
  assert.is(registryBaseUrl('127.0.0.1:5000', { insecure: true }).href, 'http://127.0.0.1:5000/');
  assert.is(registryBaseUrl('[::1]:5000', { insecure: true }).href, 'http://[::1]:5000/');
  assert.is(registryBaseUrl('localhost', { insecure: false }).href, 'https://localhost/');
  for (const bad of ['a/b', 'host:port', 'user@host', '', 'h?x']) {
    assert.throws(() => registryBaseUrl(bad), invalidError, bad);
  }
});

test('manifest and blob URLs (distribution-spec endpoints end-3, end-2)', () => {
  const base = registryBaseUrl('r.example:443');
  assert.is(
    manifestUrl(base, 'library/busybox', 'latest').href,
    'https://r.example/v2/library/busybox/manifests/latest',
  );
  assert.is(manifestUrl(base, 'a/b/c', D).href, `https://r.example/v2/a/b/c/manifests/${D}`);
  assert.is(blobUrl(base, 'a-b/c__d', D).href, `https://r.example/v2/a-b/c__d/blobs/${D}`);
});

test('names, tags and digests that could escape the path are refused', () => {
  const base = registryBaseUrl('r.example');
  for (const repo of ['../etc', 'a/../b', 'A/b', 'a//b', '/a', 'a/', 'a?x', 'a#b', 'a%2fb', '', 'x'.repeat(256)]) {
    assert.throws(() => manifestUrl(base, repo, 'latest'), invalidError, repo);
    assert.throws(() => checkRepository(repo), invalidError, repo);
  }
  for (const ref of ['../x', 'a/b', '.hidden', '-x', 'x'.repeat(129), 'sha256:abc', `sha512:${'a'.repeat(128)}`, '']) {
    assert.throws(() => manifestUrl(base, 'a', ref), invalidError, ref);
  }
  assert.throws(() => blobUrl(base, 'a', 'latest'), invalidError);
  assert.throws(() => blobUrl(base, 'a', `sha256:${'B'.repeat(64)}`), invalidError);
});

test('pull scope', () => {
  assert.is(pullScope('library/busybox'), 'repository:library/busybox:pull');
});

test('token URL: service and scope added, the realm query kept', () => {
  const u = tokenUrl('https://auth.example/token?tenant=7', 'registry.example', 'repository:a/b:pull');
  assert.is(u.origin + u.pathname, 'https://auth.example/token');
  assert.is(u.searchParams.get('tenant'), '7');
  assert.is(u.searchParams.get('service'), 'registry.example');
  assert.is(u.searchParams.get('scope'), 'repository:a/b:pull');
  assert.not.ok(tokenUrl('https://a/t', undefined, 's').searchParams.has('service'));
  assert.is(tokenUrl('https://a/t?scope=evil', undefined, 's').searchParams.getAll('scope').join(), 's');
});

test('token URL: only absolute http(s) realms without credentials', () => {
  for (const bad of ['/token', 'token', 'file:///etc/passwd', 'ftp://a/t', 'javascript:alert(1)', 'https://u:p@a/t']) {
    assert.throws(() => tokenUrl(bad, 's', 'x'), invalidError, bad);
  }
});

test('same origin: scheme, host and port', () => {
  const u = (s: string) => new URL(s);
  assert.ok(sameOrigin(u('https://r.example/v2/a'), u('https://r.example:443/v2/b')));
  assert.not.ok(sameOrigin(u('https://r.example/'), u('https://s3.example/')));
  assert.not.ok(sameOrigin(u('http://127.0.0.1:5000/'), u('http://127.0.0.1:5001/')));
  assert.not.ok(sameOrigin(u('https://r.example/'), u('http://r.example/')));
});

test('credentials go over HTTPS, or over HTTP only to a host marked insecure', () => {
  const settings: Record<string, { insecure?: boolean }> = { '127.0.0.1:5000': { insecure: true }, lan: {} };
  const lookup = (h: string) => settings[h];
  assert.ok(mayCarryCredentials(new URL('https://anything.example/'), lookup));
  assert.ok(mayCarryCredentials(new URL('http://127.0.0.1:5000/token'), lookup));
  assert.not.ok(mayCarryCredentials(new URL('http://127.0.0.1:5001/token'), lookup));
  assert.not.ok(mayCarryCredentials(new URL('http://lan/token'), lookup));
  assert.not.ok(mayCarryCredentials(new URL('ftp://127.0.0.1:5000/'), lookup));
});

test.run();
