import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { RegistrySettings } from '../../../../agent/src/config/agent-config.js';
import { isGantryError } from '../../../../agent/src/errors.js';
import {
  Authorizer,
  type AuthTarget,
  basicAuthorization,
  parseTokenResponse,
} from '../../../../agent/src/images/registry/auth.js';

const test = suite('registry auth: token answers, challenges, the token cache');

const json = (o: unknown) => Buffer.from(JSON.stringify(o));

test('parseTokenResponse: token or access_token, expires_in or 60 s, dropped a little early', () => {
  assert.equal(parseTokenResponse(json({ token: 't', expires_in: 300 }), 1000), {
    token: 't',
    expiresAt: 1000 + 290_000,
  });
  assert.equal(parseTokenResponse(json({ access_token: 'a' }), 0), { token: 'a', expiresAt: 54_000 });
  assert.is(parseTokenResponse(json({ token: 't', access_token: 'a', expires_in: 10 }), 0).token, 't');
  assert.is(parseTokenResponse(json({ token: '', access_token: 'a' }), 0).token, 'a');
  assert.is(parseTokenResponse(json({ token: 't', expires_in: -5 }), 0).expiresAt, 54_000);
  assert.is(parseTokenResponse(json({ token: 't', expires_in: '300' }), 0).expiresAt, 54_000);
});

test('parseTokenResponse: no token, not JSON', () => {
  for (const body of [json({}), json({ token: 5 }), json(null), json('t'), Buffer.from('<html>')]) {
    assert.throws(
      () => parseTokenResponse(body, 0),
      (e: unknown) => isGantryError(e, 'invalid'),
    );
  }
});

test('basicAuthorization: RFC 7617 user:password in base64, UTF-8', () => {
  assert.is(basicAuthorization({ username: 'u', password: 'p:w' }), `Basic ${Buffer.from('u:p:w').toString('base64')}`);
  assert.is(basicAuthorization({ username: 'ü' }), `Basic ${Buffer.from('ü:', 'utf8').toString('base64')}`);
  assert.is(basicAuthorization({ insecure: true }), undefined);
  assert.is(basicAuthorization(undefined), undefined);
});

/** An Authorizer whose token server is a function that counts, on an injected clock. */
function harness(settings: RegistrySettings = {}, tokenStatus = 200) {
  const state = { now: 1_000_000, calls: [] as Array<{ url: URL; headers: Record<string, string> }> };
  const registries: Record<string, RegistrySettings> = { 'r.example': settings };
  const auth = new Authorizer({
    now: () => state.now,
    settingsFor: (h) => registries[h],
    fetchToken: async (url, headers) => {
      state.calls.push({ url, headers });
      await new Promise((r) => setImmediate(r));
      return { status: tokenStatus, body: json({ token: `tok${state.calls.length}`, expires_in: 100 }) };
    },
  });
  const target = (repository: string): AuthTarget => ({
    registry: 'r.example',
    repository,
    base: new URL('https://r.example/'),
    settings,
  });
  return { auth, state, target };
}

const BEARER = 'Bearer realm="https://auth.example/token",service="reg"';

test('anonymous until challenged; then a token, cached per scope until it expires', async () => {
  const { auth, state, target } = harness();
  assert.is(await auth.current(target('a')), undefined);
  assert.is(await auth.answer(target('a'), BEARER, undefined), 'Bearer tok1');
  assert.is(state.calls[0]?.url.searchParams.get('scope'), 'repository:a:pull');
  assert.is(state.calls[0]?.url.searchParams.get('service'), 'reg');
  assert.is(state.calls[0]?.headers.authorization, undefined, 'no credentials configured: anonymous token');
  assert.is(await auth.current(target('a')), 'Bearer tok1');
  assert.is(await auth.current(target('b')), 'Bearer tok2', 'another scope, fetched before sending');
  state.now += 89_999;
  assert.is(await auth.current(target('a')), 'Bearer tok1');
  state.now += 1;
  assert.is(await auth.current(target('a')), 'Bearer tok3', 'expired: refreshed');
  assert.is(state.calls.length, 3);
});

