import mqtt, { type IClientOptions, type IClientPublishOptions, type ISubscriptionMap, type MqttClient } from 'mqtt';
import { type GantryError, unavailable } from '../errors.js';
import { type BackoffPolicy, DEFAULT_BACKOFF, reconnectDelay } from './backoff.js';
import { connackCode, describeConnectError, UNSUPPORTED_PROTOCOL_CODES } from './connect-errors.js';
import { encodePayload } from './payload.js';
import { CBOR_CONTENT_TYPE, type DeviceTopics, deviceTopics } from './topics.js';

/**
 * One device's MQTT session (mqtt.js): connect, birth and last will on the
 * status topic, subscriptions restored on every connection, publish that
 * resolves on PUBACK, and reconnects with capped exponential backoff.
 *
 * Choices (docs/mqtt-contract.md, "Session"):
 * - MQTT 5 first. A broker that answers "unsupported protocol version" (aedes
 *   1.x does) gets MQTT 3.1.1 for the rest of the session's life when
 *   `protocol` is 'auto'. Payloads are CBOR either way; only the content-type
 *   and user properties are lost on 3.1.1.
 * - Persistent session (clean start off, session expiry `sessionExpirySec`),
 *   so QoS 1 commands sent while the link was down are delivered when it is
 *   back. Commands carry their own expiry (MQTT 5 message expiry) so stale
 *   ones die in the broker.
 * - mqtt.js's own reconnect is off (its period is fixed): each attempt is a
 *   fresh client after `reconnectDelay(attempt)`. Publishes in flight on a
 *   connection that drops are rejected at once (`unavailable`), never left
 *   hanging: their owner (the outbox) keeps them and publishes again; the
 *   cloud drops the duplicates by message id.
 */
export type ProtocolChoice = 5 | 4 | 'auto';

export interface SessionLog {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface SessionOptions {
  /** mqtt://host:port or mqtts://host:port. */
  url: string;
  deviceId: string;
  /** Default `gantry-<deviceId>`: stable, so the broker keeps the persistent session. */
  clientId?: string;
  protocol?: ProtocolChoice;
  /** PEM bytes. `ca` replaces the system roots; cert+key make it mutual TLS. */
  tls?: { ca?: Buffer; cert?: Buffer; key?: Buffer };
  username?: string;
  password?: string;
  /** Default 60. */
  keepaliveSec?: number;
  /** How long a TCP+TLS+CONNACK may take (default 15000 ms). */
  connectTimeoutMs?: number;
  /** How long the broker keeps our session (subscriptions, queued QoS 1) while we are away. Default 7 days. */
  sessionExpirySec?: number;
  backoff?: Partial<BackoffPolicy>;
  /** The fields of the retained `online` status besides `state` (agent version, model, arch, startedAt). */
  birth: () => Record<string, unknown>;
  /** Restored on every connection. */
  subscriptions: ReadonlyArray<{ filter: string; qos: 0 | 1 }>;
  /** Incoming messages larger than this are dropped (MQTT 5 also tells the broker). Default 1 MiB. */
  maxIncomingBytes?: number;
  log?: SessionLog;
  /** For tests: the jitter source. */
  random?: () => number;
}

export interface PublishOptions {
  qos?: 0 | 1;
  retain?: boolean;
  /** MQTT 5 properties (content type is set to application/cbor unless given); dropped on 3.1.1. */
  properties?: IClientPublishOptions['properties'];
}

export interface IncomingMessage {
  topic: string;
  payload: Buffer;
  contentType?: string;
  retained: boolean;
}

export interface OnlineInfo {
  protocolVersion: 4 | 5;
  sessionPresent: boolean;
}

export interface SessionStatus {
  online: boolean;
  protocolVersion: 4 | 5;
  /** Failed attempts since the last stable connection. */
  attempt: number;
  lastError?: GantryError;
  connectedAt?: number;
}

type Listener<A extends unknown[]> = (...args: A) => void;

class Listeners<A extends unknown[]> {
  private readonly set = new Set<Listener<A>>();
  add(fn: Listener<A>): () => void {
    this.set.add(fn);
    return () => this.set.delete(fn);
  }
  emit(log: SessionLog, ...args: A): void {
    for (const fn of this.set) {
      try {
        fn(...args);
      } catch (e) {
        log.error({ err: e }, 'cloud session listener threw');
      }
    }
  }
}

const NOOP_LOG: SessionLog = { debug() {}, info() {}, warn() {}, error() {} };

export class CloudSession {
  readonly topics: DeviceTopics;
  private readonly opts: SessionOptions;
  private readonly backoff: BackoffPolicy;
  private readonly log: SessionLog;
  private client: MqttClient | undefined;
  private protocolVersion: 4 | 5;
  private online = false;
  private stopping = false;
  private started = false;
  private attempt = 0;
  private connectedAt: number | undefined;
  private lastError: GantryError | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  /** Publishes awaiting their PUBACK on the current connection; rejected when it drops. */
  private readonly inFlight = new Set<(e: Error) => void>();
  private readonly onlineListeners = new Listeners<[OnlineInfo]>();
  private readonly offlineListeners = new Listeners<[GantryError | undefined]>();
  private readonly messageListeners = new Listeners<[IncomingMessage]>();
  private readonly errorListeners = new Listeners<[GantryError]>();
  private readonly retryListeners = new Listeners<[{ attempt: number; delayMs: number }]>();

