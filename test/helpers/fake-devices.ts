/**
 * In-memory stand-ins for the eSDK server's backends (devices/, the telemetry
 * sink, health): every call is recorded, so a test can assert that a denied
 * request reached nothing, and events are fired by hand.
 */
import { pino } from 'pino';
import type {
  Devices,
  Edge,
  GpioEvent,
  SensorInfo,
  SensorReading,
  SerialOpenOptions,
  SerialSession,
  SerialSharing,
} from '../../agent/src/devices/types.js';
import type { AppContext, EsdkBackends, HeartbeatStatus, TelemetrySink } from '../../agent/src/esdk/backends.js';

export interface DeviceCall {
  op: string;
  args: unknown[];
}

export class FakeDevices implements Devices {
  readonly calls: DeviceCall[] = [];
  readonly levels = new Map<string, 0 | 1>();
  readonly gpioWatchers = new Map<string, Set<(e: GpioEvent) => void>>();
  readonly sensorSubs = new Map<string, Set<(r: SensorReading) => void>>();
  readonly openSessions = new Set<FakeSerialSession>();
  /** What a transact answers: by default the request reversed. */
  responder: (port: string, request: Uint8Array) => Promise<Uint8Array> | Uint8Array = (_p, r) =>
    Uint8Array.from(r).reverse();
  sensorInfos: SensorInfo[] = [
    { name: 'cpu-temp', kind: 'thermal', unit: '°C' },
    { name: 'board-temp', kind: 'hwmon', unit: '°C' },
  ];

  private record(op: string, ...args: unknown[]): void {
    this.calls.push({ op, args });
  }

  readonly serial = {
    list: () => [{ name: 'rs485-1', kind: 'rs485', baudRates: [9600, 19200] }],
    open: async (
      port: string,
      owner: string,
      sharing: SerialSharing,
      opts?: SerialOpenOptions,
    ): Promise<SerialSession> => {
      this.record('serial.open', port, owner, sharing, opts);
      const s = new FakeSerialSession(this, port, owner, sharing);
      this.openSessions.add(s);
      return s;
    },
  };

  readonly gpio = {
    list: () => [
      { name: 'di-1', direction: 'in' as const },
      { name: 'do-1', direction: 'out' as const },
    ],
    read: async (line: string): Promise<0 | 1> => {
      this.record('gpio.read', line);
      return this.levels.get(line) ?? 0;
    },
    write: async (line: string, owner: string, value: 0 | 1): Promise<void> => {
      this.record('gpio.write', line, owner, value);
      this.levels.set(line, value);
    },
    watch: (line: string, edge: Edge, debounceMs: number, onEvent: (e: GpioEvent) => void): (() => void) => {
      this.record('gpio.watch', line, edge, debounceMs);
      const set = this.gpioWatchers.get(line) ?? new Set<(e: GpioEvent) => void>();
      this.gpioWatchers.set(line, set);
      set.add(onEvent);
      return () => {
        this.record('gpio.unwatch', line);
        set.delete(onEvent);
      };
    },
  };

  readonly sensors = {
    list: () => this.sensorInfos,
    read: async (name: string): Promise<SensorReading> => {
      this.record('sensor.read', name);
      return { sensor: name, value: 42.5, unit: '°C', ts: 1_700_000_000_000 };
    },
    subscribe: (name: string, intervalMs: number, onReading: (r: SensorReading) => void): (() => void) => {
      this.record('sensor.subscribe', name, intervalMs);
      const set = this.sensorSubs.get(name) ?? new Set<(r: SensorReading) => void>();
      this.sensorSubs.set(name, set);
      set.add(onReading);
      return () => {
        this.record('sensor.unsubscribe', name);
        set.delete(onReading);
      };
    },
  };

  async release(owner: string): Promise<void> {
    this.record('release', owner);
  }

  async close(): Promise<void> {
    this.record('close');
  }

  /** Fire an edge on a line to every watcher. */
  fireEdge(line: string, value: 0 | 1): void {
    this.levels.set(line, value);
    const e: GpioEvent = { line, value, edge: value ? 'rising' : 'falling', ts: Date.now() };
    for (const w of this.gpioWatchers.get(line) ?? []) w(e);
  }

