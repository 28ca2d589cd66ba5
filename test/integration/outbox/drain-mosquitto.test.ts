import path from 'node:path';
import mqtt from 'mqtt';
import * as assert from 'uvu/assert';
import { Drainer, Outbox, type OutboxMessage, publishProperties } from '../../../agent/src/cloud/outbox/index.js';
import { hostSuite } from '../../helpers/host-tools.js';
import { type RestartableMosquitto, startRestartableMosquitto } from '../../helpers/mosquitto-restartable.js';
import { waitFor, withTimeout } from '../../helpers/timeout.js';
import { type TempDir, tempDir } from '../../helpers/tmp.js';

const { test } = hostSuite<{ dir: TempDir; broker: RestartableMosquitto }>('outbox drain through a real mosquitto', [
  'mosquitto',
]);

test.before(async (ctx) => {
  ctx.dir = await tempDir('gantry-outbox-drain-');
  ctx.broker = await startRestartableMosquitto();
});
test.after(async (ctx) => {
  await ctx.broker?.close();
  await ctx.dir?.cleanup();
});

const TOPIC_FILTER = 'gantry/v1/dev-1/telemetry/#';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Received {
  msgId: string;
  stream: string;
  seq: number;
}

/** An independent subscriber with a persistent session: the broker keeps its messages while it is away. */
async function subscriber(url: string, clientId: string) {
  const got: Received[] = [];
  const client = await withTimeout(
    mqtt.connectAsync(url, {
      protocolVersion: 5,
      clientId,
      clean: false,
      properties: { sessionExpiryInterval: 600 },
      reconnectPeriod: 100,
      connectTimeout: 2000,
    }),
    10_000,
    'subscriber connect',
  );
  client.on('error', () => {}); // reconnects on its own while the broker is down
  client.on('message', (_topic, _payload, packet) => {
    const up = packet.properties?.userProperties ?? {};
    got.push({ msgId: String(up['msg-id']), stream: String(up.stream), seq: Number(up.seq) });
  });
  await client.subscribeAsync(TOPIC_FILTER, { qos: 1 });
  return { client, got };
}

/** The publisher side as the MQTT session will wire it: mqtt.js at QoS 1, link state into the drainer. */
async function publisher(url: string, box: Outbox, window: number) {
  const client = mqtt.connect(url, {
    protocolVersion: 5,
    clientId: 'gantry-dev-1',
    reconnectPeriod: 100,
    connectTimeout: 2000,
  });
  client.on('error', () => {});
  const publish = (msg: OutboxMessage) =>
    client
      .publishAsync(msg.topic, Buffer.from(msg.payload), { qos: 1, properties: publishProperties(msg) })
      .then(() => undefined);
  const drainer = new Drainer(box, publish, { window, retryAfterMs: 100 });
  client.on('connect', () => drainer.setOnline(true));
  client.on('close', () => drainer.setOnline(false));
  return { client, drainer };
}

function enqueueMany(box: Outbox, from: number, n: number): Promise<number[][]> {
  const calls: Array<Promise<number[]>> = [];
  for (let i = from; i < from + n; i++) {
    const stream = `app/s${i % 3}`;
    const alert = i % 250 === 0;
    calls.push(
      box.enqueue([
        {
          topic: `gantry/v1/dev-1/telemetry/app/s${i % 3}`,
          stream: alert ? `${stream}!alert` : stream,
          priority: alert ? 9 : 3,
          payload: Buffer.from(JSON.stringify({ i })),
          contentType: 'application/json',
        },
      ]),
    );
  }
  return Promise.all(calls);
}

