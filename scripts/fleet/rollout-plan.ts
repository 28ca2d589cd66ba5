/**
 * The numbers of a rollout, parsed from its flags. Pure.
 *
 *   --waves 1,10%,50%,100%   cumulative: after wave k this many gateways have the new
 *                            revision. A count is a number of gateways, a percentage is
 *                            of the whole group, rounded up (10% of 5 gateways is 1, never
 *                            0). A step that adds nobody is dropped; a list that stops
 *                            short of the group gets a last wave for the rest.
 *   --max-failures 5% | 3    how many failed gateways the rollout tolerates, counted over
 *                            every gateway it has published to so far (all waves, not just
 *                            the current one): a percentage of those, rounded down, or a
 *                            fixed count. One failure more halts it. With 5%, a canary
 *                            wave of one gateway halts on its first failure.
 *   --wave-timeout 10m       durations: 500ms, 90s, 10m, 1h, or plain seconds.
 */
import { invalid } from '../../agent/src/errors.js';

export type WaveStep = { kind: 'count'; n: number } | { kind: 'percent'; p: number };
export type FailureBudget = { kind: 'count'; n: number } | { kind: 'percent'; p: number };

export const DEFAULT_WAVES = '1,10%,50%,100%';
export const DEFAULT_MAX_FAILURES = '5%';

const PERCENT = /^(\d+(?:\.\d+)?)%$/;
const COUNT = /^\d+$/;

export function parseWaves(text: string): WaveStep[] {
  const parts = text.split(',').map((s) => s.trim());
  if (parts.length === 0 || parts.some((p) => p === '')) {
    throw invalid(`--waves ${JSON.stringify(text)}: expected a comma list such as 1,10%,50%,100%`);
  }
  return parts.map((part) => {
    const pct = PERCENT.exec(part);
    if (pct) {
      const p = Number(pct[1]);
      if (!(p > 0 && p <= 100)) throw invalid(`--waves: ${part} is not a percentage above 0% and at most 100%`);
      return { kind: 'percent', p };
    }
    if (COUNT.test(part) && Number(part) >= 1) return { kind: 'count', n: Number(part) };
    throw invalid(`--waves: ${JSON.stringify(part)} is neither a gateway count (1, 25) nor a percentage (10%)`);
  });
}

/** Sizes of the non-empty waves for a group of `total` gateways; they add up to `total`. */
export function waveSizes(steps: readonly WaveStep[], total: number): number[] {
  const sizes: number[] = [];
  let done = 0;
  for (const step of steps) {
    const target = step.kind === 'count' ? Math.min(step.n, total) : Math.min(total, Math.ceil((step.p * total) / 100));
    if (target > done) {
      sizes.push(target - done);
      done = target;
    }
  }
  if (done < total) sizes.push(total - done);
  return sizes;
}

/** Split the devices, in order, into waves. */
export function splitWaves(devices: readonly string[], steps: readonly WaveStep[]): string[][] {
  const waves: string[][] = [];
  let at = 0;
  for (const size of waveSizes(steps, devices.length)) {
    waves.push(devices.slice(at, at + size));
    at += size;
  }
  return waves;
}

export function parseFailureBudget(text: string): FailureBudget {
  const t = text.trim();
  const pct = PERCENT.exec(t);
  if (pct) {
    const p = Number(pct[1]);
    if (!(p >= 0 && p <= 100)) throw invalid(`--max-failures: ${t} is not a percentage from 0% to 100%`);
    return { kind: 'percent', p };
  }
  if (COUNT.test(t)) return { kind: 'count', n: Number(t) };
  throw invalid(`--max-failures ${JSON.stringify(text)}: expected a percentage (5%) or a gateway count (3)`);
}

/** How many failures are tolerated once `published` gateways were given the revision. */
export function allowedFailures(budget: FailureBudget, published: number): number {
  return budget.kind === 'count' ? budget.n : Math.floor((budget.p * published) / 100 + 1e-9);
}

export function formatBudget(budget: FailureBudget): string {
  return budget.kind === 'count' ? String(budget.n) : `${budget.p}%`;
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** 500ms, 90s, 10m, 1h, 1.5s, or plain seconds; returns milliseconds. */
export function parseDuration(text: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!m) throw invalid(`${flag} ${JSON.stringify(text)}: expected a duration such as 500ms, 90s, 10m or 1h`);
  return Math.round(Number(m[1]) * (UNIT_MS[m[2] ?? 's'] as number));
}

export function formatMs(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = ms / 1000;
  if (s < 60) return `${Number.isInteger(s) ? s : s.toFixed(1)}s`;
  const m = Math.floor(s / 60);
  const rest = Math.round(s % 60);
  return rest === 0 ? `${m}m` : `${m}m${rest}s`;
}
