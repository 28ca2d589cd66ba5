import { errnoCode } from '../../errors.js';

export interface BackoffPolicy {
  /** Delay scale of the first retry, ms. */
  baseMs: number;
  /** Longest delay between two attempts, ms: a cellular link that is down for minutes is the puller's problem, not one request's. */
  capMs: number;
}

/** 0.5 s doubling to a 30 s cap: five attempts span about 15 s at most (before jitter shortens them). */
export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 500, capMs: 30_000 };

/** The longest Retry-After honoured, ms; a server asking for more gets this much and the attempt count still bounds the wait. */
export const MAX_RETRY_AFTER_MS = 60_000;

/**
 * Pure: the delay before retry number `retry` (0 for the first retry), with
 * "full jitter" (AWS Architecture Blog, "Exponential Backoff And Jitter"):
 * uniform in [0, min(cap, base·2^retry)). Full jitter spreads a fleet of
 * gateways that lost the same registry at the same moment, so they do not
 * come back in lockstep. `random` is a sample in [0, 1).
 */
export function backoffDelay(retry: number, random: number, policy: BackoffPolicy = DEFAULT_BACKOFF): number {
  const ceiling = Math.min(policy.capMs, policy.baseMs * 2 ** Math.max(0, retry));
  const r = Math.min(Math.max(random, 0), 1);
  return Math.floor(ceiling * r);
}

/**
 * Pure: a Retry-After value (RFC 9110 §10.2.3: delay-seconds or an
 * HTTP-date) as ms from `nowMs`, clamped to [0, MAX_RETRY_AFTER_MS];
 * undefined when absent or unparseable.
 */
export function parseRetryAfter(value: string | undefined, nowMs: number): number | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  let ms: number;
  if (/^\d+$/.test(v)) ms = Number(v) * 1000;
  else {
    // Every HTTP-date form starts with a day name; Date.parse alone takes "-5" for a year.
    if (!/^[A-Za-z]{3}/.test(v)) return undefined;
    const at = Date.parse(v);
    if (Number.isNaN(at)) return undefined;
    ms = at - nowMs;
  }
  return Math.min(Math.max(ms, 0), MAX_RETRY_AFTER_MS);
}

/** Pure: statuses worth another attempt: request timeout, rate limited, and server-side failures. */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || (status >= 500 && status <= 599);
}

// Transport failures a flaky uplink or a restarting registry produces; a TLS
// or DNS-name error is not among them (trying again gives the same answer).
const RETRYABLE_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
]);

/** Pure: whether a thrown transport error is worth another attempt. */
export function isRetryableError(e: unknown): boolean {
  const code = errnoCode(e);
  if (code !== undefined && RETRYABLE_CODES.has(code)) return true;
  // Node's "socket hang up" carries ECONNRESET, but a wrapped one may not.
  return e instanceof Error && e.message.includes('socket hang up');
}
