import { invalid, messageOf } from '../../errors.js';
import type { OutboxLog, OutboxMessage } from './outbox.js';
import { TokenBucket } from './token-bucket.js';

/** What the drainer needs of the outbox (the Outbox class; a fake in unit tests). */
export interface DrainSource {
  nextBatch(max: number): OutboxMessage[];
  ack(ids: readonly number[]): void;
  release(ids: readonly number[]): void;
  onCommitted(listener: () => void): () => void;
}

/**
 * Publish one message at QoS 1; resolve on PUBACK, reject when it will not be
 * acknowledged. Calls come in drain order and must go on the wire in that
 * order over one connection (mqtt.js does): that is what keeps per-stream
 * order with many messages in flight.
 */
export type PublishFn = (msg: OutboxMessage) => Promise<void>;

export interface DrainerOptions {
  /** Messages published and not yet acked, at most. Default 128. */
  window?: number;
  /** Metered links: payload + topic bytes per second. Default unlimited. */
  bytesPerSec?: number;
  /** Token bucket size, bytes. Default one second's worth (at least 16 KiB). */
  burstBytes?: number;
  /** Wait after a failed publish before trying again, ms. Default 1000. */
  retryAfterMs?: number;
  log?: OutboxLog;
  /** ms; for the bandwidth cap. Default Date.now. */
  clock?: () => number;
}

export interface DrainerStats {
  online: boolean;
  inFlight: number;
  published: number;
  acked: number;
  failed: number;
  bytesSent: number;
}

/**
 * Moves messages from the outbox to the broker: a bounded window of
 * publishes in flight, each acked in the outbox on PUBACK (then deleted).
 *
 * Offline (setOnline(false)) it hands out nothing new; publishes already in
 * flight settle as the publisher decides (mqtt.js keeps QoS 1 messages and
 * sends them again after reconnecting). A failed publish stops the drain
 * until every publish in flight has settled; then the failed ones are given
 * back to the outbox and the drain starts again from the oldest unacked
 * message of each stream, after retryAfterMs. So a message is only ever sent
 * again after everything sent before it, and the cloud drops the duplicates
 * by msg-id.
 */
export class Drainer {
  private readonly window: number;
  private readonly clock: () => number;
  private readonly bucket: TokenBucket | undefined;
  private readonly inFlight = new Map<number, OutboxMessage>();
  /** Leased from the outbox ahead of time (up to one window), waiting for room in the window or for bandwidth. */
  private buffer: OutboxMessage[] = [];
  /** The last read found fewer messages than asked for: wait for a commit before reading again. */
  private sourceDry = false;
  private failedIds: number[] = [];
  private online = false;
  private stopped = false;
  private settling = false;
  private pumping = false;
  private timer: NodeJS.Timeout | undefined;
  private idleWaiters: Array<() => void> = [];
  private readonly unsubscribe: () => void;
  private readonly counts = { published: 0, acked: 0, failed: 0, bytesSent: 0 };

  constructor(
    private readonly source: DrainSource,
    private readonly publish: PublishFn,
    private readonly opts: DrainerOptions = {},
  ) {
    this.window = opts.window ?? 128;
    if (!(Number.isInteger(this.window) && this.window >= 1)) {
      throw invalid(`drainer window must be an integer >= 1, got ${String(opts.window)}`);
    }
    this.clock = opts.clock ?? Date.now;
    if (opts.bytesPerSec !== undefined) {
      if (!(opts.bytesPerSec > 0)) throw invalid(`drainer bytesPerSec must be > 0, got ${String(opts.bytesPerSec)}`);
      const burst = opts.burstBytes ?? Math.max(opts.bytesPerSec, 16 * 1024);
      this.bucket = new TokenBucket(opts.bytesPerSec, burst, this.clock());
    }
    this.unsubscribe = source.onCommitted(() => {
      this.sourceDry = false;
      this.pump();
    });
  }

  /** The session's link state: on connect true, on close/offline false. */
  setOnline(online: boolean): void {
    if (this.stopped || this.online === online) return;
    this.online = online;
    if (!online) {
      this.returnBuffer();
      return;
    }
    if (this.settling && this.inFlight.size === 0 && this.timer) {
      // A fresh connection: no need to sit out the retry delay of the failures on the old one.
      clearTimeout(this.timer);
      this.timer = undefined;
      this.settling = false;
    }
    this.pump();
  }

  stats(): DrainerStats {
    return { online: this.online, inFlight: this.inFlight.size, ...this.counts };
  }

  /** Stop handing out messages and wait until those in flight have settled. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.online = false;
    this.unsubscribe();
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.returnBuffer();
    await this.settled();
    if (this.failedIds.length > 0) this.source.release(this.failedIds.splice(0));
  }

  private settled(): Promise<void> {
    if (this.inFlight.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private pump(): void {
    if (this.pumping) return; // a publish that settles synchronously re-enters
    this.pumping = true;
    try {
      while (this.online && !this.stopped && !this.settling && this.timer === undefined) {
        if (this.inFlight.size >= this.window) break;
        // Read ahead: a PUBACK sends the next message from memory at once, and the outbox is read once per
        // half window rather than once per message.
        if (this.buffer.length <= this.window / 2 && !this.sourceDry) {
          const more = this.source.nextBatch(this.window - this.buffer.length);
          this.sourceDry = more.length < this.window - this.buffer.length;
          for (const m of more) this.buffer.push(m);
        }
        const msg = this.buffer[0];
        if (!msg) break; // woken again by the next commit
        const size = msg.payload.byteLength + msg.topic.length;
        const wait = this.bucket?.take(size, this.clock()) ?? 0;
        if (wait > 0) {
          this.timer = setTimeout(() => {
            this.timer = undefined;
            this.pump();
          }, wait);
          this.timer.unref();
          break;
        }
        this.buffer.shift();
        this.send(msg, size);
      }
    } finally {
      this.pumping = false;
    }
  }

  private send(msg: OutboxMessage, size: number): void {
    this.inFlight.set(msg.id, msg);
    this.counts.published++;
    this.counts.bytesSent += size;
    let sent: Promise<void>;
    try {
      sent = this.publish(msg);
    } catch (e) {
      sent = Promise.reject(e);
    }
    sent.then(
      () => this.settle(msg, undefined),
      (e: unknown) => this.settle(msg, e ?? new Error('publish rejected')),
    );
  }

  private settle(msg: OutboxMessage, error: unknown): void {
    this.inFlight.delete(msg.id);
    if (error === undefined) {
      this.counts.acked++;
      this.source.ack([msg.id]);
    } else {
      this.counts.failed++;
      this.failedIds.push(msg.id);
      if (!this.settling) {
        this.opts.log?.warn({ err: messageOf(error), topic: msg.topic }, 'outbox publish failed; will send again');
        this.settling = true;
        this.returnBuffer();
      }
    }
    if (this.inFlight.size === 0) {
      for (const w of this.idleWaiters.splice(0)) w();
      if (this.settling && !this.stopped) this.restartAfterFailure();
    }
    this.pump();
  }

  private restartAfterFailure(): void {
    this.source.release(this.failedIds.splice(0));
    this.sourceDry = false;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.settling = false;
      this.pump();
    }, this.opts.retryAfterMs ?? 1000);
    this.timer.unref();
  }

  private returnBuffer(): void {
    this.sourceDry = false; // released messages are there to read again
    if (this.buffer.length === 0) return;
    this.source.release(this.buffer.map((m) => m.id));
    this.buffer = [];
  }
}
