import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { isGantryError } from '../../../../agent/src/errors.js';
import { parseWwwAuthenticate } from '../../../../agent/src/images/registry/www-authenticate.js';

const test = suite('WWW-Authenticate parser (RFC 7235)');

test('the challenge distribution sends', () => {
  const h =
    'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"';
  assert.equal(parseWwwAuthenticate(h), [
    {
      scheme: 'bearer',
      params: {
        realm: 'https://auth.docker.io/token',
        service: 'registry.docker.io',
        scope: 'repository:library/busybox:pull',
      },
    },
  ]);
});

test('scheme and parameter names are case-insensitive; values are kept as sent', () => {
  assert.equal(parseWwwAuthenticate('BASIC Realm="Gantry Test"'), [
    { scheme: 'basic', params: { realm: 'Gantry Test' } },
  ]);
});

test('token values, and whitespace around "=" (BWS) and commas (OWS)', () => {
  assert.equal(parseWwwAuthenticate('Bearer realm = "r" ,  service=svc\t, error = invalid_token'), [
    { scheme: 'bearer', params: { realm: 'r', service: 'svc', error: 'invalid_token' } },
  ]);
});

test('several challenges in one header, with and without parameters', () => {
  const got = parseWwwAuthenticate('Newauth realm="apps", type=1, title="Login to \\"apps\\"", Basic realm="simple"');
  assert.equal(got, [
    { scheme: 'newauth', params: { realm: 'apps', type: '1', title: 'Login to "apps"' } },
    { scheme: 'basic', params: { realm: 'simple' } },
  ]);
  assert.equal(parseWwwAuthenticate('Negotiate, Basic realm="x"'), [
    { scheme: 'negotiate', params: {} },
    { scheme: 'basic', params: { realm: 'x' } },
  ]);
});

test('two header lines joined by node with ", " parse as two challenges', () => {
  const got = parseWwwAuthenticate('Basic realm="a", Bearer realm="https://t/token",service="s"');
  assert.equal(
    got.map((c) => c.scheme),
    ['basic', 'bearer'],
  );
  assert.is(got[1]?.params.service, 's');
});

test('commas, "=" and escaped quotes inside a quoted string stay in the value', () => {
  const got = parseWwwAuthenticate(
    'Bearer realm="https://a/token?x=1,y=2",scope="repository:a:pull,push repository:b:pull",error_description="say \\"hi\\", \\\\ ok"',
  );
  assert.equal(got[0]?.params, {
    realm: 'https://a/token?x=1,y=2',
    scope: 'repository:a:pull,push repository:b:pull',
    error_description: 'say "hi", \\ ok',
  });
});

test('token68 (with padding), alone and before another challenge', () => {
  assert.equal(parseWwwAuthenticate('Basic dXNlcjpwYXNz=='), [
    { scheme: 'basic', params: {}, token68: 'dXNlcjpwYXNz==' },
  ]);
  assert.equal(parseWwwAuthenticate('Custom abc/+-._~, Bearer realm="r"'), [
    { scheme: 'custom', params: {}, token68: 'abc/+-._~' },
    { scheme: 'bearer', params: { realm: 'r' } },
  ]);
});

test('"realm=" alone is token68 by the grammar (so a Bearer challenge without a realm parameter)', () => {
  assert.equal(parseWwwAuthenticate('Bearer realm='), [{ scheme: 'bearer', params: {}, token68: 'realm=' }]);
});

test('empty list elements and an empty quoted value are allowed', () => {
  assert.equal(parseWwwAuthenticate(' , Bearer realm="", , service="s",'), [
    { scheme: 'bearer', params: { realm: '', service: 's' } },
  ]);
});

test('non-ASCII (obs-text) inside quotes is kept', () => {
  assert.is(parseWwwAuthenticate('Basic realm="caf\u00e9"')[0]?.params.realm, 'caf\u00e9');
});

test('parameter names that collide with Object.prototype are plain keys', () => {
  const got = parseWwwAuthenticate('Bearer __proto__="x", constructor=y, realm="r"');
  const params = got[0]?.params ?? {};
  assert.is(Object.getPrototypeOf(params), Object.prototype);
  assert.is(Object.getOwnPropertyDescriptor(params, '__proto__')?.value, 'x');
  assert.is(got[0]?.params.realm, 'r');
  assert.is(got[0]?.params.constructor, 'y');
});

const BAD: Array<[string, string]> = [
  ['', 'no challenge'],
  ['   ,  ', 'no challenge'],
  ['Bearer realm="unterminated', 'unterminated quoted string'],
  ['Bearer realm="ends in backslash\\', 'unterminated quoted string'],
  ['realm="x"', 'comes before any auth scheme'],
  ['Bearer realm="a", realm="b"', 'appears twice'],
  ['Bearer REALM="a", realm="b"', 'appears twice'],
  ['Bearer realm=, service=x', 'cannot also have parameters'],
  ['Basic dXNl, realm="x"', 'cannot also have parameters'],
  ['Bearer realm="r", service=', 'has no value'],
  ['Bearer realm="r", service=, x=y', 'has no value'],
  ['Bearer realm="a" service="b"', 'expected ","'],
  ['Bearer realm="a\nb"', 'control character'],
  ['Bearer realm="a\\\u0000"', 'control character'],
  ['Bearer realm="a"junk', 'expected ","'],
  ['Bearer@ realm="x"', 'expected a space'],
  ['"Bearer" realm=x', 'expected an auth scheme'],
  ['Bearer ="x"', 'comes before any auth scheme'],
];

for (const [input, why] of BAD) {
  test(`refused: ${JSON.stringify(input)}`, () => {
    try {
      parseWwwAuthenticate(input);
    } catch (e) {
      assert.ok(isGantryError(e, 'invalid'), String(e));
      assert.match((e as Error).message, why);
      return;
    }
    assert.unreachable(`parsed ${JSON.stringify(input)}`);
  });
}

test('the column of the problem is in the message', () => {
  try {
    parseWwwAuthenticate('Bearer realm="a" x');
    assert.unreachable();
  } catch (e) {
    assert.match((e as Error).message, 'column 18');
  }
});

test.run();
