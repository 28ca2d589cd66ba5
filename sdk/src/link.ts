/**
 * The connection to the agent under the typed client: requests matched to
 * responses by id, subscription events routed to their streams, and
 * reconnecting with capped backoff when the agent restarts — after which
 * every open subscription is made again on the new connection.
 */
import net from 'node:net';
import { ConnectionError, errorFromWire, GantryError, ProtocolError, TimeoutError } from './errors.js';
import { encodeFrame, FrameDecoder } from './frame.js';
import { EventStream, type StreamSink } from './stream.js';

/** The protocol version this SDK speaks. */
export const PROTOCOL_VERSION = 1;

export interface LinkOptions {
  path: string;
  clientName: string;
  reconnect: boolean;
  requestTimeoutMs: number;
  connectTimeoutMs: number;
  backoffInitialMs: number;
  backoffMaxMs: number;
}

interface Pending {
  method: string;
  resolve: (result: unknown) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
  /** Runs synchronously when the result arrives, before any later frame is handled. */
  onResult: ((result: unknown) => void) | undefined;
}

interface ActiveSub {
  method: string;
  params: Record<string, unknown>;
  /** The agent's number for it on the current connection; undefined while (re)subscribing. */
  serverId: number | undefined;
  sink: StreamSink<unknown>;
  /** Closed by the app: a resubscription answered after this is cancelled at once. */
  cancelled: boolean;
}

type Frame = {
  id?: unknown;
  result?: unknown;
  error?: unknown;
  sub?: unknown;
  event?: unknown;
  end?: unknown;
  dropped?: unknown;
};

export class Link {
  /** Counts established connections: a serial handle is valid only in the generation that opened it. */
  generation = 0;
  /** The agent's answer to hello on the current connection. */
  hello: { protocol: number; agent: string; app: string } | undefined;
  private socket: net.Socket | undefined;
  private isOpen = false;
  private closedByUser = false;
  /** A reason never to reconnect (the agent refused our protocol version). */
  private fatal: GantryError | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly openWaiters = new Set<{ resolve: () => void; reject: (e: Error) => void }>();
  private readonly bySub = new Map<number, ActiveSub>();
  private readonly active = new Set<ActiveSub>();
  private reconnectTimer: NodeJS.Timeout | undefined;
  private attempt = 0;
  private corked = false;
  /** Why the last connection ended, when the agent said ({id: null, error}). */
  private lastGoodbye: GantryError | undefined;

  constructor(private readonly opts: LinkOptions) {}

  /** Connect and say hello; with reconnect, keep trying for connectTimeoutMs (the agent may be starting). */
  async start(): Promise<void> {
    const deadline = Date.now() + this.opts.connectTimeoutMs;
    for (;;) {
      try {
        await this.establish();
        return;
      } catch (e) {
        if (e instanceof ProtocolError || !this.opts.reconnect || Date.now() >= deadline || this.closedByUser) {
          if (e instanceof GantryError) throw e;
          throw new ConnectionError(`cannot connect to the agent at ${this.opts.path}: ${messageOf(e)}`, { cause: e });
        }
        await sleep(this.backoff());
      }
    }
  }

  get connected(): boolean {
    return this.isOpen;
  }

  /** Send a request once connected; resolves with its result, rejects with a GantryError. */
  async request(
    method: string,
    params: Record<string, unknown>,
    timeoutMs = this.opts.requestTimeoutMs,
    onResult?: (result: unknown) => void,
  ): Promise<unknown> {
    const started = Date.now();
    if (!this.isOpen) await this.waitOpen(method, timeoutMs);
    return this.send(method, params, Math.max(1, timeoutMs - (Date.now() - started)), onResult);
  }

  /** Subscribe with `method`; the stream is resubscribed on every reconnect until it is closed. */
  async subscribe<T>(method: string, params: Record<string, unknown>): Promise<EventStream<T>> {
    const rec: ActiveSub = {
      method,
      params,
      serverId: undefined,
      sink: { push: () => {}, end: () => {} },
      cancelled: false,
    };
    const stream = new EventStream<T>(
      (sink) => {
        rec.sink = sink as StreamSink<unknown>;
      },
      () => this.cancel(rec),
    );
    await this.request(method, params, undefined, (result) => this.bind(rec, result));
    return stream;
  }

