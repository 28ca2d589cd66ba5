import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import * as assert from 'uvu/assert';
import { resolveCloudConfig } from '../../../agent/src/cloud/config.js';
import { type Cloud, type PublishFn, startCloud } from '../../../agent/src/cloud/index.js';
import type { DeploymentSink } from '../../../agent/src/cloud/intake.js';
import { decodePayload, encodePayload } from '../../../agent/src/cloud/payload.js';
import { systemResources } from '../../../agent/src/cloud/system-resources.js';
import { invalid } from '../../../agent/src/errors.js';
import { testSigner, writeBytes } from '../../helpers/envelope.js';
import { hostSuite } from '../../helpers/host-tools.js';
import { type Mosquitto, startMosquitto } from '../../helpers/mosquitto.js';
import { type CliSubscriber, cliPublish, cliSubscriber, type SeenMessage } from '../../helpers/mqtt-cli.js';
import { withTimeout } from '../../helpers/timeout.js';
import { type TempDir, tempDir } from '../../helpers/tmp.js';

/**
 * The cloud module wired by startCloud, against a real mosquitto, driven and
 * observed only through mosquitto_pub / mosquitto_sub.
 */
interface Ctx {
  broker: Mosquitto;
  dir: TempDir;
  cloud: Cloud;
  sub: CliSubscriber;
  applied: unknown[];
  restarts: string[];
  outboxPublish: PublishFn | undefined;
}

const DEVICE = 'gw-cloud-1';
const T = `gantry/v1/${DEVICE}`;
const signer = testSigner('fleet-ops-1');

const { test } = hostSuite<Ctx>('cloud: desired state, events, reported state and commands over mosquitto', [
  'mosquitto',
  'mosquitto_sub',
  'mosquitto_pub',
]);

test.before(async (ctx) => {
  ctx.broker = await startMosquitto();
  ctx.dir = await tempDir('gantry-cloud-');
  ctx.applied = [];
  ctx.restarts = [];
  const keyFile = path.join(ctx.dir.path, 'fleet-ops-1.pub.pem');
  await writeFile(keyFile, signer.keys.publicPem);
  const config = await resolveCloudConfig({
    url: ctx.broker.url,
    trustedKeys: [{ kid: signer.kid, publicKeyFile: keyFile }],
    reportIntervalCron: '0 0 1 1 *', // effectively never during the test: on-demand and on-change only
  });
  let current: number | undefined;
  const sink: DeploymentSink = {
    currentRevision: () => current,
    async apply(doc) {
      ctx.applied.push(doc);
      const d = doc as { revision: number; apps?: unknown };
      if (typeof d.apps !== 'object') throw invalid('deployment document /apps: must be an object');
      current = d.revision;
      return { revision: d.revision, outcome: 'applied', reasons: [] };
    },
  };
  ctx.sub = await cliSubscriber(ctx.broker.port, [`${T}/#`]);
  ctx.cloud = await startCloud({
    config,
    deviceId: DEVICE,
    identity: { agentVersion: '0.1.0', model: 'ec-iot-arm', arch: 'arm' },
    sink,
    reported: {
      apps: async () => [
        {
          name: 'meter-reader',
          revision: current,
          imageDigest: `sha256:${'c'.repeat(64)}`,
          state: 'running',
          restarts: 0,
          oomKills: 0,
        },
      ],
      resources: systemResources(ctx.dir.path),
      agent: () => ({ version: '0.1.0', uptimeSec: 1, deviceId: DEVICE, model: 'ec-iot-arm', arch: 'arm' }),
      extra: () => ({ outbox: { queued: 0 } }),
    },
    commands: {
      'restart-app': async (args) => {
        const app = (args as { app?: unknown } | undefined)?.app;
        if (typeof app !== 'string') throw invalid('restart-app needs args.app');
        ctx.restarts.push(app);
        return { restarted: app };
      },
      hang: () => new Promise(() => {}),
    },
    outbox: {
      onOnline: (publish) => {
        ctx.outboxPublish = publish;
      },
      onOffline: () => {
        ctx.outboxPublish = undefined;
      },
    },
    reportDebounceMs: 50,
    backoff: { initialMs: 100, maxMs: 500 },
  });
  await withTimeout(
    new Promise<void>((r) => (ctx.cloud.session.isOnline ? r() : ctx.cloud.session.onOnline(() => r()))),
    10_000,
    'cloud online',
  );
});
test.after(async (ctx) => {
  await ctx.cloud?.stop();
  await ctx.sub?.stop();
  await ctx.broker?.stop();
  await ctx.dir?.cleanup();
});