test('every message arrives through 3 broker restarts; after dedup by msg-id, in order per stream', async ({
  dir,
  broker,
}) => {
  const box = Outbox.open(path.join(dir.path, 'outbox.db'), { capBytes: 1 << 30 });
  const sub = await subscriber(broker.url, 'cloud-sub-restarts');
  const pub = await publisher(broker.url, box, 64);
  try {
    const ids: number[] = (await enqueueMany(box, 0, 6000)).flat();
    for (let round = 0; round < 3; round++) {
      // Stop the broker mid-drain, store more while it is down, start it again.
      const target = pub.drainer.stats().acked + 800;
      await waitFor(() => (pub.drainer.stats().acked >= target ? true : undefined), {
        ms: 30_000,
        what: `round ${round}: 800 more PUBACKs`,
      });
      await broker.stop();
      ids.push(...(await enqueueMany(box, 6000 + round * 1000, 1000)).flat());
      await sleep(300);
      await broker.start();
    }
    await waitFor(() => (box.stats().queued.count === 0 ? true : undefined), {
      ms: 60_000,
      what: 'the outbox to drain',
    });
    const expected = new Set(ids.map((id) => `${box.epoch}-${id}`));
    await waitFor(() => (new Set(sub.got.map((r) => r.msgId)).size >= expected.size ? true : undefined), {
      ms: 30_000,
      what: `the subscriber to see ${expected.size} distinct messages`,
    });

    const firstSeen = new Map<string, Received>();
    for (const r of sub.got) if (!firstSeen.has(r.msgId)) firstSeen.set(r.msgId, r);
    const missing = [...expected].filter((id) => !firstSeen.has(id));
    assert.equal(missing.slice(0, 10), [], `${missing.length} messages never arrived`);
    assert.is(firstSeen.size, expected.size, 'nothing unexpected arrived');

    const lastSeq = new Map<string, number>();
    for (const r of firstSeen.values()) {
      assert.is(r.seq, (lastSeq.get(r.stream) ?? 0) + 1, `stream ${r.stream}: in order, no gaps`);
      lastSeq.set(r.stream, r.seq);
    }
    assert.equal([...lastSeq.keys()].sort(), [
      'app/s0',
      'app/s0!alert',
      'app/s1',
      'app/s1!alert',
      'app/s2',
      'app/s2!alert',
    ]);
    const s = box.stats();
    assert.is(s.acked, ids.length);
    assert.is(s.evicted.count + s.expired.count, 0);
    process.stderr.write(
      `  drain through restarts: ${ids.length} messages, ${sub.got.length - firstSeen.size} duplicates at the subscriber\n`,
    );
  } finally {
    await pub.drainer.stop();
    await pub.client.endAsync(true);
    await sub.client.endAsync(true);
    box.close();
  }
});

test('disk cap with the broker down: bulk is evicted first, alerts survive, evictions are counted', async ({
  dir,
  broker,
}) => {
  const box = Outbox.open(path.join(dir.path, 'capped.db'), { capBytes: 200 * 100 });
  const sub = await subscriber(broker.url, 'cloud-sub-cap');
  await broker.stop();
  const pub = await publisher(broker.url, box, 32);
  try {
    // ~100 bytes a row; 1000 rows into a 200-row cap while nothing can drain.
    await enqueueMany(box, 0, 1000);
    const s = box.stats();
    assert.ok(s.queued.bytes <= 200 * 100);
    assert.is(s.queued.byPriority[9], 4, 'all 4 alerts are still queued');
    assert.is(s.evicted.byPriority[9], 0);
    assert.ok((s.evicted.byPriority[3] ?? 0) > 700, `evicted ${s.evicted.byPriority[3]} bulk messages`);
    const left = s.queued.count;
    await broker.start();
    await waitFor(() => (box.stats().queued.count === 0 ? true : undefined), { ms: 30_000, what: 'drain' });
    await waitFor(() => (new Set(sub.got.map((r) => r.msgId)).size >= left ? true : undefined), {
      ms: 30_000,
      what: 'the subscriber to get what survived',
    });
    const alerts = new Set(sub.got.filter((r) => r.stream.endsWith('!alert')).map((r) => r.msgId));
    assert.is(alerts.size, 4);
    // What survived of a bulk stream is its newest messages: the seqs at the subscriber are one unbroken run up to the last.
    const s0 = [...new Set(sub.got.filter((r) => r.stream === 'app/s0').map((r) => r.seq))];
    const first = s0[0] ?? 0;
    assert.equal(
      s0,
      s0.map((_, i) => first + i),
    );
    // app/s0 holds i = 0, 3, ... 999 except the alerts at 0 and 750: 332 messages.
    assert.is(s0.at(-1), 332, 'the newest bulk message of app/s0 survived');
  } finally {
    await pub.drainer.stop();
    await pub.client.endAsync(true);
    await sub.client.endAsync(true);
    box.close();
  }
});

test.run();
