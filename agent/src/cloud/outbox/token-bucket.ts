/**
 * Bytes-per-second limiter for metered links. Pure: the caller passes the
 * time. A message bigger than the burst is let through once the bucket is
 * full and leaves it in debt, so it delays what follows instead of blocking
 * forever.
 */
export class TokenBucket {
  private tokens: number;
  private at: number;

  constructor(
    private readonly bytesPerSec: number,
    private readonly burst: number,
    now: number,
  ) {
    this.tokens = burst;
    this.at = now;
  }

  /** Take `bytes` and return 0, or take nothing and return how many ms to wait before asking again. */
  take(bytes: number, now: number): number {
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.at) * this.bytesPerSec) / 1000);
    this.at = now;
    const need = Math.min(bytes, this.burst);
    if (this.tokens >= need) {
      this.tokens -= bytes;
      return 0;
    }
    return Math.max(1, Math.ceil(((need - this.tokens) * 1000) / this.bytesPerSec));
  }
}
