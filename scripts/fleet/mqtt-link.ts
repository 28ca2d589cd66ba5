/**
 * The fleet tool's MQTT client (mqtt.js, MQTT 5): connect, publish desired
 * states, send a command and wait for its result. Topics and payloads come
 * from the agent's own contract code (topics.ts, payload.ts), so the tool
 * and the gateways cannot drift apart.
 */
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { decodePayload, encodePayload, isPlainObject } from '../../agent/src/cloud/payload.js';
import { CBOR_CONTENT_TYPE, deviceTopics } from '../../agent/src/cloud/topics.js';
import { invalid, messageOf, unavailable } from '../../agent/src/errors.js';

export interface BrokerOptions {
  url: string;
  /** PEM CA bundle for an mqtts:// broker. */
  caFile?: string;
  username?: string;
  password?: string;
  connectTimeoutMs?: number;
}

export async function connectBroker(opts: BrokerOptions): Promise<MqttClient> {
  const options: IClientOptions = {
    protocolVersion: 5,
    clientId: `gantry-fleet-${randomUUID().slice(0, 8)}`,
    clean: true,
    keepalive: 30,
    connectTimeout: opts.connectTimeoutMs ?? 10_000,
    reconnectPeriod: 1000,
    resubscribe: true,
  };
  if (opts.caFile) options.ca = await readFile(opts.caFile);
  if (opts.username !== undefined) options.username = opts.username;
  if (opts.password !== undefined) options.password = opts.password;
  const client = mqtt.connect(opts.url, options);
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no CONNACK within ${options.connectTimeout} ms`)),
        options.connectTimeout,
      );
      client.once('connect', () => {
        clearTimeout(timer);
        resolve();
      });
      client.once('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
    });
  } catch (e) {
    client.end(true);
    throw unavailable(`cannot connect to MQTT broker ${opts.url}: ${messageOf(e)}`, { cause: e });
  }
  client.on('error', () => {}); // reconnects are mqtt.js's business; errors must not crash the tool
  return client;
}

/** Publish one gateway's desired state: retained, QoS 1, content type CBOR. Resolves on PUBACK. */
export async function publishDesired(client: MqttClient, deviceId: string, envelope: Uint8Array): Promise<void> {
  await client.publishAsync(deviceTopics(deviceId).desired, Buffer.from(envelope), {
    qos: 1,
    retain: true,
    properties: { contentType: CBOR_CONTENT_TYPE },
  });
}

/** Publish to many gateways with a bound on messages in flight. */
export async function publishMany(
  items: ReadonlyArray<{ id: string; envelope: Uint8Array }>,
  client: MqttClient,
  inFlight = 256,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(inFlight, items.length) }, async () => {
      while (next < items.length) {
        const item = items[next++] as { id: string; envelope: Uint8Array };
        await publishDesired(client, item.id, item.envelope);
      }
    }),
  );
}

export type CommandOutcome = { ok: true; result?: unknown } | { ok: false; error: { code: string; message: string } };

/**
 * Send `cmd/<id>` and wait for `cmd-result/<id>`. The command carries a
 * message expiry of its timeout, so a gateway that is offline does not run
 * it hours later.
 */
export async function sendCommand(
  client: MqttClient,
  deviceId: string,
  name: string,
  args: unknown,
  timeoutSec: number,
): Promise<CommandOutcome> {
  const topics = deviceTopics(deviceId);
  const id = randomUUID();
  const resultTopic = topics.commandResult(id);
  const answer = new Promise<CommandOutcome>((resolve, reject) => {
    const timer = setTimeout(
      () => {
        client.off('message', onMessage);
        reject(
          unavailable(
            `${deviceId} did not answer ${name} within ${timeoutSec + 5} s (offline, or not subscribed to its commands)`,
          ),
        );
      },
      (timeoutSec + 5) * 1000,
    );
    const onMessage = (topic: string, payload: Buffer) => {
      if (topic !== resultTopic) return;
      clearTimeout(timer);
      client.off('message', onMessage);
      try {
        const r = decodePayload(payload, `result of command ${id}`);
        if (!isPlainObject(r) || typeof r.ok !== 'boolean') throw invalid(`result of command ${id} is not {ok, ...}`);
        resolve(r as CommandOutcome);
      } catch (e) {
        reject(e);
      }
    };
    client.on('message', onMessage);
  });
  await client.subscribeAsync(resultTopic, { qos: 1 });
  await client.publishAsync(topics.command(id), Buffer.from(encodePayload({ name, args, timeoutSec })), {
    qos: 1,
    properties: { contentType: CBOR_CONTENT_TYPE, messageExpiryInterval: timeoutSec },
  });
  try {
    return await answer;
  } finally {
    await client.unsubscribeAsync(resultTopic).catch(() => undefined);
  }
}
