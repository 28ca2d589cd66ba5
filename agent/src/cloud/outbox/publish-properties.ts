import type { IClientPublishOptions } from 'mqtt';
import type { OutboxMessage } from './outbox.js';

export type PublishProperties = NonNullable<IClientPublishOptions['properties']>;

/**
 * MQTT 5 properties that identify an outbox message to the cloud, so the
 * payload stays exactly what the producer encoded:
 *
 *   user property `msg-id`  `<epoch>-<id>`: dedup key (a message not acked
 *                           before a disconnect is sent again);
 *   user property `stream`  the ordering lane (e.g. `meter/temp`, `meter/temp!alert`);
 *   user property `seq`     1, 2, 3 ... within the stream: a gap is a message
 *                           evicted by the cap or expired by its TTL;
 *   content type            as enqueued (`application/cbor` for telemetry);
 *   message expiry          what is left of the TTL, so the broker does not
 *                           deliver it to a late subscriber after it expired.
 */
export function publishProperties(msg: OutboxMessage, now: number = Date.now()): PublishProperties {
  const props: PublishProperties = {
    userProperties: { 'msg-id': msg.msgId, stream: msg.stream, seq: String(msg.seq) },
  };
  if (msg.contentType !== undefined) props.contentType = msg.contentType;
  if (msg.expiresAt !== undefined) props.messageExpiryInterval = Math.max(1, Math.ceil((msg.expiresAt - now) / 1000));
  return props;
}
