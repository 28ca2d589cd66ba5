/**
 * The fleet as the broker shows it: every gateway's retained `status` and
 * `reported`, its `events` while we listen, and (before a rollout publishes
 * anything) its retained `desired`. This is all the fleet tool knows; there is
 * no other registry of devices.
 */
import type { MqttClient } from 'mqtt';
import { decodePayload, isPlainObject } from '../../agent/src/cloud/payload.js';
import { isTopicSegment, TOPIC_ROOT } from '../../agent/src/cloud/topics.js';
import type { DeviceEvent, DeviceObservation } from './rollout-machine.js';

export interface DeviceInfo extends DeviceObservation {
  id: string;
  status?: Record<string, unknown>;
  reported?: Record<string, unknown>;
}

const EVENTS_KEPT = 32;
const KINDS = new Set(['status', 'reported', 'events', 'desired']);

export class FleetView {
  private readonly devices = new Map<string, DeviceInfo>();
  /** The retained desired documents (their JSON text) seen while capturing. */
  readonly desired = new Map<string, string>();
  private capturing = false;
  private lastMessageAt = 0;
  private readonly onMessage = (topic: string, payload: Buffer, packet: { retain?: boolean }) =>
    this.handle(topic, payload, packet.retain === true);

  constructor(
    private readonly client: MqttClient,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Subscribe and wait until the retained messages have arrived: the broker
   * sends them right after the SUBACK, so a short quiet spell means done.
   */
  async start(opts: { captureDesired?: boolean; quietMs?: number; maxMs?: number } = {}): Promise<void> {
    this.client.on('message', this.onMessage);
    const filters = [`${TOPIC_ROOT}/+/status`, `${TOPIC_ROOT}/+/reported`, `${TOPIC_ROOT}/+/events`];
    if (opts.captureDesired) {
      this.capturing = true;
      filters.push(`${TOPIC_ROOT}/+/desired`);
    }
    this.lastMessageAt = this.now();
    await this.client.subscribeAsync(filters, { qos: 1 });
    const started = this.now();
    const quiet = opts.quietMs ?? 300;
    const max = opts.maxMs ?? 5000;
    while (this.now() - this.lastMessageAt < quiet && this.now() - started < max) {
      await new Promise((r) => setTimeout(r, 50));
    }
    if (opts.captureDesired) {
      this.capturing = false;
      await this.client.unsubscribeAsync(`${TOPIC_ROOT}/+/desired`);
    }
  }

  stop(): void {
    this.client.off('message', this.onMessage);
  }

  /** The live map of observations (the rollout machine reads it, never writes). */
  observations(): ReadonlyMap<string, DeviceObservation> {
    return this.devices;
  }

  list(): DeviceInfo[] {
    return [...this.devices.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  get(id: string): DeviceInfo | undefined {
    return this.devices.get(id);
  }

  private handle(topic: string, payload: Buffer, retained: boolean): void {
    const parts = topic.split('/');
    if (parts.length !== 4 || `${parts[0]}/${parts[1]}` !== TOPIC_ROOT) return;
    const [, , id, kind] = parts as [string, string, string, string];
    if (!isTopicSegment(id) || !KINDS.has(kind)) return;
    this.lastMessageAt = this.now();
    if (kind === 'desired') {
      if (this.capturing && retained && payload.byteLength > 0) this.captureDesired(id, payload);
      return;
    }
    if (payload.byteLength === 0) return; // a cleared retained message
    let body: unknown;
    try {
      body = decodePayload(payload, topic);
    } catch {
      return; // not ours to judge; a gateway never sends this
    }
    if (!isPlainObject(body)) return;
    const d = this.entry(id);
    if (kind === 'status') {
      d.status = body;
      d.online = body.state === 'online';
    } else if (kind === 'reported') {
      d.reported = body;
      if (isPlainObject(body.deployment)) d.deployment = body.deployment as NonNullable<DeviceInfo['deployment']>;
      if (Array.isArray(body.apps)) {
        d.apps = body.apps.filter(isPlainObject).map((a) => ({
          name: String(a.name),
          state: String(a.state),
          ...(typeof a.revision === 'number' ? { revision: a.revision } : {}),
          ...(typeof a.health === 'string' ? { health: a.health } : {}),
        }));
      }
    } else if (kind === 'events' && (body.type === 'deployment' || body.type === 'rejected')) {
      const e: DeviceEvent = { type: body.type, receivedAt: this.now() };
      if (typeof body.revision === 'number') e.revision = body.revision;
      if (typeof body.outcome === 'string') e.outcome = body.outcome;
      if (typeof body.reason === 'string') e.reason = body.reason;
      if (typeof body.detail === 'string') e.detail = body.detail;
      if (Array.isArray(body.reasons)) e.reasons = body.reasons.map(String);
      const events = [...d.events, e];
      d.events = events.slice(-EVENTS_KEPT);
    }
  }

  private captureDesired(id: string, payload: Buffer): void {
    try {
      // Not verified: it may be signed with a key this operator no longer holds; it is only ever re-signed.
      const env = decodePayload(payload, `retained desired of ${id}`);
      if (isPlainObject(env) && env.doc instanceof Uint8Array) {
        this.desired.set(id, new TextDecoder('utf-8', { fatal: true }).decode(env.doc));
      }
    } catch {
      // an unreadable retained desired is as good as none
    }
  }

  private entry(id: string): DeviceInfo {
    let d = this.devices.get(id);
    if (!d) {
      d = { id, events: [] };
      this.devices.set(id, d);
    }
    return d;
  }
}
