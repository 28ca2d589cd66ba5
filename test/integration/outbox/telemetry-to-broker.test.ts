import path from 'node:path';
import { decode } from 'cbor-x';
import mqtt from 'mqtt';
import * as assert from 'uvu/assert';
import { Drainer, Outbox, type OutboxMessage, publishProperties } from '../../../agent/src/cloud/outbox/index.js';
import { deviceTopics } from '../../../agent/src/cloud/topics.js';
import { TelemetryPipeline } from '../../../agent/src/telemetry/pipeline.js';
import { hostSuite } from '../../helpers/host-tools.js';
import { type Mosquitto, startMosquitto } from '../../helpers/mosquitto.js';
import { waitFor, withTimeout } from '../../helpers/timeout.js';
import { type TempDir, tempDir } from '../../helpers/tmp.js';

const { test } = hostSuite<{ dir: TempDir; broker: Mosquitto }>('telemetry: app samples to a real broker', [
  'mosquitto',
]);

test.before(async (ctx) => {
  ctx.dir = await tempDir('gantry-telemetry-e2e-');
  ctx.broker = await startMosquitto();
});
test.after(async (ctx) => {
  await ctx.broker?.stop();
  await ctx.dir?.cleanup();
});

interface Seen {
  topic: string;
  body: Record<string, unknown>;
  contentType: string | undefined;
  stream: string;
}

test('rules, outbox and drain: an alert, a window and raw samples arrive as CBOR on the contract topics', async ({
  dir,
  broker,
}) => {
  const topics = deviceTopics('dev-1');
  const box = Outbox.open(path.join(dir.path, 'outbox.db'), { capBytes: 1 << 20 });
  const pipeline = new TelemetryPipeline({ outbox: box, topicFor: topics.telemetry, tickMs: 50 });
  pipeline.setRules('hvac', { temp: { windowSec: 1, thresholds: [{ above: 50, name: 'hot' }] } });

  const seen: Seen[] = [];
  const sub = await withTimeout(
    mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: 'cloud', reconnectPeriod: 0 }),
    10_000,
    'subscriber',
  );
  sub.on('message', (topic, payload, packet) => {
    seen.push({
      topic,
      body: decode(payload) as Record<string, unknown>,
      contentType: packet.properties?.contentType,
      stream: String(packet.properties?.userProperties?.stream),
    });
  });
  await sub.subscribeAsync(`${topics.base}/telemetry/#`, { qos: 1 });
  const client = await withTimeout(
    mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: 'gantry-dev-1', reconnectPeriod: 0 }),
    10_000,
    'publisher',
  );
  const drainer = new Drainer(box, (m: OutboxMessage) =>
    client.publishAsync(m.topic, Buffer.from(m.payload), { qos: 1, properties: publishProperties(m) }).then(() => {}),
  );
  drainer.setOnline(true);
  try {
    const now = Date.now();
    await pipeline.publish(
      'hvac',
      'temp',
      [
        { ts: now, value: 20 },
        { ts: now + 1, value: 60 },
      ],
      {},
    );
    await pipeline.publish('hvac', 'door', [{ ts: now, value: 'open' }], { priority: 5 });
    await waitFor(() => (seen.length >= 3 ? true : undefined), { ms: 10_000, what: 'alert, raw sample and window' });

    const temp = `${topics.base}/telemetry/hvac/temp`;
    const alert = seen.find((s) => s.body.kind === 'alert');
    assert.equal(alert && [alert.topic, alert.stream, alert.body.state, alert.body.value], [
      temp,
      'hvac/temp!alert',
      'above',
      60,
    ]);
    const window = seen.find((s) => s.body.kind === 'window');
    assert.equal(window && [window.topic, window.body.count, window.body.max], [temp, 2, 60]);
    const door = seen.find((s) => s.stream === 'hvac/door');
    assert.equal(door?.body, { kind: 'sample', ts: now, value: 'open' });
    assert.ok(seen.every((s) => s.contentType === 'application/cbor'));
    await waitFor(() => (box.stats().queued.count === 0 ? true : undefined), { ms: 5000, what: 'acked' });
    const stats = pipeline.stats();
    assert.is(stats.samplesIn, 3);
    assert.is(stats.messagesOut, 3);
  } finally {
    await pipeline.close();
    await drainer.stop();
    await client.endAsync(true);
    await sub.endAsync(true);
    box.close();
  }
});

test.run();