test('a 401 to the cached token fetches a new one; a 401 to an older token reuses the newer', async () => {
  const { auth, state, target } = harness();
  await auth.answer(target('a'), BEARER, undefined);
  assert.is(await auth.answer(target('a'), BEARER, 'Bearer tok1'), 'Bearer tok2');
  assert.is(await auth.answer(target('a'), BEARER, 'Bearer tok1'), 'Bearer tok2', 'tok2 came after tok1 was sent');
  assert.is(state.calls.length, 2);
});

test('concurrent challenges for one scope share one token fetch', async () => {
  const { auth, state, target } = harness();
  const got = await Promise.all([1, 2, 3].map(() => auth.answer(target('a'), BEARER, undefined)));
  assert.equal(got, ['Bearer tok1', 'Bearer tok1', 'Bearer tok1']);
  assert.is(state.calls.length, 1);
});

test('credentials go to an HTTPS realm as Basic', async () => {
  const { auth, state, target } = harness({ username: 'u', password: 'p' });
  await auth.answer(target('a'), BEARER, undefined);
  assert.is(state.calls[0]?.headers.authorization, `Basic ${Buffer.from('u:p').toString('base64')}`);
});

test('credentials are refused to a plain-HTTP realm not marked insecure, before any request', async () => {
  const { auth, state, target } = harness({ username: 'u', password: 'p' });
  try {
    await auth.answer(target('a'), 'Bearer realm="http://auth.example/token"', undefined);
    assert.unreachable();
  } catch (e) {
    assert.ok(isGantryError(e, 'denied'), String(e));
    assert.match((e as Error).message, 'configure auth.example as insecure');
  }
  assert.is(state.calls.length, 0);
});

test('Basic challenge: the configured credentials, or denied when there are none', async () => {
  const withCreds = harness({ username: 'u', password: 'p' });
  const basic = `Basic ${Buffer.from('u:p').toString('base64')}`;
  assert.is(await withCreds.auth.answer(withCreds.target('a'), 'Basic realm="x"', undefined), basic);
  assert.is(await withCreds.auth.current(withCreds.target('b')), basic, 'sent up front from then on');

  const none = harness();
  try {
    await none.auth.answer(none.target('a'), 'Basic realm="x"', undefined);
    assert.unreachable();
  } catch (e) {
    assert.ok(isGantryError(e, 'denied'), String(e));
    assert.match((e as Error).message, 'registry r.example needs credentials for a, and none are configured');
  }
});

test('Bearer is preferred when both are offered; unknown schemes and bad headers are clear errors', async () => {
  const { auth, target } = harness({ username: 'u', password: 'p' });
  assert.is(await auth.answer(target('a'), `Basic realm="x", ${BEARER}`, undefined), 'Bearer tok1');
  const e1 = await auth.answer(target('a'), 'Negotiate, NTLM', undefined).catch((e: unknown) => e);
  assert.ok(isGantryError(e1, 'denied'));
  assert.match((e1 as Error).message, 'negotiate, ntlm');
  const e2 = await auth.answer(target('a'), 'Bearer realm="unterminated', undefined).catch((e: unknown) => e);
  assert.ok(isGantryError(e2, 'invalid'));
  const e3 = await auth.answer(target('a'), undefined, undefined).catch((e: unknown) => e);
  assert.ok(isGantryError(e3, 'denied'));
});

test('the token server refusing is denied, naming the user; other statuses are unavailable', async () => {
  const refused = harness({ username: 'u', password: 'p' }, 401);
  const e1 = await refused.auth.answer(refused.target('a'), BEARER, undefined).catch((e: unknown) => e);
  assert.ok(isGantryError(e1, 'denied'));
  assert.match((e1 as Error).message, 'refused user u for r.example/a');
  const broken = harness({}, 404);
  const e2 = await broken.auth.answer(broken.target('a'), BEARER, undefined).catch((e: unknown) => e);
  assert.ok(isGantryError(e2, 'unavailable'));
});

test('an aborted caller stops waiting for a shared token fetch', async () => {
  const { auth, target } = harness();
  const ac = new AbortController();
  ac.abort(new Error('gone'));
  const e = await auth.answer(target('a'), BEARER, undefined, ac.signal).catch((x: unknown) => x);
  assert.is((e as Error).message, 'gone');
  assert.is(await auth.current(target('a')), 'Bearer tok1', 'the fetch itself went on and was cached');
});

test.run();
