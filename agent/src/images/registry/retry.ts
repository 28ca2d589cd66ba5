import type { Logger } from 'pino';
import { isGantryError, messageOf, unavailable } from '../../errors.js';
import { type BackoffPolicy, backoffDelay, isRetryableError } from './backoff.js';
import { abortReason } from './transport.js';

/** Thrown inside an attempt to ask for another one (a 503, a reset connection). */
export class RetryableFailure extends Error {
  constructor(
    message: string,
    /** The server's Retry-After, ms, when it sent one. */
    readonly retryAfterMs?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'RetryableFailure';
  }
}

export interface RetryDeps {
  /** Attempts in all, the first included. */
  attempts: number;
  sleep: (ms: number) => Promise<void>;
  random: () => number;
  policy: BackoffPolicy;
  log?: Logger;
}

/**
 * Run `attempt` until it succeeds, throws something not worth retrying, or
 * `deps.attempts` are spent; then `unavailable` with the last failure as cause.
 * A GantryError from an attempt is final (denied, not-found, invalid...); a
 * transport error that is not retryable (TLS, unknown host) becomes
 * `unavailable` at once. Cancellation rethrows the signal's reason as is.
 */
export async function withRetries<T>(
  what: string,
  deps: RetryDeps,
  signal: AbortSignal | undefined,
  attempt: () => Promise<T>,
): Promise<T> {
  let last: RetryableFailure | undefined;
  for (let i = 0; i < deps.attempts; i++) {
    if (signal?.aborted) throw abortReason(signal);
    try {
      return await attempt();
    } catch (e) {
      if (signal?.aborted) throw abortReason(signal);
      if (isGantryError(e)) throw e;
      if (!(e instanceof RetryableFailure) && !isRetryableError(e)) {
        throw unavailable(`${what}: ${messageOf(e)}`, { cause: e });
      }
      last = e instanceof RetryableFailure ? e : new RetryableFailure(messageOf(e), undefined, { cause: e });
      if (i + 1 >= deps.attempts) break;
      const delayMs = last.retryAfterMs ?? backoffDelay(i, deps.random(), deps.policy);
      deps.log?.warn({ what, attempt: i + 1, attempts: deps.attempts, delayMs, err: last.message }, 'retrying');
      await sleepUnlessAborted(deps.sleep, delayMs, signal);
    }
  }
  throw unavailable(`${what}: ${last?.message ?? 'failed'} (gave up after ${deps.attempts} attempts)`, {
    cause: last,
  });
}

async function sleepUnlessAborted(
  sleep: (ms: number) => Promise<void>,
  ms: number,
  signal: AbortSignal | undefined,
): Promise<void> {
  if (!signal) return sleep(ms);
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(abortReason(signal));
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    await Promise.race([sleep(ms), aborted]);
  } finally {
    if (onAbort) signal.removeEventListener('abort', onAbort);
  }
}

export function defaultSleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
