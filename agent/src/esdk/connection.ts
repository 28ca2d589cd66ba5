/**
 * One client socket: bytes in → frames → the session; responses and events
 * → frames out. Everything a client can send is caught here, so no input
 * reaches the agent's event loop as an exception.
 *
 * Backpressure, so a slow or stuck client costs bounded memory:
 *  - the socket stops being read while its unsent output is over the
 *    high-water mark or it has `maxInFlight` requests being served, and is
 *    read again once the output drains and requests finish;
 *  - subscription events for a client over the high-water mark are dropped,
 *    not queued; each dropped event is counted and the next delivered event
 *    of that subscription says how many were lost (`dropped`).
 *  Responses are never dropped: their number is bounded by maxInFlight.
 */
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { EsdkError, type EventFrame, encodeFrame, FrameDecoder, type ResponseFrame, type WireError } from './frame.js';
import { type Session, type SessionOutput, toWire } from './session.js';

export interface ConnectionLimits {
  maxFrameBytes: number;
  highWaterBytes: number;
  maxInFlight: number;
  /** A frame begun must be complete within this long (a local socket needs milliseconds): no half frames parked. */
  frameDeadlineMs: number;
}

const FLUSH_POLL_MS = 5;
/** A peer that does not close after a fatal error is cut off after this long. */
const FATAL_LINGER_MS = 1_000;

export class Connection implements SessionOutput {
  readonly session: Session;
  private readonly decoder: FrameDecoder;
  private inFlight = 0;
  private paused = false;
  private dead = false;
  /** The client half-closed: answer what is in flight, then close. */
  private inputEnded = false;
  private corked = false;
  private flushTimer: NodeJS.Timeout | undefined;
  /** Resolves once the socket is closed and the session has released everything. */
  readonly closed: Promise<void>;

