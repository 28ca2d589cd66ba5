import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import * as assert from 'uvu/assert';
import { decodePayload } from '../../../agent/src/cloud/payload.js';
import type { ReportedState } from '../../../agent/src/cloud/reported.js';
import type { DeploymentDocument } from '../../../agent/src/deploy/types.js';
import { buildTestImages } from '../../../scripts/lib/build-test-images.js';
import { startAgent, type TestAgent } from '../../helpers/agent.js';
import { removeAll } from '../../helpers/apps.js';
import { psAll } from '../../helpers/deploy.js';
import { testSigner, writeBytes } from '../../helpers/envelope.js';
import { hostSuite } from '../../helpers/host-tools.js';
import { type Mosquitto, startMosquitto } from '../../helpers/mosquitto.js';
import { type CliSubscriber, cliPublish, cliSubscriber, type SeenMessage } from '../../helpers/mqtt-cli.js';
import { type TempDir, tempDir } from '../../helpers/tmp.js';

interface Ctx {
  dir: TempDir;
  broker: Mosquitto;
  agent: TestAgent;
  sub: CliSubscriber;
  image: string;
  signer: ReturnType<typeof testSigner>;
}

const DEVICE = 'gw-cloud-test';
const T = `gantry/v1/${DEVICE}`;
const { test } = hostSuite<Ctx>('cloud: an agent managed over MQTT (mosquitto, runc, conmon)', [
  'mosquitto',
  'mosquitto_pub',
  'mosquitto_sub',
  'runc',
  'conmon',
  'busybox',
]);

const IDLE = ['sh', '-c', 'trap "exit 0" TERM; while true; do sleep 1; done'];
const doc = (ctx: Ctx, revision: number, apps: string[]): DeploymentDocument => ({
  revision,
  apps: Object.fromEntries(apps.map((a) => [a, { image: ctx.image, command: IDLE, resources: { cpus: 0.25 } }])),
  rollout: { healthyWithinSec: 4 },
});

const decoded = (m: SeenMessage) => decodePayload(m.payload, m.topic) as Record<string, unknown>;

test.before(async (ctx) => {
  ctx.dir = await tempDir('gantry-cloud-agent-');
  const layout = path.join(ctx.dir.path, 'layout');
  await buildTestImages(layout, ['busybox']);
  ctx.image = `oci:${layout}:busybox`;
  ctx.broker = await startMosquitto();
  ctx.signer = testSigner('fleet-1');
  const pub = path.join(ctx.dir.path, 'fleet-1.pub');
  await writeFile(pub, ctx.signer.keys.publicPem);
  const config = path.join(ctx.dir.path, 'agent.json');
  await writeFile(
    config,
    JSON.stringify({
      deviceId: DEVICE,
      cloud: { url: ctx.broker.url, trustedKeys: [{ kid: 'fleet-1', publicKeyFile: pub }] },
    }),
  );
  ctx.sub = await cliSubscriber(ctx.broker.port, [`${T}/#`]);
  ctx.agent = await startAgent({ dataDir: path.join(ctx.dir.path, 'data'), config });
});

test.after(async (ctx) => {
  await ctx.sub?.stop();
  if (ctx.agent) await removeAll(ctx.agent);
  await ctx.agent?.dispose();
  await ctx.broker?.stop();
  await ctx.dir?.cleanup();
});

test('birth, a signed deployment applied and reported; forged, unknown-key and replayed ones refused', async (ctx) => {
  const birth = await ctx.sub.next((m) => m.topic === `${T}/status` && decoded(m).state === 'online', 'birth');
  assert.is(birth.retained || true, true);

  const desired = (name: string, bytes: Uint8Array) =>
    writeBytes(ctx.dir.path, name, bytes).then((file) =>
      cliPublish(ctx.broker.port, `${T}/desired`, { file }, { retain: true }),
    );

  await desired('r1.cbor', ctx.signer.sign(doc(ctx, 1, ['alpha', 'beta'])));
  const applied = await ctx.sub.next(
    (m) => m.topic === `${T}/events` && decoded(m).type === 'deployment' && decoded(m).revision === 1,
    'deployment event for revision 1',
    60_000,
  );
  assert.is(decoded(applied).outcome, 'applied', JSON.stringify(decoded(applied)));
  const reported = await ctx.sub.next(
    (m) => {
      if (m.topic !== `${T}/reported`) return false;
      const r = decoded(m) as unknown as ReportedState;
      return (
        (r.deployment as { revision?: number }).revision === 1 &&
        r.apps.filter((a) => a.state === 'running').length === 2
      );
    },
    'reported state with revision 1 running',
    30_000,
  );
  assert.ok(reported.retained || reported.topic.endsWith('reported'));
  const before = await psAll(ctx.agent);
  assert.is(before.get('alpha')?.status, 'running');

  const rejected = async (name: string, bytes: Uint8Array, reason: string) => {
    const seen = ctx.sub.messages.length;
    await desired(name, bytes);
    const ev = await ctx.sub.next(
      (m) => ctx.sub.messages.indexOf(m) >= seen && m.topic === `${T}/events` && decoded(m).type === 'rejected',
      `rejected event (${reason})`,
    );
    assert.is(decoded(ev).reason, reason, JSON.stringify(decoded(ev)));
  };
  await rejected('forged.cbor', ctx.signer.tampered(doc(ctx, 2, ['alpha'])), 'bad-signature');
  await rejected('stranger.cbor', testSigner('stranger').sign(doc(ctx, 3, ['alpha'])), 'unknown-key');
  // A second accepted revision, then the old one again: a replay.
  await desired('r4.cbor', ctx.signer.sign(doc(ctx, 4, ['alpha', 'beta', 'gamma'])));
  await ctx.sub.next(
    (m) => m.topic === `${T}/events` && decoded(m).type === 'deployment' && decoded(m).revision === 4,
    'revision 4 applied',
    60_000,
  );
  const running = await psAll(ctx.agent);
  await rejected('replay.cbor', ctx.signer.sign(doc(ctx, 1, ['alpha'])), 'replay');
  const after = await psAll(ctx.agent);
  for (const app of ['alpha', 'beta', 'gamma']) {
    assert.is(after.get(app)?.pid, running.get(app)?.pid, `${app} untouched by the refused documents`);
    assert.is(after.get(app)?.revision, 4);
  }
});

test('kill -9 of the agent: the broker publishes the retained offline last will', async (ctx) => {
  const seen = ctx.sub.messages.length;
  ctx.agent.peer.child.kill('SIGKILL');
  await ctx.agent.peer.exited;
  const will = await ctx.sub.next(
    (m) => ctx.sub.messages.indexOf(m) >= seen && m.topic === `${T}/status` && decoded(m).state === 'offline',
    'offline last will',
    // mosquitto sends the will once keepalive * 1.5 passes without the socket, or at once when the socket closes.
    30_000,
  );
  assert.ok(will);
  ctx.agent = await startAgent({ dataDir: ctx.agent.dataDir, config: path.join(ctx.dir.path, 'agent.json') });
  await ctx.sub.next(
    (m) => ctx.sub.messages.indexOf(m) >= seen && m.topic === `${T}/status` && decoded(m).state === 'online',
    'online again after restart',
  );
});

test.run();
