import type { TelemetryRule } from '../deploy/types.js';
import { checkRule } from './rule-check.js';
import { type AlertPayload, ThresholdTracker } from './thresholds.js';
import { WindowAggregator, type WindowPayload, windowAt } from './window.js';

/**
 * Per-stream telemetry rules as a pure state machine: samples in, messages
 * ("emissions") out. No timers and no clock of its own: `offer` takes the
 * arrival time and `tick(now)` releases whatever is due, so a scripted input
 * gives exactly one output.
 *
 * Stages, in order, for every sample:
 *  1. thresholds (numeric values only): a crossing is an `alert` emission at
 *     once, priority 9, whatever the other stages do with the sample;
 *  2a. windowed stream (windowSec): the sample goes into the current window;
 *     every windowSec one `window` message {count, numeric, min, max, mean,
 *     last, from, to} replaces the raw samples. Windows are aligned to
 *     multiples of windowSec on the agent's clock and closed by the first
 *     sample or tick at or after their end; an empty window sends nothing.
 *     With a deadband, a window is sent only when its mean moved by more than
 *     the deadband from the last sent window's mean (windows without numeric
 *     values are always sent). minIntervalSec and batch do not apply: the
 *     window length already sets the rate.
 *  2b. otherwise: deadband (numbers: |v - last sent| > deadband; other values:
 *     sent when different from the last sent one), then minIntervalSec
 *     ("hold latest"): a sample that passes but comes sooner than the interval
 *     after the last sent one is held, a newer one replaces it, and `tick`
 *     sends the held one once the interval is over; a newer sample back inside
 *     the deadband cancels it (the held value is no longer the truth). Then
 *     batch N: N sent samples make one `batch` message; a partial batch goes
 *     out on the first tick `batchLingerMs` after its first sample.
 *
 * Without a rule every sample is one `sample` message (pass-through).
 *
 * Priority of ordinary messages: the rule's, else the highest the app asked
 * for among the samples in the message, else 3. Alerts are always 9.
 */

export interface Sample {
  value: unknown;
  /** The producer's timestamp, ms since the epoch. Carried in raw messages as given. */
  ts: number;
}

export interface SamplePayload {
  kind: 'sample';
  ts: number;
  value: unknown;
}

/** Columnar, so N samples cost one map and two arrays rather than N maps. */
export interface BatchPayload {
  kind: 'batch';
  ts: number[];
  values: unknown[];
}

export type EmissionPayload = SamplePayload | BatchPayload | WindowPayload | AlertPayload;

export interface Emission {
  kind: EmissionPayload['kind'];
  priority: number;
  /** The sample's ts (sample, alert), the last sample's (batch), the window's end (window). */
  ts: number;
  payload: EmissionPayload;
}

export interface StreamRuleCounters {
  samplesIn: number;
  /** Every emission, alerts included. */
  messagesOut: number;
  alerts: number;
  /** Samples that ended up in no message: inside the deadband, replaced while held, or in a window the deadband kept back. */
  dropped: number;
}

export interface StreamRule {
  readonly rule: TelemetryRule | undefined;
  /** `now` is the arrival time on the agent's clock (default: the sample's ts); `priority` the app's wish. */
  offer(sample: Sample, ctx?: { now?: number; priority?: number }): Emission[];
  /** Release what is due at `now`: a finished window, a held sample whose interval is over, a lingering batch. */
  tick(now: number): Emission[];
  /** Everything still pending, due or not (rule change, shutdown). */
  flush(now: number): Emission[];
  counters(): StreamRuleCounters;
}

export const DEFAULT_PRIORITY = 3;
export const ALERT_PRIORITY = 9;
export const DEFAULT_BATCH_LINGER_MS = 1000;

export function createStreamRule(
  rule: TelemetryRule | undefined,
  opts: { batchLingerMs?: number; where?: string } = {},
): StreamRule {
  if (rule) checkRule(rule, opts.where ?? 'telemetry rule');
  return new StreamRuleMachine(rule, opts.batchLingerMs ?? DEFAULT_BATCH_LINGER_MS);
}

