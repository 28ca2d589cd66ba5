/**
 * The typed client: one method per protocol method, grouped by what they
 * reach (serial, gpio, sensors, telemetry, config, health).
 */
import { ConnectionError, ProtocolError } from './errors.js';
import type { Link } from './link.js';
import type { EventStream } from './stream.js';
import type {
  AppInfo,
  ConfigSnapshot,
  Edge,
  Framing,
  GpioEvent,
  HeartbeatStatus,
  Sample,
  SensorInfo,
  SensorReading,
  SerialOpenOptions,
} from './types.js';

/** Extra time a device call's request gets beyond the device timeout, for the agent's own work. */
const DEVICE_MARGIN_MS = 5_000;
const DEFAULT_DEVICE_TIMEOUT_MS = 1_000;

/** Options of a serial read. */
export interface ReadOptions {
  /** How long the agent waits for a frame; default 1000 ms, at most 60000. */
  timeoutMs?: number;
}

/** Options of a serial transaction. */
export interface TransactOptions extends ReadOptions {
  /** How to cut the response; default the framing the port was opened with (or the profile's). */
  framing?: Framing;
}

/** A serial port opened with `serial.open`. Valid until closed or until the connection to the agent is lost. */
export class SerialPortHandle {
  /** @internal */
  constructor(
    private readonly link: Link,
    /** The port's logical name. */
    readonly port: string,
    private readonly handle: number,
    private readonly generation: number,
    /** Whether the port was opened exclusively (write/read allowed) or shared (transact only). */
    readonly exclusive: boolean,
  ) {}

  /** Write bytes (exclusive handles only; needs access `rw`). */
  async write(data: Uint8Array): Promise<void> {
    await this.call('serial.write', { data });
  }

  /** The next frame from the port; rejects with TimeoutError when none comes in time (exclusive handles only). */
  async read(opts: ReadOptions = {}): Promise<Uint8Array> {
    const timeoutMs = opts.timeoutMs ?? DEFAULT_DEVICE_TIMEOUT_MS;
    return bytesOf(await this.call('serial.read', { timeoutMs }, timeoutMs + DEVICE_MARGIN_MS));
  }

  /**
   * Write a request and read one response frame, holding the port for the
   * whole exchange so other apps' transactions on the bus never interleave.
   */
  async transact(data: Uint8Array, opts: TransactOptions = {}): Promise<Uint8Array> {
    const timeoutMs = opts.timeoutMs ?? DEFAULT_DEVICE_TIMEOUT_MS;
    const params: Record<string, unknown> = { data, timeoutMs };
    if (opts.framing) params.framing = opts.framing;
    return bytesOf(await this.call('serial.transact', params, timeoutMs + DEVICE_MARGIN_MS));
  }

  /** Release the port. A handle from before a reconnect is already gone: closing it does nothing. */
  async close(): Promise<void> {
    if (this.generation !== this.link.generation) return;
    await this.call('serial.close', {});
  }

  private call(method: string, params: Record<string, unknown>, timeoutMs?: number): Promise<unknown> {
    if (this.generation !== this.link.generation)
      return Promise.reject(
        new ConnectionError(
          `serial handle for ${this.port} was opened before the connection to the agent was lost; open the port again`,
        ),
      );
    return this.link.request(method, { ...params, handle: this.handle }, timeoutMs);
  }
}

/** Serial ports granted to the app in broker mode. */
export class SerialApi {
  /** @internal */
  constructor(private readonly link: Link) {}

  /** Open a port; by default a shared session (transact only), or exclusively with `{exclusive: true}`. */
  async open(port: string, opts: SerialOpenOptions = {}): Promise<SerialPortHandle> {
    const result = (await this.link.request('serial.open', { ...opts, port })) as { handle?: unknown };
    const generation = this.link.generation;
    if (typeof result?.handle !== 'number') throw new ProtocolError('serial.open: the agent answered without a handle');
    return new SerialPortHandle(this.link, port, result.handle, generation, opts.exclusive === true);
  }

  /**
   * One transaction on a shared port without managing a handle: the request
   * bytes out, one response frame back (needs access `rw`).
   */
  async transact(port: string, data: Uint8Array, opts: TransactOptions = {}): Promise<Uint8Array> {
    const timeoutMs = opts.timeoutMs ?? DEFAULT_DEVICE_TIMEOUT_MS;
    const params: Record<string, unknown> = { port, data, timeoutMs };
    if (opts.framing) params.framing = opts.framing;
    return bytesOf(await this.link.request('serial.transact', params, timeoutMs + DEVICE_MARGIN_MS));
  }
}

/** Options of `gpio.watch`. */
export interface WatchOptions {
  /** Which edges to report; default both. */
  edge?: Edge;
  /** Ignore changes shorter than this (contact bounce); default 0. */
  debounceMs?: number;
}

/** GPIO lines granted to the app. */
export class GpioApi {
  /** @internal */
  constructor(private readonly link: Link) {}

