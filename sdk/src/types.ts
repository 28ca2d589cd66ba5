/**
 * The values the eSDK protocol carries, as the SDK hands them to apps
 * (PROTOCOL.md, "Methods", has the same shapes on the wire).
 */

/** A device grant of the app's deployment, as `info()` reports it. */
export interface DeviceGrant {
  /** Logical device name from the gateway's firmware profile (e.g. `rs485-1`, `di-1`). */
  device: string;
  /** `r`: read and watch; `rw`: also write. */
  access: 'r' | 'rw';
  /** `broker`: used through the agent (this SDK); `passthrough`: the device node is in the container. */
  mode: 'broker' | 'passthrough';
}

/** Who the app is and what it may use: the answer of `info()`. */
export interface AppInfo {
  app: string;
  /** The deployment revision the grants and config come from. */
  revision?: number;
  /** The agent's version. */
  agent: string;
  /** The eSDK protocol version the agent speaks. */
  protocol: number;
  devices: DeviceGrant[];
  /** Sensor names the app may read. */
  sensors: string[];
}

/** How the byte stream of a serial port is cut into frames (responses to transact, results of read). */
export type Framing =
  /** Whatever bytes arrived. */
  | { kind: 'raw' }
  /** Up to and including (or not) a delimiter, e.g. `\n`. */
  | { kind: 'delimiter'; delimiter: Uint8Array; includeDelimiter?: boolean; maxLength?: number }
  /** Exactly `length` bytes. */
  | { kind: 'length'; length: number }
  /** A frame ends when the line stays quiet for `gapMs` (Modbus RTU: 3.5 character times). */
  | { kind: 'interbyte'; gapMs: number; maxLength?: number };

/** Line settings and framing of `serial.open`. */
export interface SerialOpenOptions {
  /** One of the port's baud rates from the firmware profile; default the profile's default. */
  baudRate?: number;
  dataBits?: 7 | 8;
  parity?: 'none' | 'even' | 'odd';
  stopBits?: 1 | 2;
  framing?: Framing;
  /**
   * Hold the port alone (needed for `write` and `read`; refused with BusyError
   * while another app uses the port). Default false: a shared (broker)
   * session, where only `transact` is allowed and transactions of all apps on
   * the bus take turns.
   */
  exclusive?: boolean;
}

/** An edge seen on a GPIO input line. */
export interface GpioEvent {
  line: string;
  /** The line's level after the edge. */
  value: 0 | 1;
  edge: 'rising' | 'falling';
  /** ms since the epoch. */
  ts: number;
}

/** Which edges `gpio.watch` reports. */
export type Edge = 'rising' | 'falling' | 'both';

export interface SensorInfo {
  name: string;
  kind: 'hwmon' | 'thermal' | 'system';
  unit: string;
}

export interface SensorReading {
  sensor: string;
  value: number;
  unit: string;
  /** ms since the epoch. */
  ts: number;
}

/** The app's config, as config.get and each config.watch event carry it. */
export interface ConfigSnapshot<T = unknown> {
  config: T;
  /** The deployment revision the config comes from. */
  revision?: number;
}

/** One telemetry sample. */
export interface Sample {
  value: unknown;
  /** ms since the epoch; default: when the agent receives it. */
  ts?: number;
}

/** How an app reports its own health with `health.heartbeat`. */
export type HeartbeatStatus = 'ok' | 'degraded';
