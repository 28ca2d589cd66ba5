import net from 'node:net';
import path from 'node:path';
import mqtt from 'mqtt';
import * as assert from 'uvu/assert';
import { startEmbeddedBroker } from '../../../agent/src/cloud/embedded-broker.js';
import { decodePayload, encodePayload } from '../../../agent/src/cloud/payload.js';
import { CloudSession, type SessionOptions } from '../../../agent/src/cloud/session.js';
import { type GantryError, isGantryError } from '../../../agent/src/errors.js';
import { hostSuite } from '../../helpers/host-tools.js';
import { type Mosquitto, startMosquitto } from '../../helpers/mosquitto.js';
import { cliPublish, cliSubscriber } from '../../helpers/mqtt-cli.js';
import { freePort, listenOnLoopback } from '../../helpers/net.js';
import { spawnPeer } from '../../helpers/processes.js';
import { waitFor, withTimeout } from '../../helpers/timeout.js';

const { test } = hostSuite<{ broker: Mosquitto }>('cloud: MQTT session against mosquitto', [
  'mosquitto',
  'mosquitto_sub',
  'mosquitto_pub',
]);

test.before(async (ctx) => {
  ctx.broker = await startMosquitto();
});
test.after(async (ctx) => {
  await ctx.broker?.stop();
});

const birth = () => ({
  agentVersion: '0.1.0',
  model: 'ec-iot-arm',
  arch: 'arm',
  startedAt: '2024-01-01T00:00:00.000Z',
});

function session(url: string, deviceId: string, extra: Partial<SessionOptions> = {}): CloudSession {
  return new CloudSession({ url, deviceId, birth, subscriptions: [], ...extra });
}

function online(s: CloudSession, what: string, ms = 10_000): Promise<void> {
  if (s.isOnline) return Promise.resolve();
  return withTimeout(new Promise<void>((r) => s.onOnline(() => r())), ms, what);
}

/** The error a promise rejects with (fails if it resolves). */
async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await withTimeout(p, 10_000, 'expected rejection');
  } catch (e) {
    return e;
  }
  throw new Error('expected a rejection, got a value');
}

const decoded = (p: Buffer) => decodePayload(p, 'test payload') as Record<string, unknown>;

test('birth is retained CBOR with a content type; publish resolves on PUBACK', async ({ broker }) => {
  const sub = await cliSubscriber(broker.port, ['gantry/v1/gw-birth/#']);
  const s = session(broker.url, 'gw-birth');
  try {
    assert.ok(
      isGantryError(await rejection(s.publish('gantry/v1/gw-birth/events', encodePayload({ x: 1 }))), 'unavailable'),
    );
    s.start();
    await online(s, 'session online');
    const status = await sub.next((m) => m.topic === 'gantry/v1/gw-birth/status', 'online status');
    assert.equal(decoded(status.payload), { state: 'online', ...birth() });
    assert.is(status.contentType, 'application/cbor');
    assert.is(s.status().protocolVersion, 5);

    await s.publish('gantry/v1/gw-birth/telemetry/app/temp', encodePayload({ v: 21.5 }), { qos: 1 });
    const t = await sub.next((m) => m.topic.endsWith('/telemetry/app/temp'), 'telemetry');
    assert.equal(decoded(t.payload), { v: 21.5 });
    assert.is(t.retained, false);

    await s.stop();
    const off = await sub.next(
      (m) => m.topic === 'gantry/v1/gw-birth/status' && decoded(m.payload).state === 'offline',
      'offline at shutdown',
    );
    assert.is(decoded(off.payload).reason, 'shutdown');
  } finally {
    await s.stop();
    await sub.stop();
  }
  // retained: a subscriber that comes later still sees the last status
  const later = await cliSubscriber(broker.port, ['gantry/v1/gw-birth/status']);
  try {
    const m = await later.next((x) => x.retained, 'retained status for a late subscriber');
    assert.is(decoded(m.payload).state, 'offline');
  } finally {
    await later.stop();
  }
});

test('kill -9 of the process holding the session makes the broker publish the last will', async ({ broker }) => {
  const child = spawnPeer(process.execPath, [
    '--import',
    'tsx',
    path.join(import.meta.dirname, 'fixtures', 'session-child.ts'),
    broker.url,
    'gw-will',
  ]);
  const sub = await cliSubscriber(broker.port, ['gantry/v1/gw-will/status']);
  try {
    await waitFor(() => (child.output().includes('online') ? true : undefined), {
      ms: 15_000,
      what: `child session online (output: ${child.output()})`,
    });
    await sub.next((m) => decoded(m.payload).state === 'online', 'online from the child');
    child.child.kill('SIGKILL');
    await withTimeout(child.exited, 5000, 'child exit');
    const will = await sub.next((m) => decoded(m.payload).state === 'offline', 'last will');
    assert.equal(decoded(will.payload), { state: 'offline', reason: 'connection-lost' });
    assert.is(will.contentType, 'application/cbor');
  } finally {
    await child.stop();
    await sub.stop();
  }
  const later = await cliSubscriber(broker.port, ['gantry/v1/gw-will/status']);
  try {
    const m = await later.next((x) => x.retained, 'retained will');
    assert.is(decoded(m.payload).state, 'offline');
  } finally {
    await later.stop();
  }
});