  /** The line's level. */
  async read(line: string): Promise<0 | 1> {
    const { value } = (await this.link.request('gpio.read', { line })) as { value: 0 | 1 };
    return value;
  }

  /** Drive an output line (needs access `rw`; the first app to write a line owns it). */
  async write(line: string, value: 0 | 1 | boolean): Promise<void> {
    await this.link.request('gpio.write', { line, value: value === true || value === 1 ? 1 : 0 });
  }

  /** Edges on an input line, as a stream; resubscribed after a reconnect. */
  watch(line: string, opts: WatchOptions = {}): Promise<EventStream<GpioEvent>> {
    return this.link.subscribe<GpioEvent>('gpio.watch', {
      line,
      edge: opts.edge ?? 'both',
      debounceMs: opts.debounceMs ?? 0,
    });
  }
}

/** Sensors granted to the app. */
export class SensorsApi {
  /** @internal */
  constructor(private readonly link: Link) {}

  /** The sensors the app may read. */
  async list(): Promise<SensorInfo[]> {
    const { sensors } = (await this.link.request('sensor.list', {})) as { sensors: SensorInfo[] };
    return sensors;
  }

  /** One reading now. */
  async read(name: string): Promise<SensorReading> {
    return (await this.link.request('sensor.read', { name })) as SensorReading;
  }

  /** Readings every `intervalMs` (default 1000, at least 10), as a stream; resubscribed after a reconnect. */
  subscribe(name: string, opts: { intervalMs?: number } = {}): Promise<EventStream<SensorReading>> {
    return this.link.subscribe<SensorReading>('sensor.subscribe', { name, intervalMs: opts.intervalMs ?? 1_000 });
  }
}

/** Options of a telemetry publish. */
export interface PublishOptions {
  /** Outbox priority 0 (lowest) .. 9; default the stream's rule, else 3. */
  priority?: number;
  /** ms since the epoch of the value (publish) or of samples without their own ts (publishSamples). */
  ts?: number;
}

/** Telemetry out of the app; the agent's rules filter it and its durable queue carries it to the cloud. */
export class TelemetryApi {
  /** @internal */
  constructor(private readonly link: Link) {}

  /** Publish one value on `stream`. Resolves once the agent has committed it durably. */
  async publish(stream: string, value: unknown, opts: PublishOptions = {}): Promise<void> {
    await this.link.request('telemetry.publish', { stream, value, ...opts });
  }

  /** Publish several samples (up to 10000) at once. Resolves once the agent has committed them durably. */
  async publishSamples(stream: string, samples: Sample[], opts: PublishOptions = {}): Promise<void> {
    await this.link.request('telemetry.publish', { stream, samples, ...opts });
  }
}

/** The app's config from its deployment. */
export class ConfigApi {
  /** @internal */
  constructor(private readonly link: Link) {}

  /** The current config. */
  async get<T = unknown>(): Promise<ConfigSnapshot<T>> {
    return (await this.link.request('config.get', {})) as ConfigSnapshot<T>;
  }

  /** The current config first, then each changed config after a redeploy (and after a reconnect, the config then). */
  watch<T = unknown>(): Promise<EventStream<ConfigSnapshot<T>>> {
    return this.link.subscribe<ConfigSnapshot<T>>('config.watch', {});
  }
}

/** The app's own health signal to the agent. */
export class HealthApi {
  /** @internal */
  constructor(private readonly link: Link) {}

  /** Tell the agent the app is alive (`ok`) or limping (`degraded`, with a reason). */
  async heartbeat(status: HeartbeatStatus = 'ok', detail?: string): Promise<void> {
    await this.link.request('health.heartbeat', detail === undefined ? { status } : { status, detail });
  }
}

/** A connection to the agent's eSDK socket; get one with `connect()`. */
export class GantryClient {
  readonly serial: SerialApi;
  readonly gpio: GpioApi;
  readonly sensors: SensorsApi;
  readonly telemetry: TelemetryApi;
  readonly config: ConfigApi;
  readonly health: HealthApi;

  /** @internal */
  constructor(private readonly link: Link) {
    this.serial = new SerialApi(link);
    this.gpio = new GpioApi(link);
    this.sensors = new SensorsApi(link);
    this.telemetry = new TelemetryApi(link);
    this.config = new ConfigApi(link);
    this.health = new HealthApi(link);
  }

  /** The app's name, revision, grants and the agent's version. */
  async info(): Promise<AppInfo> {
    return (await this.link.request('app.info', {})) as AppInfo;
  }

  /** Whether the connection is up now (false while reconnecting). */
  get connected(): boolean {
    return this.link.connected;
  }

  /** The app name the agent knows this connection as (from hello). */
  get app(): string | undefined {
    return this.link.hello?.app;
  }

  /** Close the connection for good: streams end, pending calls fail with ConnectionError. */
  close(): Promise<void> {
    return this.link.close();
  }
}

function bytesOf(result: unknown): Uint8Array {
  const data = (result as { data?: unknown } | null)?.data;
  if (!(data instanceof Uint8Array)) throw new ProtocolError('the agent answered without data bytes');
  return data;
}
