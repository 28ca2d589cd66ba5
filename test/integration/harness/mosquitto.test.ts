import mqtt from 'mqtt';
import * as assert from 'uvu/assert';
import { hostSuite } from '../../helpers/host-tools.js';
import { type Mosquitto, startMosquitto } from '../../helpers/mosquitto.js';
import { withTimeout } from '../../helpers/timeout.js';

const { test } = hostSuite<{ broker: Mosquitto }>('harness: mosquitto + mqtt.js', ['mosquitto']);

test.before(async (ctx) => {
  ctx.broker = await startMosquitto();
});
test.after(async (ctx) => {
  await ctx.broker?.stop();
});

function connect(url: string, clientId: string): Promise<mqtt.MqttClient> {
  return withTimeout(
    mqtt.connectAsync(url, { protocolVersion: 5, clientId, reconnectPeriod: 0, connectTimeout: 5000 }),
    10_000,
    `mqtt connect ${clientId}`,
  );
}

test('MQTT 5 round trip at QoS 1 with a content type', async ({ broker }) => {
  const sub = await connect(broker.url, 'harness-sub');
  const pub = await connect(broker.url, 'harness-pub');
  try {
    const received = new Promise<{ topic: string; payload: Buffer; contentType?: string }>((resolve) => {
      sub.on('message', (topic, payload, packet) => {
        resolve(
          packet.properties?.contentType
            ? { topic, payload, contentType: packet.properties.contentType }
            : { topic, payload },
        );
      });
    });
    await sub.subscribeAsync('gantry/v1/test/#', { qos: 1 });
    const body = Buffer.from([0xa1, 0x61, 0x78, 0x01]); // CBOR {"x": 1}
    await pub.publishAsync('gantry/v1/test/telemetry', body, {
      qos: 1,
      properties: { contentType: 'application/cbor' },
    });
    const msg = await withTimeout(received, 5000, 'message through mosquitto');
    assert.is(msg.topic, 'gantry/v1/test/telemetry');
    assert.equal([...msg.payload], [...body]);
    assert.is(msg.contentType, 'application/cbor');
  } finally {
    await Promise.all([sub.endAsync(), pub.endAsync()]);
  }
});

test('retained messages reach a later subscriber', async ({ broker }) => {
  const pub = await connect(broker.url, 'harness-retain-pub');
  await pub.publishAsync('gantry/v1/dev-1/status', 'online', { qos: 1, retain: true });
  await pub.endAsync();
  const sub = await connect(broker.url, 'harness-retain-sub');
  try {
    const got = new Promise<string>((resolve) => sub.on('message', (_t, p) => resolve(p.toString())));
    await sub.subscribeAsync('gantry/v1/dev-1/status', { qos: 1 });
    assert.is(await withTimeout(got, 5000, 'retained status'), 'online');
  } finally {
    await sub.endAsync();
  }
});

test.run();
