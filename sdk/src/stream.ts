/**
 * Subscriptions as async iterables: `for await (const e of stream)`; leaving
 * the loop (break, return, throw) or calling `close()` cancels the
 * subscription at the agent.
 */

/** The feeding side of an EventStream, held by the connection. */
export interface StreamSink<T> {
  /** One event; `droppedBefore` events were lost just before it. */
  push(event: T, droppedBefore: number): void;
  /** No more events: the iteration ends, with `error` thrown from it if given. */
  end(error?: Error): void;
}

/** Events held for a consumer that is slower than the events; beyond this the oldest are dropped (and counted). */
export const DEFAULT_STREAM_QUEUE = 1024;

/**
 * A stream of subscription events. Iterate it once; events arriving while no
 * one awaits are queued (up to 1024, then the oldest are dropped and counted
 * in `dropped`).
 */
export class EventStream<T> implements AsyncIterable<T> {
  /** Events lost so far: dropped by the agent for a slow connection, or here for a slow consumer. */
  dropped = 0;
  private readonly queue: T[] = [];
  private readonly waiters: Array<{ resolve: (r: IteratorResult<T>) => void; reject: (e: Error) => void }> = [];
  private done = false;
  private error: Error | undefined;
  private closing: Promise<void> | undefined;

  /** @internal The SDK creates streams; apps get them from subscribe/watch calls. */
  constructor(
    attach: (sink: StreamSink<T>) => void,
    private readonly cancel: () => Promise<void>,
    private readonly maxQueue: number = DEFAULT_STREAM_QUEUE,
  ) {
    attach({ push: (event, droppedBefore) => this.push(event, droppedBefore), end: (error) => this.end(error) });
  }

  /** Whether the stream has ended (closed, or ended by the agent or a lost subscription). */
  get ended(): boolean {
    return this.done;
  }

  /** The next event; `{done: true}` after the stream ends; rejects with the error that ended it, if any. */
  next(): Promise<IteratorResult<T>> {
    if (this.queue.length > 0) return Promise.resolve({ done: false, value: this.queue.shift() as T });
    if (this.done) {
      if (this.error) {
        const error = this.error;
        this.error = undefined;
        return Promise.reject(error);
      }
      return Promise.resolve({ done: true, value: undefined });
    }
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  /** Cancel the subscription at the agent and end the iteration. Idempotent. */
  close(): Promise<void> {
    if (this.closing === undefined) {
      const wasDone = this.done;
      this.end();
      this.closing = wasDone ? Promise.resolve() : this.cancel().catch(() => undefined);
    }
    return this.closing;
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return {
      next: () => this.next(),
      return: async () => {
        await this.close();
        return { done: true, value: undefined };
      },
    };
  }

  private push(event: T, droppedBefore: number): void {
    if (this.done) return;
    this.dropped += droppedBefore;
    const waiter = this.waiters.shift();
    if (waiter) {
      waiter.resolve({ done: false, value: event });
      return;
    }
    if (this.queue.length >= this.maxQueue) {
      this.queue.shift();
      this.dropped++;
    }
    this.queue.push(event);
  }

  private end(error?: Error): void {
    if (this.done) return;
    this.done = true;
    // Waiters exist only while the queue is empty: they take the end (and the error) now; otherwise the
    // next() that finds the queue drained does.
    const waiters = this.waiters.splice(0);
    for (const waiter of waiters) {
      if (error) waiter.reject(error);
      else waiter.resolve({ done: true, value: undefined });
    }
    if (error && waiters.length === 0) this.error = error;
  }
}