  /** Deliver a reading to every subscriber of a sensor. */
  emitReading(name: string, value: number): void {
    for (const s of this.sensorSubs.get(name) ?? []) s({ sensor: name, value, unit: '°C', ts: Date.now() });
  }

  watcherCount(line: string): number {
    return this.gpioWatchers.get(line)?.size ?? 0;
  }

  /** Calls that touched a device (everything except list/close bookkeeping). */
  deviceCalls(): DeviceCall[] {
    return this.calls.filter((c) => c.op !== 'close');
  }
}

export class FakeSerialSession implements SerialSession {
  closed = false;
  readonly reads: Uint8Array[] = [];
  constructor(
    private readonly devices: FakeDevices,
    readonly port: string,
    readonly owner: string,
    readonly sharing: SerialSharing,
  ) {}
  async write(data: Uint8Array): Promise<void> {
    this.devices.calls.push({ op: 'serial.write', args: [this.port, this.owner, data] });
    this.reads.push(Uint8Array.from(data));
  }
  async read(opts: { timeoutMs: number }): Promise<Uint8Array> {
    this.devices.calls.push({ op: 'serial.read', args: [this.port, this.owner, opts.timeoutMs] });
    const next = this.reads.shift();
    if (next) return next;
    const e = new Error(`no frame on ${this.port} within ${opts.timeoutMs} ms`);
    e.name = 'TimeoutError';
    throw e;
  }
  async transact(request: Uint8Array, opts: { timeoutMs: number }): Promise<Uint8Array> {
    this.devices.calls.push({ op: 'serial.transact', args: [this.port, this.owner, request, opts.timeoutMs] });
    return await this.devices.responder(this.port, request);
  }
  async close(): Promise<void> {
    this.devices.calls.push({ op: 'serial.close', args: [this.port, this.owner] });
    this.closed = true;
    this.devices.openSessions.delete(this);
  }
}

/** A sink that records what it got; `hold()` makes publishes wait until `release()`. */
export class FakeSink implements TelemetrySink {
  readonly published: Array<{
    app: string;
    stream: string;
    samples: Array<{ value: unknown; ts: number }>;
    priority?: number;
  }> = [];
  private gate: Promise<void> | undefined;
  private open: (() => void) | undefined;
  failWith: Error | undefined;

  async publish(
    app: string,
    stream: string,
    samples: Array<{ value: unknown; ts: number }>,
    opts: { priority?: number },
  ): Promise<void> {
    if (this.gate) await this.gate;
    if (this.failWith) throw this.failWith;
    this.published.push({ app, stream, samples, ...(opts.priority === undefined ? {} : { priority: opts.priority }) });
  }

  hold(): void {
    this.gate = new Promise((resolve) => {
      this.open = resolve;
    });
  }

  release(): void {
    this.open?.();
    this.gate = undefined;
  }
}

export class FakeHealth {
  readonly beats: Array<{ app: string; status: HeartbeatStatus; detail?: string }> = [];
  heartbeat(app: string, status: HeartbeatStatus, detail?: string): void {
    this.beats.push({ app, status, ...(detail === undefined ? {} : { detail }) });
  }
}

export interface FakeBackends extends EsdkBackends {
  devices: FakeDevices;
  telemetry: FakeSink;
  health: FakeHealth;
}

export function fakeBackends(): FakeBackends {
  return {
    devices: new FakeDevices(),
    telemetry: new FakeSink(),
    health: new FakeHealth(),
    log: pino({ level: 'silent' }),
    agentVersion: '0.1.0-test',
  };
}

/** An app granted rs485-1 (rw, broker), rs232-1 (r, broker), rs485-2 (passthrough), di-1 (r), do-1 (rw), sensor cpu-temp. */
export function meterReader(overrides: Partial<AppContext> = {}): AppContext {
  return {
    app: 'meter-reader',
    revision: 7,
    grants: [
      { device: 'rs485-1', access: 'rw', mode: 'broker' },
      { device: 'rs232-1', access: 'r', mode: 'broker' },
      { device: 'rs485-2', access: 'rw', mode: 'passthrough' },
      { device: 'di-1', access: 'r', mode: 'broker' },
      { device: 'do-1', access: 'rw', mode: 'broker' },
    ],
    sensors: ['cpu-temp'],
    config: { pollSec: 5, meters: [1, 2] },
    ...overrides,
  };
}