  constructor(opts: SessionOptions) {
    this.opts = opts;
    this.topics = deviceTopics(opts.deviceId);
    this.backoff = { ...DEFAULT_BACKOFF, ...opts.backoff };
    this.log = opts.log ?? NOOP_LOG;
    this.protocolVersion = opts.protocol === 4 ? 4 : 5;
  }

  /** Begin connecting (returns at once; `onOnline` says when it is up). */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.connect();
  }

  get isOnline(): boolean {
    return this.online;
  }

  status(): SessionStatus {
    return {
      online: this.online,
      protocolVersion: this.protocolVersion,
      attempt: this.attempt,
      ...(this.lastError ? { lastError: this.lastError } : {}),
      ...(this.connectedAt !== undefined ? { connectedAt: this.connectedAt } : {}),
    };
  }

  onOnline(fn: (info: OnlineInfo) => void): () => void {
    return this.onlineListeners.add(fn);
  }
  onOffline(fn: (error: GantryError | undefined) => void): () => void {
    return this.offlineListeners.add(fn);
  }
  onMessage(fn: (msg: IncomingMessage) => void): () => void {
    return this.messageListeners.add(fn);
  }
  /** Every failed attempt or dropped connection, described for an operator. */
  onError(fn: (error: GantryError) => void): () => void {
    return this.errorListeners.add(fn);
  }
  onRetryScheduled(fn: (retry: { attempt: number; delayMs: number }) => void): () => void {
    return this.retryListeners.add(fn);
  }

