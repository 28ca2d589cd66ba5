/**
 * @gantry/sdk — the in-container client of the agent's eSDK socket.
 *
 * ```ts
 * import { connect } from '@gantry/sdk';
 * const gantry = await connect({ clientName: 'meter-reader/1.0' });
 * const reply = await gantry.serial.transact('rs485-1', request, { timeoutMs: 500 });
 * await gantry.telemetry.publish('energy', 1234.5);
 * ```
 *
 * The agent bind-mounts the app's own socket at /run/gantry/esdk.sock and also
 * passes its path in the environment, so an app finds it without configuration.
 * The wire protocol is specified in PROTOCOL.md.
 */
import { GantryClient } from './client.js';
import { Link } from './link.js';

export {
  ConfigApi,
  GantryClient,
  GpioApi,
  HealthApi,
  type PublishOptions,
  type ReadOptions,
  SensorsApi,
  SerialApi,
  SerialPortHandle,
  TelemetryApi,
  type TransactOptions,
  type WatchOptions,
} from './client.js';
export {
  BadRequestError,
  BusyError,
  ConnectionError,
  DeniedError,
  type ErrorCode,
  type ErrorOptions,
  errorFromWire,
  GantryError,
  InternalError,
  NotFoundError,
  ProtocolError,
  TimeoutError,
  TooLargeError,
  UnavailableError,
  UnknownMethodError,
} from './errors.js';
export { encodeFrame, FrameDecoder, MAX_FRAME_BYTES } from './frame.js';
export { PROTOCOL_VERSION } from './link.js';
export { DEFAULT_STREAM_QUEUE, EventStream, type StreamSink } from './stream.js';
export type * from './types.js';

/** The environment variable holding the socket's path (set by the agent in every app container). */
export const ESDK_SOCKET_ENV = 'GANTRY_ESDK_SOCKET';
/** Where the agent mounts the app's socket in its container. */
export const DEFAULT_ESDK_SOCKET = '/run/gantry/esdk.sock';

/** Where this app's eSDK socket is: `$GANTRY_ESDK_SOCKET`, else the standard mount point. */
export function esdkSocketPath(env: Record<string, string | undefined> = process.env): string {
  return env[ESDK_SOCKET_ENV] ?? DEFAULT_ESDK_SOCKET;
}

/** Options of `connect()`. */
export interface ConnectOptions {
  /** The socket's path; default `esdkSocketPath()`. */
  path?: string;
  /** Sent to the agent in hello, for its logs: `name/version`. Default `gantry-sdk/<protocol>`. */
  clientName?: string;
  /**
   * Reconnect when the agent restarts (default true): with capped backoff;
   * subscriptions are made again; calls made meanwhile wait for the
   * connection (within their timeout); serial handles become invalid.
   */
  reconnect?: boolean;
  /** How long a call waits for its answer; default 10000 ms. */
  requestTimeoutMs?: number;
  /** How long `connect()` keeps trying when the socket is not there yet (reconnect only); default 10000 ms. */
  connectTimeoutMs?: number;
  /** The longest pause between reconnect attempts; default 2000 ms (the first is 50 ms, doubling). */
  backoffMaxMs?: number;
}

/**
 * Connect to the agent's eSDK socket and say hello. Rejects with
 * ConnectionError when the socket cannot be reached (with reconnect: within
 * connectTimeoutMs), or ProtocolError when the agent speaks another version.
 */
export async function connect(opts: ConnectOptions = {}): Promise<GantryClient> {
  const link = new Link({
    path: opts.path ?? esdkSocketPath(),
    clientName: opts.clientName ?? 'gantry-sdk/1',
    reconnect: opts.reconnect ?? true,
    requestTimeoutMs: opts.requestTimeoutMs ?? 10_000,
    connectTimeoutMs: opts.connectTimeoutMs ?? 10_000,
    backoffInitialMs: 50,
    backoffMaxMs: opts.backoffMaxMs ?? 2_000,
  });
  await link.start();
  return new GantryClient(link);
}
