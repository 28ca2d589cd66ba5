/**
 * Shared limits for downloads: a counting semaphore (blobs at once) and a
 * token bucket (bytes per second across all downloads, for metered links).
 * Time is injected so tests need not sleep.
 */
export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const realClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
};

export class Semaphore {
  private active = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly max: number) {}

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.max) await new Promise<void>((r) => this.waiting.push(r));
    this.active++;
    try {
      return await fn();
    } finally {
      this.active--;
      this.waiting.shift()?.();
    }
  }
}

/**
 * Token bucket: `take(n)` resolves when n bytes may be sent. The burst is one
 * second's worth, so a cap of 128 KiB/s never lets more than 128 KiB through
 * faster than the cap. INVARIANT: tokens never exceed `rate`.
 */
export class ByteRateLimiter {
  private tokens: number;
  private last: number;
  private queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly rate: number,
    private readonly clock: Clock = realClock,
  ) {
    this.tokens = rate;
    this.last = clock.now();
  }

  /** Callers are served in order, so one big download cannot starve the others forever. */
  take(n: number): Promise<void> {
    const turn = this.queue.then(() => this.consume(n));
    this.queue = turn.catch(() => undefined);
    return turn;
  }

  private async consume(n: number): Promise<void> {
    let need = n;
    while (need > 0) {
      const now = this.clock.now();
      this.tokens = Math.min(this.rate, this.tokens + ((now - this.last) / 1000) * this.rate);
      this.last = now;
      const grant = Math.min(need, Math.floor(this.tokens));
      if (grant > 0) {
        this.tokens -= grant;
        need -= grant;
        continue;
      }
      await this.clock.sleep(Math.max(1, Math.ceil(((Math.min(need, this.rate) - this.tokens) / this.rate) * 1000)));
    }
  }
}
