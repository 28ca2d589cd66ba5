import { failedPrecondition, unavailable } from '../../errors.js';
import { DeviceTimeoutError } from '../errors.js';
import type { Framing, SerialSharing } from '../types.js';
import { createFrameParser, type FrameParser } from './framing.js';
import type { LineSettings, SerialLink } from './link.js';

/** Frames kept for an exclusive owner that is not reading; older ones are dropped first. */
const MAX_QUEUED_FRAMES = 64;

/** Anything that queues work on a port: a session. */
export interface PortUser {
  readonly owner: string;
}

interface QueuedOp {
  user: PortUser;
  run: () => Promise<unknown>;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

/**
 * One physical port, open once however many sessions use it. It owns the
 * link, the frame parser and a FIFO of operations: a transaction or a read
 * runs alone, start to finish, so two apps on one RS-485 bus never see each
 * other's bytes. Writes of an exclusive session bypass the queue (the line
 * is full duplex and nobody else is on it).
 */
export class OpenPort {
  readonly users = new Set<PortUser>();
  /** Settles when the device is open (or failed to open); the registry sets it. */
  ready: Promise<void> = Promise.resolve();
  private link: SerialLink | undefined;
  private lost: Error | undefined;
  private closed = false;
  private parser: FrameParser;
  private parserKey: string;
  private frames: Uint8Array[] = [];
  private waiter: { resolve: (f: Uint8Array) => void; reject: (e: unknown) => void } | undefined;
  private gapTimer: NodeJS.Timeout | undefined;
  private queue: QueuedOp[] = [];
  private running = false;

  constructor(
    readonly name: string,
    readonly path: string,
    readonly sharing: SerialSharing,
    readonly settings: LineSettings,
    defaultFraming: Framing,
    private readonly now: () => number = Date.now,
  ) {
    this.parser = createFrameParser(defaultFraming);
    this.parserKey = framingKey(defaultFraming);
  }

  /** Attaches the opened device. `onLost` runs once if it goes away by itself. */
  attach(link: SerialLink, onLost: (e: Error) => void): void {
    this.link = link;
    link.onData((chunk) => this.received(chunk));
    link.onLost((e) => {
      if (this.closed || this.lost) return;
      this.lost = e;
      this.failAll(this.lostError());
      onLost(e);
    });
  }

  /** Queues `fn` behind every operation already queued on this port (FIFO across all users). */
  enqueue<T>(user: PortUser, run: () => Promise<T>): Promise<T> {
    this.check();
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ user, run, resolve: resolve as (v: unknown) => void, reject });
      this.pump();
    });
  }

  /** Flush stale input, write the request, collect one response frame. Call inside enqueue. */
  async transaction(request: Uint8Array, framing: Framing, timeoutMs: number, owner: string): Promise<Uint8Array> {
    const link = this.requireLink();
    // Whatever arrived before this request (a late answer to someone else's
    // timed-out request, line noise) belongs to nobody: drop it.
    await link.flushInput();
    this.useFraming(framing, true);
    await link.write(request);
    return this.nextFrame(timeoutMs, owner);
  }

  /** The next frame in the given framing. Call inside enqueue. */
  read(framing: Framing, timeoutMs: number, owner: string): Promise<Uint8Array> {
    this.useFraming(framing, false);
    return this.nextFrame(timeoutMs, owner);
  }

  write(data: Uint8Array): Promise<void> {
    this.check();
    return this.requireLink().write(data);
  }

  /** Refuses the user's queued (not yet started) operations and forgets the user. */
  removeUser(user: PortUser, reason: Error): void {
    this.users.delete(user);
    const mine = this.queue.filter((op) => op.user === user);
    this.queue = this.queue.filter((op) => op.user !== user);
    for (const op of mine) op.reject(reason);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.failAll(failedPrecondition(`serial port ${this.name}: the port was closed`));
    await this.link?.close();
  }

  private check(): void {
    if (this.closed) throw failedPrecondition(`serial port ${this.name}: the port was closed`);
    if (this.lost) throw this.lostError();
  }

  private lostError() {
    return unavailable(`serial port ${this.name} (${this.path}) went away: ${this.lost?.message ?? 'unknown'}`, {
      cause: this.lost,
    });
  }

  private requireLink(): SerialLink {
    this.check();
    if (!this.link) throw unavailable(`serial port ${this.name} is not open yet`);
    return this.link;
  }

  private pump(): void {
    if (this.running) return;
    const op = this.queue.shift();
    if (!op) return;
    this.running = true;
    op.run()
      .then(op.resolve, op.reject)
      .finally(() => {
        this.running = false;
        this.pump();
      });
  }

  private useFraming(framing: Framing, discardQueued: boolean): void {
    const key = framingKey(framing);
    if (key !== this.parserKey) {
      this.parser = createFrameParser(framing);
      this.parserKey = key;
      this.frames = [];
    } else if (discardQueued) {
      this.parser.reset();
      this.frames = [];
    }
    if (discardQueued) this.clearGapTimer();
  }

  private nextFrame(timeoutMs: number, owner: string): Promise<Uint8Array> {
    const queued = this.frames.shift();
    if (queued) return Promise.resolve(queued);
    return new Promise<Uint8Array>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = undefined;
        reject(
          new DeviceTimeoutError(
            this.name,
            timeoutMs,
            `serial port ${this.name}: no complete frame within ${timeoutMs} ms (owner ${owner})`,
          ),
        );
      }, timeoutMs);
      this.waiter = {
        resolve: (f) => {
          clearTimeout(timer);
          this.waiter = undefined;
          resolve(f);
        },
        reject: (e) => {
          clearTimeout(timer);
          this.waiter = undefined;
          reject(e);
        },
      };
    });
  }

  private received(chunk: Uint8Array): void {
    this.deliver(this.parser.push(chunk, this.now()));
    this.armGapTimer();
  }

  private deliver(frames: Uint8Array[]): void {
    for (const frame of frames) {
      if (this.waiter) this.waiter.resolve(frame);
      else {
        this.frames.push(frame);
        if (this.frames.length > MAX_QUEUED_FRAMES) this.frames.shift();
      }
    }
  }

  /** Inter-byte framing completes frames by silence: wake up when the gap would end. */
  private armGapTimer(): void {
    this.clearGapTimer();
    const due = this.parser.deadline();
    if (due === undefined) return;
    this.gapTimer = setTimeout(
      () => {
        this.gapTimer = undefined;
        this.deliver(this.parser.tick(this.now()));
        this.armGapTimer();
      },
      Math.max(0, due - this.now()),
    );
    this.gapTimer.unref();
  }

  private clearGapTimer(): void {
    if (this.gapTimer) clearTimeout(this.gapTimer);
    this.gapTimer = undefined;
  }

  private failAll(error: Error): void {
    this.clearGapTimer();
    this.waiter?.reject(error);
    const queued = this.queue;
    this.queue = [];
    for (const op of queued) op.reject(error);
  }
}

/** Two framings with the same key cut bytes the same way. */
export function framingKey(f: Framing): string {
  switch (f.kind) {
    case 'raw':
      return 'raw';
    case 'delimiter':
      return `delimiter:${[...f.delimiter].join(',')}:${f.includeDelimiter ?? false}:${f.maxLength ?? ''}`;
    case 'length':
      return `length:${f.length}`;
    case 'interbyte':
      return `interbyte:${f.gapMs}:${f.maxLength ?? ''}`;
  }
}
