import { invalid } from '../errors.js';

/**
 * The per-device MQTT topic tree (docs/mqtt-contract.md is the contract; this
 * file is its one implementation). Pure: names in, topic strings out.
 *
 *   gantry/v1/<device>/status                   device -> cloud, retained (birth / last will)
 *   gantry/v1/<device>/desired                  cloud -> device, retained (signed envelope)
 *   gantry/v1/<device>/reported                 device -> cloud, retained
 *   gantry/v1/<device>/telemetry/<app>/<stream> device -> cloud
 *   gantry/v1/<device>/events                   device -> cloud
 *   gantry/v1/<device>/cmd/<id>                 cloud -> device
 *   gantry/v1/<device>/cmd-result/<id>          device -> cloud
 */
export const TOPIC_ROOT = 'gantry/v1';

/** Every payload under TOPIC_ROOT is CBOR; MQTT 5 sessions also say so in the content type property. */
export const CBOR_CONTENT_TYPE = 'application/cbor';

/**
 * One topic level that we build from a name: it must not be able to add a
 * level (`/`), become a wildcard (`+`, `#`), truncate a C client's string
 * (NUL) or start a `$SYS`-like system topic. A conservative character set
 * rules all of these out at once and keeps topics readable in broker ACLs.
 */
const SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export type SegmentKind = 'device id' | 'app name' | 'stream name' | 'command id';

export function isTopicSegment(value: string): boolean {
  return SEGMENT.test(value);
}

/** Returns `value` if it is safe as one topic level; throws `invalid` naming what it is and why not. */
export function topicSegment(kind: SegmentKind, value: string): string {
  if (SEGMENT.test(value)) return value;
  const why =
    value === ''
      ? 'it is empty'
      : /[+#/\0]/.test(value)
        ? 'it contains a topic separator, wildcard or NUL (/, +, #, \\0)'
        : value.length > 128
          ? 'it is longer than 128 characters'
          : 'only letters, digits, ".", "_" and "-" are allowed, starting with a letter or digit';
  throw invalid(`${kind} ${JSON.stringify(value)} cannot be used in an MQTT topic: ${why}`);
}

/** The topics of one device. Built once per session; every name is checked on the way in. */
export interface DeviceTopics {
  readonly deviceId: string;
  readonly base: string;
  readonly status: string;
  readonly desired: string;
  readonly reported: string;
  readonly events: string;
  /** Subscription filter for commands: `…/cmd/+`. */
  readonly commandFilter: string;
  telemetry(app: string, stream: string): string;
  command(id: string): string;
  commandResult(id: string): string;
}

export function deviceTopics(deviceId: string): DeviceTopics {
  const base = `${TOPIC_ROOT}/${topicSegment('device id', deviceId)}`;
  return {
    deviceId,
    base,
    status: `${base}/status`,
    desired: `${base}/desired`,
    reported: `${base}/reported`,
    events: `${base}/events`,
    commandFilter: `${base}/cmd/+`,
    telemetry: (app, stream) =>
      `${base}/telemetry/${topicSegment('app name', app)}/${topicSegment('stream name', stream)}`,
    command: (id) => `${base}/cmd/${topicSegment('command id', id)}`,
    commandResult: (id) => `${base}/cmd-result/${topicSegment('command id', id)}`,
  };
}

/** What an incoming topic is, for the topics a device subscribes to; undefined for anything else. */
export type IncomingTopic = { kind: 'desired' } | { kind: 'command'; id: string };

export function classifyIncoming(topics: DeviceTopics, topic: string): IncomingTopic | undefined {
  if (topic === topics.desired) return { kind: 'desired' };
  const prefix = `${topics.base}/cmd/`;
  if (topic.startsWith(prefix)) {
    const id = topic.slice(prefix.length);
    if (isTopicSegment(id)) return { kind: 'command', id };
  }
  return undefined;
}
