/**
 * One client connection's state and its request dispatch, apart from the
 * socket: the serial handles, subscriptions and watches it holds, all
 * released when it closes. The server feeds it decoded frames; tests and the
 * fuzzer drive it directly.
 */
import type { SerialSession } from '../devices/types.js';
import { errnoCode, isGantryError, messageOf } from '../errors.js';
import type { AppContext, EsdkBackends } from './backends.js';
import { EsdkError, type EventFrame, isUint, parseRequest, type ResponseFrame, type WireError } from './frame.js';
import { type Access, checkDevice, checkSensor, type DeviceKind } from './grants.js';
import { Params } from './params.js';

/** What a session writes to its client. */
export interface SessionOutput {
  /** A response; never dropped. */
  respond(frame: ResponseFrame): void;
  /** A subscription event or end; returns false when it was dropped because the client reads too slowly. */
  push(frame: EventFrame, droppable: boolean): boolean;
  /** A frame that cannot be answered: send `{id: null, error}` and close the connection. */
  fatal(error: WireError): void;
}

/** The app a session belongs to; `ctx` is replaced when the app is redeployed. */
export interface AppHandle {
  readonly ctx: AppContext;
}

type SubKind = 'gpio' | 'sensor' | 'config';

/** A protocol method: checks its params and grants, then does the work; its result is the response's `result`. */
export type Method = (s: Session, p: Params, call: Call) => Promise<unknown> | unknown;

/** One request being served: work to run once its response is written (a subscription's first events). */
export interface Call {
  readonly afterResponse: Array<() => void>;
}
interface Subscription {
  kind: SubKind;
  /** The line or sensor it watches. */
  target: string;
  stop: () => void;
  /** Events dropped since the last one delivered. */
  dropped: number;
}

interface SerialHandle {
  port: string;
  serial: SerialSession;
  /** Opened with exclusive: true (write/read allowed); otherwise a shared broker session (transact only). */
  exclusive: boolean;
}

export const MAX_SERIAL_HANDLES = 32;
export const MAX_SUBSCRIPTIONS = 256;
/** Denials logged per connection before they are only counted (an app retrying in a loop must not flood the log). */
const MAX_LOGGED_DENIALS = 50;

export class Session {
  helloDone = false;
  client: string | undefined;
  private closed = false;
  private nextHandle = 1;
  private nextSub = 1;
  private readonly handles = new Map<number, SerialHandle>();
  /** Why a handle the app did not close is gone (revoked by a redeploy). */
  private readonly revoked = new Map<number, string>();
  /** Broker sessions opened by serial.transact {port}, kept for the connection's life. */
  private readonly portSessions = new Map<string, Promise<SerialSession>>();
  private readonly subs = new Map<number, Subscription>();
  private denials = 0;
  /** Subscription events this session dropped (slow client), for stats. */
  droppedEvents = 0;

  constructor(
    readonly app: AppHandle,
    readonly backends: EsdkBackends,
    private readonly out: SessionOutput,
    private readonly methods: ReadonlyMap<string, Method>,
  ) {}