  /** Close the connection for good: pending requests fail, streams end. */
  async close(): Promise<void> {
    if (this.closedByUser) return;
    this.closedByUser = true;
    clearTimeout(this.reconnectTimer);
    const err = new ConnectionError('the client was closed');
    for (const w of this.openWaiters) w.reject(err);
    this.openWaiters.clear();
    for (const rec of this.active) rec.sink.end();
    this.active.clear();
    this.bySub.clear();
    const socket = this.socket;
    if (socket && !socket.destroyed) {
      const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
      socket.end();
      const timer = setTimeout(() => socket.destroy(), 1_000);
      await closed;
      clearTimeout(timer);
    }
    this.failPending(err);
  }

  private async establish(): Promise<void> {
    const socket = await dial(this.opts.path);
    if (this.closedByUser) {
      socket.destroy();
      throw new ConnectionError('the client was closed');
    }
    this.attach(socket);
    let hello: unknown;
    try {
      hello = await this.send(
        'hello',
        { protocol: PROTOCOL_VERSION, client: this.opts.clientName },
        undefined,
        undefined,
      );
    } catch (e) {
      socket.destroy();
      if (e instanceof GantryError && e.code === 'bad-request') {
        this.fatal = new ProtocolError(`the agent refused protocol ${PROTOCOL_VERSION}: ${e.message}`, {
          data: e.data,
          cause: e,
        });
        throw this.fatal;
      }
      throw e;
    }
    this.hello = hello as Link['hello'];
    this.isOpen = true;
    this.generation++;
    this.attempt = 0;
    for (const w of this.openWaiters) w.resolve();
    this.openWaiters.clear();
    for (const rec of this.active) this.resubscribe(rec);
  }

  private attach(socket: net.Socket): void {
    this.socket = socket;
    this.lastGoodbye = undefined;
    const decoder = new FrameDecoder();
    socket.on('data', (chunk: Buffer) => {
      try {
        decoder.push(chunk, (item) => this.onFrame(item));
      } catch (e) {
        this.lastGoodbye = new ProtocolError(`the agent sent a bad frame: ${messageOf(e)}`, { cause: e });
        socket.destroy();
      }
    });
    socket.on('error', () => {}); // 'close' follows and handles it.
    socket.on('close', () => this.onClose(socket));
  }

  private onFrame(item: unknown): void {
    if (typeof item !== 'object' || item === null) throw new Error('a frame that is not a map');
    const f = item as Frame;
    if (typeof f.sub === 'number') {
      const rec = this.bySub.get(f.sub);
      if (rec === undefined) return; // already cancelled
      if (f.end !== undefined) {
        this.bySub.delete(f.sub);
        this.active.delete(rec);
        rec.sink.end(errorFromWire(f.end));
      } else rec.sink.push(f.event, typeof f.dropped === 'number' ? f.dropped : 0);
      return;
    }
    if (f.id === null) {
      this.lastGoodbye = errorFromWire(f.error);
      return;
    }
    if (typeof f.id !== 'number') throw new Error('a frame with neither an id nor a sub');
    const p = this.pending.get(f.id);
    if (p === undefined) return; // timed out already
    this.pending.delete(f.id);
    clearTimeout(p.timer);
    if (f.error !== undefined) p.reject(errorFromWire(f.error));
    else {
      try {
        p.onResult?.(f.result);
      } catch (e) {
        p.reject(e as Error);
        return;
      }
      p.resolve(f.result);
    }
  }

