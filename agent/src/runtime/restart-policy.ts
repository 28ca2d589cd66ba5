import type { ExitInfo, RestartPolicy } from './types.js';

/** Backoff between restarts: 1 s doubling to 5 min (balena and docker use the same shape). */
export const BACKOFF_BASE_MS = 1000;
export const BACKOFF_MAX_MS = 5 * 60 * 1000;
/** A container that ran this long counts as healthy again: its next crash restarts after the base delay. */
export const BACKOFF_RESET_AFTER_MS = 10 * 60 * 1000;

/** Pure: should an exited container be started again? */
export function shouldRestart(policy: RestartPolicy | undefined, exit: ExitInfo, restartsInARow: number): boolean {
  const p: RestartPolicy = policy ?? { policy: 'never' };
  if (p.policy !== 'on-failure') return p.policy === 'always';
  if (exit.exitCode === 0 && !exit.oomKilled) return false;
  return p.maxRetries === undefined || restartsInARow < p.maxRetries;
}

/** Pure: delay before restart number `n` (0-based) of a streak. */
export function backoffMs(n: number): number {
  return Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** Math.min(n, 20));
}

/** Pure: the streak after a run of `ranMs`: long healthy runs start a new streak. */
export function nextStreak(previous: number, ranMs: number): number {
  return ranMs >= BACKOFF_RESET_AFTER_MS ? 0 : previous;
}
