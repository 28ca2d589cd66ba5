import { unavailable } from '../../errors.js';
import { Drainer, type DrainerOptions, type DrainerStats, type DrainSource } from './drainer.js';
import type { OutboxMessage } from './outbox.js';
import { type PublishProperties, publishProperties } from './publish-properties.js';

/** The MQTT session's publish: resolves on PUBACK, rejects when offline or when the connection drops first. */
export type SessionPublish = (
  topic: string,
  payload: Uint8Array,
  opts?: { qos?: 0 | 1; properties?: PublishProperties },
) => Promise<void>;

/**
 * The outbox's side of the session's outbox hook (cloud/index.ts OutboxHook):
 * the session hands over its publish when it comes online and says when it
 * goes offline; a Drainer does the rest. Each message goes at QoS 1 with its
 * msg-id, stream and seq as user properties (publish-properties.ts).
 */
export class OutboxLink {
  readonly drainer: Drainer;
  private publish: SessionPublish | undefined;

  constructor(source: DrainSource, opts: DrainerOptions = {}) {
    this.drainer = new Drainer(source, (msg) => this.publishOne(msg), opts);
  }

  onOnline(publish: SessionPublish): void {
    this.publish = publish;
    this.drainer.setOnline(true);
  }

  onOffline(): void {
    this.drainer.setOnline(false);
  }

  stats(): DrainerStats {
    return this.drainer.stats();
  }

  /** Stop draining and wait for the publishes in flight to settle. */
  stop(): Promise<void> {
    return this.drainer.stop();
  }

  private publishOne(msg: OutboxMessage): Promise<void> {
    const publish = this.publish;
    if (!publish) return Promise.reject(unavailable('outbox: no MQTT session to publish through yet'));
    return publish(msg.topic, msg.payload, { qos: 1, properties: publishProperties(msg) });
  }
}
