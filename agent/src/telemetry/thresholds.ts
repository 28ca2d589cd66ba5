import type { TelemetryRule } from '../deploy/types.js';

/** Where a value is relative to one threshold. */
export type ThresholdState = 'normal' | 'above' | 'below';

/** An alert message body: a crossing into `above`/`below`, or back (`clear`). */
export interface AlertPayload {
  kind: 'alert';
  state: 'above' | 'below' | 'clear';
  /** The threshold's name from the rule, or `threshold-<index>`. */
  threshold: string;
  /** The limit that was crossed (for `clear`: the one that had been crossed). */
  limit: number;
  value: number;
  ts: number;
}

type Threshold = NonNullable<TelemetryRule['thresholds']>[number];

/**
 * The alert state of every threshold of one stream. Pure.
 *
 * A threshold with both `above` and `below` is a band: outside it on either
 * side is an alert, and jumping from one side to the other is a new alert
 * without a `clear` in between. Crossing in is strict (`v > above`,
 * `v < below`). Crossing back needs the value to come back by more than
 * `hysteresis` (the stream's deadband), so noise around a limit does not turn
 * into a storm of priority-9 alerts.
 */
export class ThresholdTracker {
  private readonly states: ThresholdState[];

  constructor(
    private readonly thresholds: readonly Threshold[],
    private readonly hysteresis: number,
  ) {
    this.states = thresholds.map(() => 'normal');
  }

  /** Alerts caused by one numeric value, in threshold order. */
  check(value: number, ts: number): AlertPayload[] {
    const alerts: AlertPayload[] = [];
    this.thresholds.forEach((t, i) => {
      const previous = this.states[i] ?? 'normal';
      const next = this.nextState(t, previous, value);
      if (next === previous) return;
      this.states[i] = next;
      const threshold = t.name ?? `threshold-${i}`;
      if (next === 'normal') {
        const limit = previous === 'above' ? t.above : t.below;
        alerts.push({ kind: 'alert', state: 'clear', threshold, limit: limit ?? value, value, ts });
      } else {
        const limit = next === 'above' ? t.above : t.below;
        alerts.push({ kind: 'alert', state: next, threshold, limit: limit ?? value, value, ts });
      }
    });
    return alerts;
  }

  private nextState(t: Threshold, previous: ThresholdState, v: number): ThresholdState {
    if (t.above !== undefined && v > t.above) return 'above';
    if (t.below !== undefined && v < t.below) return 'below';
    // Inside the limits: stay in alert until the value is back by more than the hysteresis.
    if (previous === 'above' && t.above !== undefined && v > t.above - this.hysteresis) return 'above';
    if (previous === 'below' && t.below !== undefined && v < t.below + this.hysteresis) return 'below';
    return 'normal';
  }
}
