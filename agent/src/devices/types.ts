/**
 * The gateway's devices as the rest of the agent sees them: logical names
 * from the firmware profile, never host paths. The eSDK server is the only
 * caller that acts for apps, and it checks grants before it calls in here;
 * ownership (exclusive serial, output lines) is enforced here as well, per
 * owner (the app name), so a second app cannot take what one app holds.
 */

/** How the byte stream of a serial port is cut into frames. */
export type Framing =
  | { kind: 'raw' }
  | { kind: 'delimiter'; delimiter: Uint8Array; includeDelimiter?: boolean; maxLength?: number }
  | { kind: 'length'; length: number }
  /** A frame ends when the line stays quiet this long (Modbus-RTU's 3.5 character times). */
  | { kind: 'interbyte'; gapMs: number; maxLength?: number };

export interface SerialOpenOptions {
  /** Must be one of the profile's baudRates; default the profile's defaultBaud. */
  baudRate?: number;
  dataBits?: 7 | 8;
  parity?: 'none' | 'even' | 'odd';
  stopBits?: 1 | 2;
  framing?: Framing;
}

export type SerialSharing = 'exclusive' | 'broker';

/** One app's use of one port. */
export interface SerialSession {
  readonly port: string;
  readonly owner: string;
  /** Exclusive sessions only: write bytes. */
  write(data: Uint8Array): Promise<void>;
  /** Exclusive sessions only: the next frame, or a timeout error. */
  read(opts: { timeoutMs: number }): Promise<Uint8Array>;
  /**
   * Write a request and read one response frame. In broker mode the port is
   * held for the whole transaction, so transactions from several apps on one
   * bus never interleave; they queue in arrival order.
   */
  transact(request: Uint8Array, opts: { timeoutMs: number; framing?: Framing }): Promise<Uint8Array>;
  close(): Promise<void>;
}

export interface SerialDevices {
  list(): Array<{ name: string; kind: string; baudRates: number[] }>;
  open(port: string, owner: string, sharing: SerialSharing, opts?: SerialOpenOptions): Promise<SerialSession>;
}

export type Edge = 'rising' | 'falling' | 'both';
export interface GpioEvent {
  line: string;
  value: 0 | 1;
  edge: 'rising' | 'falling';
  /** ms since the epoch. */
  ts: number;
}

/**
 * What createDevices' GPIO watch really returns: the unsubscribe function,
 * plus `ready`, which settles once the watch is armed (the line is set up
 * and its starting level known), so a caller can acknowledge a subscription
 * only when edges will really be seen; it rejects if the line cannot be
 * watched. The GpioDevices contract promises only the function.
 */
export type GpioWatch = (() => void) & { readonly ready: Promise<void> };

export interface GpioDevices {
  list(): Array<{ name: string; direction: 'in' | 'out' }>;
  /** An output line answers the value last written through here (if any), else what the hardware reports. */
  read(line: string): Promise<0 | 1>;
  /** The first app to write an output line owns it until release(owner). Writing an input line is refused. */
  write(line: string, owner: string, value: 0 | 1): Promise<void>;
  /**
   * Edges of one line, debounced: a level must hold for debounceMs before it
   * counts (0: every change counts). Failures after the start (the line
   * cannot be set up, its value file vanished) go to onError, or to the log
   * when there is none. Returns the unsubscribe function (a GpioWatch,
   * from createDevices).
   */
  watch(
    line: string,
    edge: Edge,
    debounceMs: number,
    onEvent: (e: GpioEvent) => void,
    onError?: (e: Error) => void,
  ): () => void;
}

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

export interface SensorDevices {
  list(): SensorInfo[];
  read(name: string): Promise<SensorReading>;
  /**
   * Sampled on an interval shared by all subscribers of a sensor; returns an
   * unsubscribe function. A failed sample goes to onError (or the log when
   * there is none) and sampling goes on.
   */
  subscribe(
    name: string,
    intervalMs: number,
    onReading: (r: SensorReading) => void,
    onError?: (e: Error) => void,
  ): () => void;
}

/** Everything one owner (app) holds is released: its serial sessions, its output lines. */
export interface Devices {
  serial: SerialDevices;
  gpio: GpioDevices;
  sensors: SensorDevices;
  release(owner: string): Promise<void>;
  close(): Promise<void>;
}