  /**
   * Publish on the current connection. QoS 1 (the default) resolves on
   * PUBACK; rejects with `unavailable` when offline or when the connection
   * drops first. Never queues: a caller that must not lose the message keeps
   * it until this resolves.
   */
  publish(topic: string, payload: Uint8Array, opts: PublishOptions = {}): Promise<void> {
    const client = this.client;
    if (!this.online || client === undefined) {
      return Promise.reject(unavailable(`not connected to MQTT broker ${this.opts.url}; cannot publish ${topic}`));
    }
    const options: IClientPublishOptions = { qos: opts.qos ?? 1, retain: opts.retain ?? false };
    if (this.protocolVersion === 5) {
      options.properties = { contentType: CBOR_CONTENT_TYPE, ...opts.properties };
    }
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const fail = (e: Error) => {
        if (settled) return;
        settled = true;
        this.inFlight.delete(fail);
        reject(e);
      };
      this.inFlight.add(fail);
      client.publish(topic, Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength), options, (err) => {
        if (err) return fail(unavailable(`publish to ${topic} failed: ${err.message}`, { cause: err }));
        if (settled) return;
        settled = true;
        this.inFlight.delete(fail);
        resolve();
      });
    });
  }

  /**
   * Publish `offline` (a clean shutdown says so itself: a normal DISCONNECT
   * suppresses the last will) and disconnect. Idempotent.
   */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    clearTimeout(this.reconnectTimer);
    const client = this.client;
    if (client === undefined) return;
    if (this.online) {
      try {
        await withDeadline(
          this.publish(this.topics.status, encodePayload({ state: 'offline', reason: 'shutdown', at: nowIso() }), {
            qos: 1,
            retain: true,
          }),
          2000,
        );
      } catch (e) {
        this.log.warn({ err: e }, 'could not publish offline status at shutdown');
      }
    }
    await withDeadline(client.endAsync(false), 2000).catch(() => client.end(true));
    this.dropConnection(client, undefined);
  }

  private connect(): void {
    if (this.stopping) return;
    const client = mqtt.connect(this.opts.url, this.clientOptions());
    this.client = client;
    this.log.debug({ url: this.opts.url, protocolVersion: this.protocolVersion }, 'connecting to MQTT broker');

    let failure: GantryError | undefined;
    let closed = false;
    client.on('connect', (connack) => {
      if (this.client !== client) return;
      void this.connected(client, connack.sessionPresent === true);
    });
    client.on('message', (topic, payload, packet) => {
      if (this.client !== client) return;
      const max = this.opts.maxIncomingBytes ?? 1024 * 1024;
      if (payload.byteLength > max) {
        this.log.warn({ topic, bytes: payload.byteLength }, 'dropped an incoming MQTT message over the size limit');
        return;
      }
      const contentType = packet.properties?.contentType;
      this.messageListeners.emit(this.log, {
        topic,
        payload,
        retained: packet.retain === true,
        ...(contentType !== undefined ? { contentType } : {}),
      });
    });
    client.on('error', (e) => {
      if (this.client !== client) return;
      const code = connackCode(e);
      if (code !== undefined && UNSUPPORTED_PROTOCOL_CODES.has(code) && this.canFallBack()) {
        this.log.warn(
          { url: this.opts.url },
          'broker does not speak MQTT 5; using MQTT 3.1.1 (no content type property)',
        );
        this.protocolVersion = 4;
        this.attempt = -1; // the retry with 3.1.1 is not a failure to back off from
      }
      failure = describeConnectError(e, this.opts.url);
      this.lastError = failure;
      this.errorListeners.emit(this.log, failure);
    });
    client.on('close', () => {
      if (this.client !== client || closed) return;
      closed = true;
      this.dropConnection(client, failure);
      failure = undefined;
      this.scheduleReconnect();
    });
  }

  private canFallBack(): boolean {
    return (this.opts.protocol ?? 'auto') === 'auto' && this.protocolVersion === 5 && !this.online;
  }

  private async connected(client: MqttClient, sessionPresent: boolean): Promise<void> {
    this.connectedAt = Date.now();
    this.lastError = undefined;
    try {
      if (this.opts.subscriptions.length > 0) {
        const map: ISubscriptionMap = {};
        for (const s of this.opts.subscriptions) map[s.filter] = { qos: s.qos };
        const granted = await client.subscribeAsync(map);
        for (const g of granted) {
          if (g.qos === 128) this.log.error({ topic: g.topic }, 'broker refused a subscription (check its ACL)');
        }
      }
      this.online = true; // publish() needs it; nobody else hears of it before the birth is out
      await this.publish(this.topics.status, encodePayload({ state: 'online', ...this.opts.birth() }), {
        qos: 1,
        retain: true,
      });
    } catch (e) {
      if (this.client !== client) return;
      this.online = false;
      this.log.warn({ err: e }, 'MQTT connection failed during setup; reconnecting');
      client.end(true); // 'close' schedules the retry
      return;
    }
    if (this.client !== client || this.stopping) return;
    this.log.info({ url: this.opts.url, protocolVersion: this.protocolVersion, sessionPresent }, 'cloud online');
    this.onlineListeners.emit(this.log, { protocolVersion: this.protocolVersion, sessionPresent });
  }

  private dropConnection(client: MqttClient, error: GantryError | undefined): void {
    const lost = unavailable(`connection to MQTT broker ${this.opts.url} closed before PUBACK`, { cause: error });
    for (const fail of [...this.inFlight]) fail(lost);
    client.removeAllListeners('message');
    client.removeAllListeners('connect');
    client.on('error', () => {}); // late errors of a dead client must not crash the process
    if (this.connectedAt !== undefined && Date.now() - this.connectedAt >= this.backoff.stableAfterMs) {
      this.attempt = 0;
    }
    this.connectedAt = undefined;
    if (this.online) {
      this.online = false;
      this.log.warn({ err: error?.message }, 'cloud offline');
      this.offlineListeners.emit(this.log, error);
    }
  }

  private scheduleReconnect(): void {
    if (this.stopping) return;
    this.client?.end(true);
    // attempt -1: switching protocol version, which is not a failure to back off from.
    const delayMs =
      this.attempt < 0 ? 0 : reconnectDelay(this.attempt, this.backoff, (this.opts.random ?? Math.random)());
    this.attempt += 1;
    this.retryListeners.emit(this.log, { attempt: this.attempt, delayMs });
    this.log.debug({ attempt: this.attempt, delayMs }, 'reconnecting to MQTT broker after a delay');
    this.reconnectTimer = setTimeout(() => this.connect(), delayMs);
  }

  private clientOptions(): IClientOptions {
    const o = this.opts;
    const will = encodePayload({ state: 'offline', reason: 'connection-lost' });
    const options: IClientOptions = {
      protocolVersion: this.protocolVersion,
      clientId: o.clientId ?? `gantry-${o.deviceId}`,
      clean: false,
      keepalive: o.keepaliveSec ?? 60,
      connectTimeout: o.connectTimeoutMs ?? 15_000,
      reconnectPeriod: 0,
      resubscribe: false,
      will: {
        topic: this.topics.status,
        payload: Buffer.from(will),
        qos: 1,
        retain: true,
        ...(this.protocolVersion === 5 ? { properties: { contentType: CBOR_CONTENT_TYPE } } : {}),
      },
      rejectUnauthorized: true,
    };
    if (this.protocolVersion === 5) {
      options.properties = {
        sessionExpiryInterval: o.sessionExpirySec ?? 7 * 24 * 3600,
        maximumPacketSize: (o.maxIncomingBytes ?? 1024 * 1024) + 1024,
      };
    }
    if (o.username !== undefined) options.username = o.username;
    if (o.password !== undefined) options.password = o.password;
    if (o.tls?.ca) options.ca = o.tls.ca;
    if (o.tls?.cert) options.cert = o.tls.cert;
    if (o.tls?.key) options.key = o.tls.key;
    return options;
  }
}

function nowIso(): string {
  return new Date().toISOString();
}

function withDeadline<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
