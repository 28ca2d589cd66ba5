/**
 * Reconnect delays: capped exponential backoff with jitter. Pure.
 *
 * mqtt.js only knows a fixed `reconnectPeriod`; a thousand gateways that lose
 * the same broker would then all come back in the same second. The session
 * turns mqtt.js's own reconnects off and waits `reconnectDelay(attempt)`
 * between attempts instead.
 */
export interface BackoffPolicy {
  /** Delay before the first retry (ms). Default 1000. */
  initialMs: number;
  /** Upper bound of any delay (ms). Default 60000. */
  maxMs: number;
  /** Growth per failed attempt. Default 2. */
  factor: number;
  /**
   * Fraction of the delay that is random (0 = none, 1 = "full jitter").
   * Default 0.5: the delay is uniformly in [base/2, base].
   */
  jitter: number;
  /** A connection that lived at least this long resets the attempt count (ms). Default 10000. */
  stableAfterMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = {
  initialMs: 1000,
  maxMs: 60_000,
  factor: 2,
  jitter: 0.5,
  stableAfterMs: 10_000,
};

/** Delay before retry number `attempt` (0-based); `random` is in [0, 1). */
export function reconnectDelay(attempt: number, policy: BackoffPolicy, random: number): number {
  const exponent = Math.max(0, Math.min(attempt, 64));
  const base = Math.min(policy.maxMs, policy.initialMs * policy.factor ** exponent);
  const jitter = Math.max(0, Math.min(1, policy.jitter));
  return Math.round(base * (1 - jitter * random));
}