test('broker stopped and restarted: offline, retries with capped backoff, back online', async () => {
  const port = await freePort();
  const listener = `listener ${port} 127.0.0.1`;
  let broker = await startMosquitto({ extraConfig: listener });
  const s = session(`mqtt://127.0.0.1:${port}`, 'gw-backoff', {
    backoff: { initialMs: 100, maxMs: 400, factor: 2, jitter: 0, stableAfterMs: 60_000 },
  });
  const retries: number[] = [];
  const errors: GantryError[] = [];
  let offline = 0;
  let onlineCount = 0;
  s.onRetryScheduled((r) => retries.push(r.delayMs));
  s.onError((e) => errors.push(e));
  s.onOffline(() => offline++);
  s.onOnline(() => onlineCount++);
  try {
    s.start();
    await online(s, 'first connection');
    await broker.stop();
    await waitFor(() => (retries.length >= 5 ? true : undefined), { ms: 10_000, what: 'five retries' });
    assert.is(offline, 1);
    assert.not.ok(s.isOnline);
    assert.equal(retries.slice(0, 5), [100, 200, 400, 400, 400]);
    assert.ok(
      errors.some((e) => /refused the TCP connection/.test(e.message)),
      errors.map((e) => e.message).join('\n'),
    );
    assert.ok(
      isGantryError(await rejection(s.publish('gantry/v1/gw-backoff/events', encodePayload({}))), 'unavailable'),
    );

    broker = await startMosquitto({ extraConfig: listener });
    await waitFor(() => (onlineCount >= 2 ? true : undefined), { ms: 10_000, what: 'back online' });
    await s.publish('gantry/v1/gw-backoff/events', encodePayload({ type: 'test' }), { qos: 1 });
    assert.is(s.status().lastError, undefined);
  } finally {
    await s.stop();
    await broker.stop();
  }
});

test('persistent session: a QoS 1 command sent while the device was away arrives when it is back', async ({
  broker,
}) => {
  const subscriptions = [{ filter: 'gantry/v1/gw-persist/cmd/+', qos: 1 as const }];
  const first = session(broker.url, 'gw-persist', { subscriptions });
  first.start();
  await online(first, 'first session');
  await first.stop();

  await cliPublish(broker.port, 'gantry/v1/gw-persist/cmd/while-away', 'queued', { qos: 1 });

  const second = session(broker.url, 'gw-persist', { subscriptions });
  const got = new Promise<string>((resolve) => second.onMessage((m) => resolve(`${m.topic} ${m.payload.toString()}`)));
  const info = new Promise<boolean>((resolve) => second.onOnline((i) => resolve(i.sessionPresent)));
  try {
    second.start();
    assert.is(await withTimeout(info, 10_000, 'second session online'), true, 'the broker kept the session');
    assert.is(await withTimeout(got, 10_000, 'queued command'), 'gantry/v1/gw-persist/cmd/while-away queued');
  } finally {
    await second.stop();
  }
});

test('a peer that accepts TCP but never answers CONNACK is reported as such', async () => {
  const sockets = new Set<net.Socket>();
  const mute = net.createServer((sock) => {
    sockets.add(sock);
    sock.on('error', () => {});
  });
  const port = await listenOnLoopback(mute);
  const s = session(`mqtt://127.0.0.1:${port}`, 'gw-mute', {
    connectTimeoutMs: 300,
    backoff: { initialMs: 50, maxMs: 100 },
  });
  const errors: GantryError[] = [];
  s.onError((e) => errors.push(e));
  try {
    s.start();
    const e = await waitFor(() => errors[0], { ms: 10_000, what: 'a connect error' });
    assert.match(e.message, /sent no CONNACK in time/);
    assert.ok(isGantryError(e, 'unavailable'));
  } finally {
    await s.stop();
    for (const sock of sockets) sock.destroy();
    await new Promise((r) => mute.close(r));
  }
});

test('embedded aedes broker: the session falls back to MQTT 3.1.1 and a subscriber gets the birth', async () => {
  const embedded = await startEmbeddedBroker({ port: 0 });
  const s = session(embedded.url, 'gw-embedded');
  const sub = await mqtt.connectAsync(embedded.url, { protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 5000 });
  try {
    const got = new Promise<Buffer>((resolve) => sub.on('message', (_t, p) => resolve(p)));
    await sub.subscribeAsync('gantry/v1/gw-embedded/status', { qos: 1 });
    s.start();
    await online(s, 'session online on aedes');
    assert.is(s.status().protocolVersion, 4);
    const payload = await withTimeout(got, 5000, 'birth through aedes');
    assert.equal(decoded(payload), { state: 'online', ...birth() });
    await s.publish('gantry/v1/gw-embedded/events', encodePayload({ type: 'x' }), { qos: 1 });
  } finally {
    await s.stop();
    await sub.endAsync();
    await embedded.stop();
  }
});

test('embedded broker on a port in use is a clear failed-precondition', async () => {
  const first = await startEmbeddedBroker({ port: 0 });
  try {
    const e = await rejection(startEmbeddedBroker({ port: first.port }));
    assert.ok(isGantryError(e, 'failed-precondition'), String(e));
    assert.match((e as Error).message, /in use/);
  } finally {
    await first.stop();
  }
});

test.run();