const body = (m: SeenMessage) => decodePayload(m.payload, m.topic) as Record<string, unknown>;

/** Publish bytes with mosquitto_pub from a file, as an independent cloud would. */
async function publishFile(ctx: Ctx, topic: string, bytes: Uint8Array, retain: boolean): Promise<void> {
  const file = await writeBytes(ctx.dir.path, `msg-${Date.now()}-${Math.random()}.cbor`, bytes);
  await cliPublish(ctx.broker.port, topic, { file }, { qos: 1, retain, contentType: 'application/cbor' });
}

/** The next `events` message after `from` messages that matches. */
function event(ctx: Ctx, from: number, match: (e: Record<string, unknown>) => boolean, what: string) {
  return ctx.sub
    .next((m) => ctx.sub.messages.indexOf(m) >= from && m.topic === `${T}/events` && match(body(m)), what)
    .then(body);
}

test('birth status and a first reported state are retained CBOR', async (ctx) => {
  const status = await ctx.sub.next((m) => m.topic === `${T}/status`, 'status');
  assert.equal(body(status).state, 'online');
  assert.is(body(status).agentVersion, '0.1.0');
  assert.is(body(status).model, 'ec-iot-arm');
  const reported = await ctx.sub.next((m) => m.topic === `${T}/reported`, 'reported');
  assert.is(reported.contentType, 'application/cbor');
  const r = body(reported);
  assert.is(r.v, 1);
  assert.equal((r.agent as Record<string, unknown>).deviceId, DEVICE);
  const res = r.resources as { memory: { totalBytes: number }; disk: { totalBytes: number }; cpuPercent: number };
  assert.ok(res.memory.totalBytes > 0, 'memory from systeminformation');
  assert.ok(res.disk.totalBytes > 0, 'disk from statfs of the data dir');
  assert.type(res.cpuPercent, 'number');
});

test('a desired state from mosquitto_pub is verified, applied, and its outcome reported', async (ctx) => {
  const from = ctx.sub.messages.length;
  const doc = { revision: 1, apps: { 'meter-reader': { image: `meter@sha256:${'c'.repeat(64)}` } } };
  await publishFile(ctx, `${T}/desired`, signer.sign(doc), true);
  const e = await event(ctx, from, (x) => x.type === 'deployment', 'deployment event');
  assert.equal(
    { ...e, at: undefined },
    {
      type: 'deployment',
      revision: 1,
      outcome: 'applied',
      reasons: [],
      source: 'cloud',
      kid: signer.kid,
      at: undefined,
    },
  );
  assert.equal(ctx.applied, [doc]);
  const reported = await ctx.sub.next(
    (m) =>
      ctx.sub.messages.indexOf(m) >= from &&
      m.topic === `${T}/reported` &&
      (body(m).deployment as { revision?: number }).revision === 1,
    'reported state with revision 1',
  );
  assert.is((body(reported).apps as Array<{ revision?: number }>)[0]?.revision, 1);
});

test('tampered, unknown-key, unsigned and replayed desired states are rejected; nothing is applied', async (ctx) => {
  const before = ctx.applied.length;
  const stranger = testSigner('unknown-kid');
  const cases: Array<[string, Uint8Array, string]> = [
    ['tampered', signer.tampered({ revision: 2, apps: {} }), 'bad-signature'],
    ['unknown key', stranger.sign({ revision: 2, apps: {} }), 'unknown-key'],
    ['unsigned JSON', Buffer.from(JSON.stringify({ revision: 2, apps: {} })), 'malformed'],
    ['invalid document', signer.sign({ revision: 2, apps: 'none' }), 'invalid'],
  ];
  for (const [what, bytes, reason] of cases) {
    const from = ctx.sub.messages.length;
    await publishFile(ctx, `${T}/desired`, bytes, true);
    const e = await event(ctx, from, (x) => x.type === 'rejected', `rejected event for ${what}`);
    assert.is(e.reason, reason, what);
    assert.type(e.detail, 'string');
  }
  // The invalid document was handed to apply (which validates) but nothing was applied.
  assert.is(ctx.applied.length, before + 1);

  const okFrom = ctx.sub.messages.length;
  await publishFile(ctx, `${T}/desired`, signer.sign({ revision: 3, apps: {} }), true);
  await event(ctx, okFrom, (x) => x.type === 'deployment' && x.revision === 3, 'revision 3 applied');

  const replayFrom = ctx.sub.messages.length;
  await publishFile(ctx, `${T}/desired`, signer.sign({ revision: 1, apps: {} }), true);
  const replay = await event(ctx, replayFrom, (x) => x.type === 'rejected', 'replay rejected');
  assert.is(replay.reason, 'replay');
  assert.is(replay.revision, 1);
  assert.is(replay.kid, signer.kid);
  assert.is(ctx.applied.length, before + 2, 'only revision 3 reached the sink besides the invalid one');

  // Leave the current revision as the retained desired: re-delivery of it is a no-op.
  const sameFrom = ctx.sub.messages.length;
  await publishFile(ctx, `${T}/desired`, signer.sign({ revision: 3, apps: {} }), true);
  await ctx.cloud.emitEvent({ type: 'marker', at: new Date().toISOString() });
  await event(ctx, sameFrom, (x) => x.type === 'marker', 'marker event');
  const between = ctx.sub.messages
    .slice(sameFrom)
    .filter((m) => m.topic === `${T}/events` && body(m).type !== 'marker');
  assert.is(between.length, 0, 'the current revision re-delivered produces no event');
  assert.is(ctx.applied.length, before + 2);
});