  private onClose(socket: net.Socket): void {
    if (socket !== this.socket) return;
    // A connection that never got through hello is retried by whoever was establishing it.
    const wasOpen = this.isOpen;
    this.socket = undefined;
    this.isOpen = false;
    this.bySub.clear();
    for (const rec of this.active) rec.serverId = undefined;
    const why = this.lastGoodbye ? `: ${this.lastGoodbye.message}` : '';
    this.failPending(
      new ConnectionError(
        `the connection to the agent was lost${why}; the request may or may not have been carried out`,
        {
          cause: this.lastGoodbye,
        },
      ),
    );
    if (this.closedByUser || !wasOpen) return;
    if (!this.opts.reconnect || this.fatal) {
      const err = this.fatal ?? new ConnectionError(`the connection to the agent was lost${why}`);
      for (const rec of this.active) rec.sink.end(err);
      this.active.clear();
      for (const w of this.openWaiters) w.reject(err);
      this.openWaiters.clear();
      return;
    }
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.closedByUser || this.reconnectTimer !== undefined) return;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      this.establish().catch(() => {
        if (this.fatal) {
          for (const rec of this.active) rec.sink.end(this.fatal);
          this.active.clear();
          for (const w of this.openWaiters) w.reject(this.fatal);
          this.openWaiters.clear();
        } else if (!this.isOpen) this.scheduleReconnect();
      });
    }, this.backoff());
  }

  /** The next delay: doubling from backoffInitialMs up to backoffMaxMs, with ±20% jitter. */
  private backoff(): number {
    const base = Math.min(this.opts.backoffMaxMs, this.opts.backoffInitialMs * 2 ** Math.min(this.attempt, 20));
    this.attempt++;
    return Math.round(base * (0.8 + Math.random() * 0.4));
  }

  private waitOpen(method: string, timeoutMs: number): Promise<void> {
    if (this.closedByUser) return Promise.reject(new ConnectionError('the client was closed'));
    if (this.fatal) return Promise.reject(this.fatal);
    if (!this.opts.reconnect) return Promise.reject(new ConnectionError('not connected to the agent'));
    return new Promise((resolve, reject) => {
      const waiter = {
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (e: Error) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      const timer = setTimeout(() => {
        this.openWaiters.delete(waiter);
        reject(new TimeoutError(`${method}: not reconnected to the agent within ${timeoutMs} ms`));
      }, timeoutMs);
      this.openWaiters.add(waiter);
    });
  }

  private send(
    method: string,
    params: Record<string, unknown>,
    timeoutMs = this.opts.requestTimeoutMs,
    onResult: ((result: unknown) => void) | undefined,
  ): Promise<unknown> {
    const socket = this.socket;
    if (socket === undefined || socket.destroyed)
      return Promise.reject(new ConnectionError(`${method}: not connected to the agent`));
    const id = this.nextId++;
    if (this.nextId > Number.MAX_SAFE_INTEGER) this.nextId = 1;
    let frame: Buffer;
    try {
      frame = encodeFrame({ id, method, params });
    } catch (e) {
      return Promise.reject(
        new ProtocolError(`${method}: the request cannot be encoded: ${messageOf(e)}`, { cause: e }),
      );
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new TimeoutError(`${method}: no answer from the agent within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { method, resolve, reject, timer, onResult });
      // With several requests in flight, those of one tick go out in one write; a lone one at once.
      if (this.pending.size > 1 && !this.corked) {
        this.corked = true;
        socket.cork();
        process.nextTick(() => {
          this.corked = false;
          socket.uncork();
        });
      }
      socket.write(frame);
    });
  }

  private bind(rec: ActiveSub, result: unknown): void {
    const sub = (result as { sub?: unknown } | null)?.sub;
    if (typeof sub !== 'number')
      throw new ProtocolError(`${rec.method}: the agent answered without a subscription number`);
    if (rec.cancelled) {
      void this.send('unsubscribe', { sub }, undefined, undefined).catch(() => undefined);
      return;
    }
    rec.serverId = sub;
    this.bySub.set(sub, rec);
    this.active.add(rec);
  }

  private resubscribe(rec: ActiveSub): void {
    this.send(rec.method, rec.params, undefined, (result) => this.bind(rec, result)).catch((e: unknown) => {
      if (e instanceof ConnectionError) return; // lost again: the next connection tries again
      this.active.delete(rec);
      rec.sink.end(e instanceof Error ? e : new ConnectionError(String(e)));
    });
  }

  private async cancel(rec: ActiveSub): Promise<void> {
    rec.cancelled = true;
    this.active.delete(rec);
    const sub = rec.serverId;
    if (sub === undefined || !this.isOpen) return;
    this.bySub.delete(sub);
    await this.send('unsubscribe', { sub }, undefined, undefined).catch(() => undefined);
  }

  private failPending(err: Error): void {
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this.pending.clear();
  }
}

function dial(path: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.createConnection(path);
    socket.once('connect', () => {
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
