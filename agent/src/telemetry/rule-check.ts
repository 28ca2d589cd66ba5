import type { TelemetryRule } from '../deploy/types.js';
import { invalid } from '../errors.js';

/**
 * Reject a rule the state machine cannot honour, naming the field and where the
 * rule came from (`where`, e.g. `telemetry rule for app meter stream temp`).
 * The deployment validator checks the document's schema; this guards the
 * numbers the machine divides and compares by.
 */
export function checkRule(rule: TelemetryRule, where: string): void {
  const positive = (field: keyof TelemetryRule, v: number | undefined) => {
    if (v !== undefined && !(Number.isFinite(v) && v > 0)) {
      throw invalid(`${where}: ${field} must be a positive number, got ${String(v)}`);
    }
  };
  if (rule.deadband !== undefined && !(Number.isFinite(rule.deadband) && rule.deadband >= 0)) {
    throw invalid(`${where}: deadband must be a number >= 0, got ${String(rule.deadband)}`);
  }
  positive('minIntervalSec', rule.minIntervalSec);
  positive('windowSec', rule.windowSec);
  positive('ttlSec', rule.ttlSec);
  if (rule.priority !== undefined) checkPriority(rule.priority, `${where}: priority`);
  if (rule.batch !== undefined && !(Number.isInteger(rule.batch) && rule.batch >= 1)) {
    throw invalid(`${where}: batch must be an integer >= 1, got ${String(rule.batch)}`);
  }
  (rule.thresholds ?? []).forEach((t, i) => {
    const at = `${where}: thresholds[${i}]${t.name ? ` (${t.name})` : ''}`;
    if (t.above === undefined && t.below === undefined) throw invalid(`${at} needs "above", "below" or both`);
    for (const [k, v] of [
      ['above', t.above],
      ['below', t.below],
    ] as const) {
      if (v !== undefined && !Number.isFinite(v))
        throw invalid(`${at}: ${k} must be a finite number, got ${String(v)}`);
    }
    if (t.above !== undefined && t.below !== undefined && !(t.below < t.above)) {
      throw invalid(`${at}: "below" (${t.below}) must be less than "above" (${t.above}) for a band`);
    }
  });
}

/** Outbox priorities are integers 0 (lowest) .. 9 (highest). */
export function checkPriority(p: number, what: string): void {
  if (!(Number.isInteger(p) && p >= 0 && p <= 9)) throw invalid(`${what} must be an integer 0..9, got ${String(p)}`);
}