test('commands: result, unknown command, timeout, and at most once per id', async (ctx) => {
  const result = async (id: string) =>
    body(await ctx.sub.next((m) => m.topic === `${T}/cmd-result/${id}`, `result of ${id}`));

  await publishFile(ctx, `${T}/cmd/c-1`, encodePayload({ name: 'restart-app', args: { app: 'meter-reader' } }), false);
  assert.equal(await result('c-1'), { ok: true, result: { restarted: 'meter-reader' } });

  await publishFile(ctx, `${T}/cmd/c-2`, encodePayload({ name: 'self-destruct' }), false);
  const unknown = await result('c-2');
  assert.is(unknown.ok, false);
  assert.is((unknown.error as { code: string }).code, 'unknown-command');

  await publishFile(ctx, `${T}/cmd/c-3`, encodePayload({ name: 'hang', timeoutSec: 0.3 }), false);
  const timedOut = await result('c-3');
  assert.equal(timedOut, {
    ok: false,
    error: { code: 'timeout', message: 'command hang did not finish within 0.3 s' },
  });

  await publishFile(ctx, `${T}/cmd/c-4`, encodePayload({ name: 'restart-app', args: {} }), false);
  assert.is(((await result('c-4')).error as { code: string }).code, 'invalid');

  // Redelivery of c-1: the result is sent again, the app is not restarted twice.
  const from = ctx.sub.messages.length;
  await publishFile(ctx, `${T}/cmd/c-1`, encodePayload({ name: 'restart-app', args: { app: 'meter-reader' } }), false);
  await ctx.sub.next(
    (m) => ctx.sub.messages.indexOf(m) >= from && m.topic === `${T}/cmd-result/c-1`,
    'repeated result',
  );
  assert.equal(ctx.restarts, ['meter-reader']);
});

test('resend-state is built in: it publishes the reported state again', async (ctx) => {
  const from = ctx.sub.messages.length;
  await publishFile(ctx, `${T}/cmd/r-1`, encodePayload({ name: 'resend-state' }), false);
  const r = body(await ctx.sub.next((m) => m.topic === `${T}/cmd-result/r-1`, 'resend-state result'));
  assert.equal(r, { ok: true, result: { resent: true } });
  const reported = await ctx.sub.next(
    (m) => ctx.sub.messages.indexOf(m) >= from && m.topic === `${T}/reported`,
    'reported after resend-state',
  );
  assert.equal((body(reported).deployment as { revision: number }).revision, 3);
});

test('the outbox hook gets a publish that resolves on PUBACK, and loses it when the cloud stops', async (ctx) => {
  const publish = ctx.outboxPublish;
  assert.ok(publish, 'onOnline handed the outbox a publish function');
  await publish(`${T}/telemetry/meter-reader/power`, encodePayload({ seq: 1, v: 4.2 }), {
    qos: 1,
    properties: { userProperties: { 'msg-id': '1' } },
  });
  const m = await ctx.sub.next((x) => x.topic === `${T}/telemetry/meter-reader/power`, 'telemetry via the hook');
  assert.equal(body(m), { seq: 1, v: 4.2 });
  assert.is(m.contentType, 'application/cbor');
});

test.run();