function isNumber(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

function sameValue(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  try {
    return JSON.stringify(a) === JSON.stringify(b);
  } catch {
    return false;
  }
}

interface Pending {
  sample: Sample;
  priority: number;
}

class StreamRuleMachine implements StreamRule {
  private readonly thresholds: ThresholdTracker | undefined;
  private readonly windowMs: number | undefined;
  private readonly minIntervalMs: number | undefined;
  private readonly batchSize: number;
  private readonly stats: StreamRuleCounters = { samplesIn: 0, messagesOut: 0, alerts: 0, dropped: 0 };

  /** Last sent value (raw streams) or window mean (windowed streams), for the deadband. */
  private lastSent: { value: unknown } | undefined;
  private lastSentAt: number | undefined;
  private held: Pending | undefined;
  private batch: { ts: number[]; values: unknown[]; priority: number; startedAt: number } | undefined;
  private window: { agg: WindowAggregator; priority: number } | undefined;

  constructor(
    readonly rule: TelemetryRule | undefined,
    private readonly batchLingerMs: number,
  ) {
    const thresholds = rule?.thresholds ?? [];
    this.thresholds = thresholds.length > 0 ? new ThresholdTracker(thresholds, rule?.deadband ?? 0) : undefined;
    this.windowMs = rule?.windowSec === undefined ? undefined : rule.windowSec * 1000;
    this.minIntervalMs = rule?.minIntervalSec === undefined ? undefined : rule.minIntervalSec * 1000;
    this.batchSize = rule?.batch ?? 1;
  }

  counters(): StreamRuleCounters {
    return { ...this.stats };
  }

  offer(sample: Sample, ctx: { now?: number; priority?: number } = {}): Emission[] {
    const now = ctx.now ?? sample.ts;
    const priority = this.rule?.priority ?? ctx.priority ?? DEFAULT_PRIORITY;
    this.stats.samplesIn++;
    const out: Emission[] = [];
    if (this.thresholds && isNumber(sample.value)) {
      for (const alert of this.thresholds.check(sample.value, sample.ts)) {
        out.push(this.emit({ kind: 'alert', priority: ALERT_PRIORITY, ts: sample.ts, payload: alert }));
      }
    }
    if (this.windowMs !== undefined) {
      if (this.window && now >= this.window.agg.to) this.closeWindow(out);
      if (!this.window) {
        const { from, to } = windowAt(now, this.windowMs);
        this.window = { agg: new WindowAggregator(from, to), priority };
      }
      this.window.agg.add(sample.value);
      this.window.priority = Math.max(this.window.priority, priority);
      return out;
    }
    if (!this.passesDeadband(sample.value)) {
      this.stats.dropped++;
      if (this.held) this.dropHeld();
      return out;
    }
    if (
      this.minIntervalMs !== undefined &&
      this.lastSentAt !== undefined &&
      now - this.lastSentAt < this.minIntervalMs
    ) {
      if (this.held) this.dropHeld();
      this.held = { sample, priority };
      return out;
    }
    // The interval is over but no tick released the held sample yet: this newer one supersedes it.
    if (this.held) this.dropHeld();
    this.accept({ sample, priority }, now, out);
    return out;
  }

  tick(now: number): Emission[] {
    const out: Emission[] = [];
    if (this.window && now >= this.window.agg.to) this.closeWindow(out);
    if (this.held && this.minIntervalMs !== undefined && now - (this.lastSentAt ?? now) >= this.minIntervalMs) {
      const held = this.held;
      this.held = undefined;
      this.accept(held, now, out);
    }
    if (this.batch && now - this.batch.startedAt >= this.batchLingerMs) this.flushBatch(out);
    return out;
  }

  flush(now: number): Emission[] {
    const out: Emission[] = [];
    if (this.window) this.closeWindow(out);
    if (this.held) {
      const held = this.held;
      this.held = undefined;
      this.accept(held, now, out);
    }
    if (this.batch) this.flushBatch(out);
    return out;
  }

  private dropHeld(): void {
    this.held = undefined;
    this.stats.dropped++;
  }

  private passesDeadband(value: unknown): boolean {
    const deadband = this.rule?.deadband;
    if (deadband === undefined || this.lastSent === undefined) return true;
    const last = this.lastSent.value;
    if (isNumber(value) && isNumber(last)) return Math.abs(value - last) > deadband;
    return !sameValue(value, last);
  }

  /** A sample that passed deadband and interval: it is sent, alone or in a batch. */
  private accept(p: Pending, now: number, out: Emission[]): void {
    this.lastSent = { value: p.sample.value };
    this.lastSentAt = now;
    if (this.batchSize <= 1) {
      const payload: SamplePayload = { kind: 'sample', ts: p.sample.ts, value: p.sample.value };
      out.push(this.emit({ kind: 'sample', priority: p.priority, ts: p.sample.ts, payload }));
      return;
    }
    this.batch ??= { ts: [], values: [], priority: p.priority, startedAt: now };
    this.batch.ts.push(p.sample.ts);
    this.batch.values.push(p.sample.value);
    this.batch.priority = Math.max(this.batch.priority, p.priority);
    if (this.batch.ts.length >= this.batchSize) this.flushBatch(out);
  }

  private flushBatch(out: Emission[]): void {
    const b = this.batch;
    this.batch = undefined;
    if (!b || b.ts.length === 0) return;
    const payload: BatchPayload = { kind: 'batch', ts: b.ts, values: b.values };
    out.push(this.emit({ kind: 'batch', priority: b.priority, ts: b.ts[b.ts.length - 1] ?? 0, payload }));
  }

  private closeWindow(out: Emission[]): void {
    const w = this.window;
    this.window = undefined;
    if (!w || w.agg.isEmpty) return;
    const result = w.agg.result();
    const deadband = this.rule?.deadband;
    const last = this.lastSent?.value;
    if (deadband !== undefined && result.mean !== null && isNumber(last) && Math.abs(result.mean - last) <= deadband) {
      this.stats.dropped += result.count;
      return;
    }
    if (result.mean !== null) this.lastSent = { value: result.mean };
    out.push(this.emit({ kind: 'window', priority: w.priority, ts: result.to, payload: result }));
  }

  private emit(e: Emission): Emission {
    this.stats.messagesOut++;
    if (e.kind === 'alert') this.stats.alerts++;
    return e;
  }
}