  get ctx(): AppContext {
    return this.app.ctx;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Serve one decoded frame. Never throws: every failure becomes an error response (or a fatal error). */
  async handle(item: unknown): Promise<void> {
    let id: number;
    let method: string;
    let params: Record<string, unknown>;
    try {
      ({ id, method, params } = parseRequest(item));
    } catch (e) {
      const err = toWire(e);
      const data = (e as EsdkError).data as { id?: unknown } | undefined;
      if (isUint(data?.id)) this.out.respond({ id: data.id, error: err });
      else this.out.fatal(err);
      return;
    }
    try {
      const fn = this.methods.get(method);
      if (fn === undefined)
        throw new EsdkError('unknown-method', `no method "${method.slice(0, 64)}" (see PROTOCOL.md for the list)`);
      if (this.closed) throw new EsdkError('unavailable', 'the connection is closing');
      const call: Call = { afterResponse: [] };
      const result = await fn(this, new Params(method, params), call);
      this.out.respond({ id, result: result ?? {} });
      for (const after of call.afterResponse) after();
    } catch (e) {
      const err = toWire(e);
      if (err.code === 'internal')
        this.backends.log.error({ err: e, app: this.ctx.app, method }, 'esdk method failed unexpectedly');
      this.out.respond({ id, error: err });
    }
  }

  /** Refuse (code denied, logged) unless the app's grants allow `access` to the device. */
  requireDevice(kind: DeviceKind, device: string, access: Access, op: string): void {
    const check = checkDevice(this.ctx, kind, device, access, op);
    if (!check.ok) this.deny(check.message, { device, op });
  }

  requireSensor(name: string, op: string): void {
    const check = checkSensor(this.ctx, name, op);
    if (!check.ok) this.deny(check.message, { sensor: name, op });
  }

  private deny(message: string, what: Record<string, string>): never {
    this.denials++;
    if (this.denials <= MAX_LOGGED_DENIALS) this.backends.log.warn({ app: this.ctx.app, ...what }, message);
    if (this.denials === MAX_LOGGED_DENIALS)
      this.backends.log.warn({ app: this.ctx.app }, 'further denials on this connection are not logged');
    throw new EsdkError('denied', message);
  }

  // --- serial handles ---

  addHandle(port: string, serial: SerialSession, exclusive: boolean): number {
    if (this.closed) {
      void serial.close().catch(() => undefined);
      throw new EsdkError('unavailable', 'the connection closed while the port was opening');
    }
    const handle = this.nextHandle++;
    this.handles.set(handle, { port, serial, exclusive });
    return handle;
  }

  checkHandleRoom(): void {
    if (this.handles.size >= MAX_SERIAL_HANDLES)
      throw new EsdkError(
        'bad-request',
        `this connection already holds ${MAX_SERIAL_HANDLES} serial handles; close some`,
      );
  }

  serialHandle(params: Params): SerialHandle & { handle: number } {
    const handle = params.uint('handle');
    const h = this.handles.get(handle);
    if (h) return { ...h, handle };
    const why = this.revoked.get(handle);
    if (why !== undefined) throw new EsdkError('denied', `serial handle ${handle} was closed: ${why}`);
    throw new EsdkError('not-found', `no open serial handle ${handle} on this connection`);
  }

  async closeHandle(handle: number): Promise<void> {
    const h = this.handles.get(handle);
    if (!h) throw new EsdkError('not-found', `no open serial handle ${handle} on this connection`);
    this.handles.delete(handle);
    await h.serial.close();
  }

  /** The connection's broker session on `port`, opened on first use. */
  portSession(port: string): Promise<SerialSession> {
    let s = this.portSessions.get(port);
    if (s === undefined) {
      s = this.backends.devices.serial.open(port, this.ctx.app, 'broker').then((serial) => {
        if (this.closed || this.portSessions.get(port) !== s) {
          void serial.close().catch(() => undefined);
          throw new EsdkError('unavailable', `the connection closed while serial port ${port} was opening`);
        }
        return serial;
      });
      this.portSessions.set(port, s);
      // A failed open is not cached: the next call tries again.
      s.catch(() => {
        if (this.portSessions.get(port) === s) this.portSessions.delete(port);
      });
    }
    return s;
  }

  // --- subscriptions ---

  checkSubRoom(): void {
    if (this.subs.size >= MAX_SUBSCRIPTIONS)
      throw new EsdkError(
        'bad-request',
        `this connection already holds ${MAX_SUBSCRIPTIONS} subscriptions; cancel some`,
      );
  }

  /**
   * Register a subscription. `start` receives the sub number and an emitter;
   * it returns the stop function. Events emitted before the response is sent
   * are held until after it, so a client always learns the number first.
   */
  subscribe(
    call: Call,
    kind: SubKind,
    target: string,
    start: (emit: (event: unknown) => void) => () => void,
  ): { sub: number } {
    this.checkSubRoom();
    const sub = this.nextSub++;
    const early: unknown[] = [];
    let ready = false;
    const record: Subscription = { kind, target, stop: () => {}, dropped: 0 };
    const emit = (event: unknown) => {
      if (this.subs.get(sub) !== record) return;
      if (!ready) early.push(event);
      else this.emit(sub, record, event);
    };
    this.subs.set(sub, record);
    try {
      record.stop = start(emit);
    } catch (e) {
      this.subs.delete(sub);
      throw e;
    }
    call.afterResponse.push(() => {
      ready = true;
      for (const event of early.splice(0)) emit(event);
    });
    return { sub };
  }

  private emit(sub: number, record: Subscription, event: unknown): void {
    const frame: EventFrame = record.dropped > 0 ? { sub, event, dropped: record.dropped } : { sub, event };
    if (this.out.push(frame, true)) record.dropped = 0;
    else {
      record.dropped++;
      this.droppedEvents++;
    }
  }

  unsubscribe(sub: number): void {
    const record = this.subs.get(sub);
    if (!record) throw new EsdkError('not-found', `no subscription ${sub} on this connection`);
    this.subs.delete(sub);
    stopQuietly(record, this.backends);
  }

  /** End a subscription from the agent's side, telling the client why. */
  private endSub(sub: number, record: Subscription, error: WireError): void {
    this.subs.delete(sub);
    stopQuietly(record, this.backends);
    this.out.push({ sub, end: error }, false);
  }

  // --- app lifecycle ---

  /** The app was redeployed: drop what its new grants no longer allow; config watchers get a changed config. */
  async revise(previous: AppContext): Promise<void> {
    const ctx = this.ctx;
    for (const [sub, record] of this.subs) {
      if (record.kind === 'config') {
        if (!sameData(previous.config, ctx.config)) this.emit(sub, record, configEvent(ctx));
        continue;
      }
      const check =
        record.kind === 'sensor'
          ? checkSensor(ctx, record.target, 'sensor.subscribe')
          : checkDevice(ctx, 'GPIO line', record.target, 'r', 'gpio.watch');
      if (!check.ok) this.endSub(sub, record, { code: 'denied', message: check.message });
    }
    const closing: Promise<void>[] = [];
    for (const [handle, h] of this.handles) {
      const check = checkDevice(ctx, 'serial port', h.port, 'r', 'serial.open');
      if (check.ok) continue;
      this.handles.delete(handle);
      this.revoked.set(handle, check.message);
      closing.push(h.serial.close());
    }
    for (const [port, s] of this.portSessions) {
      if (checkDevice(ctx, 'serial port', port, 'rw', 'serial.transact').ok) continue;
      this.portSessions.delete(port);
      closing.push(s.then((serial) => serial.close()));
    }
    await settleAll(closing, this.backends, ctx.app);
  }

  /** Release everything the connection holds. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const record of this.subs.values()) stopQuietly(record, this.backends);
    this.subs.clear();
    const closing: Promise<void>[] = [];
    for (const h of this.handles.values()) closing.push(h.serial.close());
    for (const s of this.portSessions.values()) closing.push(s.then((serial) => serial.close()));
    this.handles.clear();
    this.portSessions.clear();
    await settleAll(closing, this.backends, this.ctx.app);
  }

  /** What the connection holds, for tests and stats. */
  holdings(): { handles: number; portSessions: number; subscriptions: number } {
    return { handles: this.handles.size, portSessions: this.portSessions.size, subscriptions: this.subs.size };
  }
}

export function configEvent(ctx: AppContext): { config: unknown; revision?: number } {
  return ctx.revision === undefined ? { config: ctx.config } : { config: ctx.config, revision: ctx.revision };
}

function sameData(a: unknown, b: unknown): boolean {
  try {
    return JSON.stringify(a) === JSON.stringify(b);
  } catch {
    return false;
  }
}

function stopQuietly(record: Subscription, backends: EsdkBackends): void {
  try {
    record.stop();
  } catch (e) {
    backends.log.warn({ err: e, kind: record.kind, target: record.target }, 'esdk: stopping a subscription failed');
  }
}

async function settleAll(closing: Promise<void>[], backends: EsdkBackends, app: string): Promise<void> {
  for (const r of await Promise.allSettled(closing))
    if (r.status === 'rejected') backends.log.warn({ err: r.reason, app }, 'esdk: closing a serial session failed');
}

const KIND_TO_CODE = {
  invalid: 'bad-request',
  'not-found': 'not-found',
  'already-exists': 'busy',
  'failed-precondition': 'busy',
  unavailable: 'unavailable',
  denied: 'denied',
  internal: 'internal',
} as const;

/** Any thrown value as a wire error: EsdkError as is, the agent's GantryError by kind, timeouts as timeout. */
export function toWire(e: unknown): WireError {
  if (e instanceof EsdkError)
    return e.data === undefined
      ? { code: e.code, message: e.message }
      : { code: e.code, message: e.message, data: e.data };
  if (isTimeout(e)) return { code: 'timeout', message: messageOf(e) };
  if (isGantryError(e)) return { code: KIND_TO_CODE[e.kind], message: e.message };
  return { code: 'internal', message: `internal error in the agent: ${messageOf(e)}` };
}

/**
 * Device timeouts, however the device layer spells them: an error named
 * TimeoutError, errno ETIMEDOUT, or details {reason: 'timeout'}.
 */
function isTimeout(e: unknown): boolean {
  if (!(e instanceof Error)) return false;
  if (e.name === 'TimeoutError' || errnoCode(e) === 'ETIMEDOUT') return true;
  const details = isGantryError(e) ? (e.details as { reason?: unknown } | undefined) : undefined;
  return details?.reason === 'timeout';
}
