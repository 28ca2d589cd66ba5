/**
 * The simulator's TelemetrySink: every sample an app publishes becomes a line
 * on stdout, and, when the app's deployment has telemetry rules, what those
 * rules would send upstream (telemetry/rules.ts, the agent's own state
 * machine, on the wall clock) as `upstream` lines. Nothing is stored: a
 * publish is acknowledged once its lines are written.
 *
 *   telemetry meter meter1.register0 1234
 *   upstream meter meter1.register0 window p3 {"count":10,"mean":1234,...}
 */
import type { TelemetryRule } from '../../../agent/src/deploy/types.js';
import type { TelemetrySink } from '../../../agent/src/esdk/index.js';
import { createStreamRule, type Emission, type StreamRule } from '../../../agent/src/telemetry/rules.js';

export interface PrintingSinkOptions {
  print: (line: string) => void;
  /** Per app, per stream. An app without an entry (or with {}) gets no upstream lines. */
  rules?: Record<string, Record<string, TelemetryRule>>;
  clock?: () => number;
  /** How often windows, held samples and lingering batches are released; 0: only on tick(). Default 250. */
  tickMs?: number;
}

/** JSON, with what JSON cannot say made readable: bigints as digits, bytes as hex. */
export function showValue(value: unknown): string {
  return (
    JSON.stringify(value, function (this: unknown, key: string, v: unknown) {
      // Buffer.toJSON runs before the replacer: look at the original in the holder.
      const original = (this as Record<string, unknown>)[key];
      if (typeof original === 'bigint') return original.toString();
      if (ArrayBuffer.isView(original)) {
        return `0x${Buffer.from(original.buffer, original.byteOffset, original.byteLength).toString('hex')}`;
      }
      return v;
    }) ?? 'null'
  );
}

export function sampleLine(app: string, stream: string, value: unknown): string {
  return `telemetry ${app} ${stream} ${showValue(value)}`;
}

export function emissionLine(app: string, stream: string, e: Emission): string {
  return `upstream ${app} ${stream} ${e.kind} p${e.priority} ${showValue(e.payload)}`;
}

export class PrintingTelemetrySink implements TelemetrySink {
  private readonly machines = new Map<string, { app: string; stream: string; machine: StreamRule }>();
  private readonly clock: () => number;
  private readonly timer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: PrintingSinkOptions) {
    this.clock = opts.clock ?? Date.now;
    for (const [app, rules] of Object.entries(opts.rules ?? {})) {
      // Checked up front, so a bad rule fails at start rather than at the app's first publish.
      for (const [stream, rule] of Object.entries(rules)) createStreamRule(rule, { where: where(app, stream) });
    }
    const tickMs = opts.tickMs ?? 250;
    if (tickMs > 0) {
      this.timer = setInterval(() => this.tick(), tickMs);
      this.timer.unref();
    }
  }

  async publish(
    app: string,
    stream: string,
    samples: Array<{ value: unknown; ts: number }>,
    opts: { priority?: number },
  ): Promise<void> {
    for (const s of samples) this.opts.print(sampleLine(app, stream, s.value));
    const machine = this.machine(app, stream);
    if (!machine) return;
    const now = this.clock();
    const ctx = opts.priority === undefined ? { now } : { now, priority: opts.priority };
    for (const s of samples) this.emit(app, stream, machine.offer(s, ctx));
  }

  /** Release what the rules have due (finished windows, held samples, lingering batches). */
  tick(now = this.clock()): void {
    for (const m of this.machines.values()) this.emit(m.app, m.stream, m.machine.tick(now));
  }

  /** Stop the timer and print what the rules still held. */
  close(): void {
    if (this.timer) clearInterval(this.timer);
    const now = this.clock();
    for (const m of this.machines.values()) this.emit(m.app, m.stream, m.machine.flush(now));
    this.machines.clear();
  }

  private machine(app: string, stream: string): StreamRule | undefined {
    const rules = this.opts.rules?.[app];
    if (!rules || Object.keys(rules).length === 0) return undefined;
    const key = `${app}\u0000${stream}`;
    let entry = this.machines.get(key);
    if (!entry) {
      // A stream without a rule of an app that has rules passes through: one message per sample.
      entry = { app, stream, machine: createStreamRule(rules[stream], { where: where(app, stream) }) };
      this.machines.set(key, entry);
    }
    return entry.machine;
  }

  private emit(app: string, stream: string, emissions: Emission[]): void {
    for (const e of emissions) this.opts.print(emissionLine(app, stream, e));
  }
}

function where(app: string, stream: string): string {
  return `telemetry rule for app ${app} stream ${stream}`;
}
