import { readFile } from 'node:fs/promises';
import * as assert from 'uvu/assert';
import { CloudSession } from '../../../agent/src/cloud/session.js';
import { type GantryError, isGantryError } from '../../../agent/src/errors.js';
import { makeTestPki, mtlsListenerConfig, type TestPki } from '../../helpers/certs.js';
import { hostSuite } from '../../helpers/host-tools.js';
import { type Mosquitto, startMosquitto } from '../../helpers/mosquitto.js';
import { freePort } from '../../helpers/net.js';
import { waitFor, withTimeout } from '../../helpers/timeout.js';
import { type TempDir, tempDir } from '../../helpers/tmp.js';

interface Ctx {
  dir: TempDir;
  pki: TestPki;
  broker: Mosquitto;
  tlsUrl: string;
}

const { test } = hostSuite<Ctx>('cloud: mutual TLS to mosquitto (certs from openssl)', ['mosquitto', 'openssl']);

test.before(async (ctx) => {
  ctx.dir = await tempDir('gantry-mtls-');
  ctx.pki = await makeTestPki(ctx.dir.path);
  const port = await freePort();
  ctx.broker = await startMosquitto({ extraConfig: mtlsListenerConfig(port, ctx.pki) });
  ctx.tlsUrl = `mqtts://127.0.0.1:${port}`;
});
test.after(async (ctx) => {
  await ctx.broker?.stop();
  await ctx.dir?.cleanup();
});

const birth = () => ({ agentVersion: 't', model: 'm', arch: 'arm', startedAt: '' });

/** Start a session and wait for it to come online, or for its first error. */
async function attempt(
  url: string,
  tls: { ca?: string; cert?: string; key?: string },
): Promise<{ online: boolean; error?: GantryError }> {
  const read = async (f?: string) => (f ? await readFile(f) : undefined);
  const [ca, cert, key] = await Promise.all([read(tls.ca), read(tls.cert), read(tls.key)]);
  const s = new CloudSession({
    url,
    deviceId: 'gw-tls',
    birth,
    subscriptions: [],
    tls: { ...(ca ? { ca } : {}), ...(cert ? { cert } : {}), ...(key ? { key } : {}) },
    backoff: { initialMs: 5000 },
  });
  let error: GantryError | undefined;
  s.onError((e) => {
    error ??= e;
  });
  try {
    s.start();
    await waitFor(() => (s.isOnline || error ? true : undefined), { ms: 10_000, what: 'TLS session outcome' });
    return error ? { online: s.isOnline, error } : { online: s.isOnline };
  } finally {
    await withTimeout(s.stop(), 5000, 'session stop');
  }
}

test('with the right CA and a client certificate the session connects', async ({ pki, tlsUrl }) => {
  const r = await attempt(tlsUrl, { ca: pki.caCert, cert: pki.clientCert, key: pki.clientKey });
  assert.ok(r.online, r.error?.message);
  assert.is(r.error, undefined);
});

test('a broker certificate from another CA is refused with a clear error', async ({ pki, tlsUrl }) => {
  const r = await attempt(tlsUrl, { ca: pki.otherCaCert, cert: pki.clientCert, key: pki.clientKey });
  assert.not.ok(r.online);
  assert.ok(isGantryError(r.error, 'denied'), r.error?.message);
  assert.match(r.error?.message ?? '', /broker's certificate is not trusted .*cloud\.caFile/);
});

test('without a client certificate, or with one from another CA, the broker refuses', async ({ pki, tlsUrl }) => {
  for (const tls of [{ ca: pki.caCert }, { ca: pki.caCert, cert: pki.strangerCert, key: pki.strangerKey }]) {
    const r = await attempt(tlsUrl, tls);
    assert.not.ok(r.online, JSON.stringify(tls));
    assert.ok(isGantryError(r.error, 'denied'), r.error?.message);
    assert.match(
      r.error?.message ?? '',
      /broker rejected the client certificate \(TLS alert "(certificate required|unknown ca)"/,
    );
  }
});

test.run();