  constructor(
    private readonly socket: Socket,
    makeSession: (out: SessionOutput) => Session,
    private readonly limits: ConnectionLimits,
    private readonly log: Logger,
  ) {
    this.session = makeSession(this);
    this.decoder = new FrameDecoder(limits.maxFrameBytes);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => this.maybeResume());
    socket.on('end', () => {
      this.inputEnded = true;
      this.maybeFinish();
    });
    socket.on('error', (e) => this.log.debug({ err: e, app: this.session.ctx.app }, 'esdk connection error'));
    this.closed = new Promise((resolve) => {
      socket.once('close', () => {
        this.dead = true;
        clearInterval(this.flushTimer);
        clearTimeout(this.partialTimer);
        this.session.close().then(resolve, (e: unknown) => {
          this.log.warn({ err: e, app: this.session.ctx.app }, 'esdk: releasing a connection failed');
          resolve();
        });
      });
    });
  }

  /** Close the connection now (app removed, agent stopping). */
  destroy(): Promise<void> {
    this.dead = true;
    this.socket.destroy();
    return this.closed;
  }

  private partialTimer: NodeJS.Timeout | undefined;

  /** Arms the deadline while a frame is half in, clears it once none is. */
  private watchPartialFrame(): void {
    if (this.decoder.bufferedBytes === 0) {
      clearTimeout(this.partialTimer);
      this.partialTimer = undefined;
    } else if (this.partialTimer === undefined) {
      this.partialTimer = setTimeout(() => {
        if (this.decoder.bufferedBytes > 0 && !this.dead)
          this.fatal({
            code: 'bad-request',
            message: `a frame was begun and not completed within ${this.limits.frameDeadlineMs} ms`,
          });
      }, this.limits.frameDeadlineMs);
      this.partialTimer.unref();
    }
  }

  private onData(chunk: Buffer): void {
    if (this.dead) return;
    try {
      this.decoder.push(chunk, (item) => {
        if (this.dead) return;
        this.inFlight++;
        this.session.handle(item).finally(() => {
          this.inFlight--;
          this.maybeResume();
          this.maybeFinish();
        });
      });
    } catch (e) {
      this.fatal(toWire(e));
      return;
    }
    this.watchPartialFrame();
    this.maybePause();
  }

  private maybeFinish(): void {
    if (this.inputEnded && this.inFlight === 0 && !this.socket.writableEnded) this.socket.end();
  }

  private maybePause(): void {
    if (this.paused || this.dead) return;
    const backedUp = this.socket.writableLength > this.limits.highWaterBytes;
    if (backedUp || this.inFlight >= this.limits.maxInFlight) {
      this.paused = true;
      this.socket.pause();
      if (backedUp) this.awaitFlush();
    }
  }

  /**
   * Check every few ms, while paused for output, whether it has drained below our mark. ('drain'
   * alone is not enough: it comes only after a write hit the socket's own high-water mark, which may
   * be above ours; and an empty write as a flush marker loses its callback inside a writev.)
   */
  private awaitFlush(): void {
    if (this.flushTimer !== undefined || this.socket.destroyed) return;
    this.flushTimer = setInterval(() => {
      if (this.socket.destroyed || this.socket.writableLength <= this.limits.highWaterBytes) {
        clearInterval(this.flushTimer);
        this.flushTimer = undefined;
        this.maybeResume();
      }
    }, FLUSH_POLL_MS);
    this.flushTimer.unref();
  }

  private maybeResume(): void {
    if (!this.paused || this.dead) return;
    if (this.inFlight >= this.limits.maxInFlight) return; // the next request to finish calls again
    if (this.socket.writableLength > this.limits.highWaterBytes) {
      this.awaitFlush();
      return;
    }
    this.paused = false;
    this.socket.resume();
  }

  respond(frame: ResponseFrame): void {
    if (this.socket.destroyed || this.socket.writableEnded) return;
    this.write(this.encodeResponse(frame));
    this.maybePause();
  }

  push(frame: EventFrame, droppable: boolean): boolean {
    if (this.socket.destroyed || this.socket.writableEnded) return false;
    if (droppable && this.socket.writableLength > this.limits.highWaterBytes) return false;
    let bytes: Buffer;
    try {
      bytes = encodeFrame(frame);
    } catch (e) {
      this.log.error({ err: e, app: this.session.ctx.app, sub: frame.sub }, 'esdk: an event could not be encoded');
      return false;
    }
    if (bytes.length - 4 > this.limits.maxFrameBytes) return false;
    this.write(bytes);
    return true;
  }

  /**
   * Under load (several requests in flight) the frames of one tick go out in one write, saving a
   * syscall per frame; a lone response is written at once, which keeps the round trip short.
   */
  private write(bytes: Buffer): void {
    if (!this.corked && this.inFlight > 1) {
      this.corked = true;
      this.socket.cork();
      process.nextTick(() => {
        this.corked = false;
        this.socket.uncork();
      });
    }
    this.socket.write(bytes);
  }

  fatal(error: WireError): void {
    if (this.dead) return;
    this.dead = true;
    this.log.info({ app: this.session.ctx.app, code: error.code }, `esdk: closing a connection: ${error.message}`);
    if (!this.socket.destroyed && !this.socket.writableEnded) this.socket.end(this.encodeResponse({ id: null, error }));
    // Keep reading (and discarding) so the peer's writes do not stall before it sees the error.
    this.socket.resume();
    setTimeout(() => this.socket.destroy(), FATAL_LINGER_MS).unref();
  }

  /** A response's bytes; one over the frame limit becomes a too-large error, an unencodable one an internal error. */
  private encodeResponse(frame: ResponseFrame): Buffer {
    const id = frame.id;
    let bytes: Buffer;
    try {
      bytes = encodeFrame(frame);
    } catch (e) {
      this.log.error({ err: e, app: this.session.ctx.app }, 'esdk: a frame could not be encoded');
      return encodeFrame({ id, error: toWire(new EsdkError('internal', 'the agent could not encode its answer')) });
    }
    if (bytes.length - 4 > this.limits.maxFrameBytes)
      return encodeFrame({
        id,
        error: { code: 'too-large', message: `the answer is ${bytes.length - 4} bytes, over the frame limit` },
      });
    return bytes;
  }
}
