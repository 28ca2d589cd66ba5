/** One aggregation window's message body. */
export interface WindowPayload {
  kind: 'window';
  /** Window start (inclusive) and end (exclusive), ms on the agent's clock, aligned to multiples of the window length. */
  from: number;
  to: number;
  /** Every sample that arrived in the window, numeric or not. */
  count: number;
  /** How many of them were finite numbers: min/max/mean/last are over those only (null when none). */
  numeric: number;
  min: number | null;
  max: number | null;
  mean: number | null;
  last: number | null;
}

/**
 * Running count/min/max/mean/last over one window. Non-numeric values (strings,
 * objects, NaN) are counted but cannot be aggregated, so they only show in
 * `count`; a stream that wants them sent as they are must not use a window.
 */
export class WindowAggregator {
  private count = 0;
  private numeric = 0;
  private sum = 0;
  private min = Number.POSITIVE_INFINITY;
  private max = Number.NEGATIVE_INFINITY;
  private last: number | null = null;

  constructor(
    readonly from: number,
    readonly to: number,
  ) {}

  add(value: unknown): void {
    this.count++;
    if (typeof value !== 'number' || !Number.isFinite(value)) return;
    this.numeric++;
    this.sum += value;
    if (value < this.min) this.min = value;
    if (value > this.max) this.max = value;
    this.last = value;
  }

  get isEmpty(): boolean {
    return this.count === 0;
  }

  result(): WindowPayload {
    const some = this.numeric > 0;
    return {
      kind: 'window',
      from: this.from,
      to: this.to,
      count: this.count,
      numeric: this.numeric,
      min: some ? this.min : null,
      max: some ? this.max : null,
      mean: some ? this.sum / this.numeric : null,
      last: this.last,
    };
  }
}

/** The window of length `lengthMs` that holds instant `now` (windows are aligned to the epoch). */
export function windowAt(now: number, lengthMs: number): { from: number; to: number } {
  const from = Math.floor(now / lengthMs) * lengthMs;
  return { from, to: from + lengthMs };
}
