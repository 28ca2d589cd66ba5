import type { Logger } from 'pino';
import type { OutboxInput } from '../cloud/outbox/outbox.js';
import { encodePayload } from '../cloud/payload.js';
import { CBOR_CONTENT_TYPE } from '../cloud/topics.js';
import type { TelemetryRule } from '../deploy/types.js';
import { invalid, messageOf, unavailable } from '../errors.js';
import { checkPriority } from './rule-check.js';
import { createStreamRule, type Emission, type Sample, type StreamRule, type StreamRuleCounters } from './rules.js';

/** What the eSDK server calls for an app's `telemetry.publish`. */
export interface TelemetrySink {
  publish(
    app: string,
    stream: string,
    samples: Array<{ value: unknown; ts: number }>,
    opts: { priority?: number },
  ): Promise<void>;
}

/** The part of the outbox the pipeline writes to. */
export interface TelemetryOutbox {
  enqueue(msgs: OutboxInput[]): Promise<unknown>;
}

export interface TelemetryPipelineOptions {
  outbox: TelemetryOutbox;
  /** The stream's MQTT topic (the cloud contract: gantry/v1/<device>/telemetry/<app>/<stream>); may throw `invalid`. */
  topicFor: (app: string, stream: string) => string;
  /** ms since the epoch. Default Date.now. */
  clock?: () => number;
  /** How often windows, held samples and lingering batches are released, ms. 0: only when tick() is called. Default 250. */
  tickMs?: number;
  batchLingerMs?: number;
  log?: Pick<Logger, 'warn' | 'error'>;
  /** Distinct streams one app may publish (default 64). */
  maxStreamsPerApp?: number;
}

const MAX_STREAMS_PER_APP = 64;

export interface StreamStats extends StreamRuleCounters {
  app: string;
  stream: string;
  /** What the samples would have cost as one message each (CBOR payload + topic). */
  rawBytes: number;
  /** What was enqueued (CBOR payload + topic). */
  sentBytes: number;
}

export interface TelemetryStats extends StreamRuleCounters {
  rawBytes: number;
  sentBytes: number;
  /** rawBytes - sentBytes: an estimate of what the rules kept off the uplink. */
  bytesSaved: number;
  streams: StreamStats[];
}

interface StreamEntry {
  app: string;
  stream: string;
  topic: string;
  rule: TelemetryRule | undefined;
  machine: StreamRule;
  /** Counters of machines replaced by a rule change. */
  carried: StreamRuleCounters;
  rawBytes: number;
  sentBytes: number;
}

/** Alerts get their own ordering lane in the outbox, so they can overtake the stream's queued bulk data. */
export const ALERT_LANE_SUFFIX = '!alert';

const NO_COUNTS: StreamRuleCounters = { samplesIn: 0, messagesOut: 0, alerts: 0, dropped: 0 };

/**
 * Telemetry from apps to the outbox through each stream's rules.
 *
 * publish() resolves once every message its samples produced is committed to
 * the outbox. Samples that produced no message yet (held by minIntervalSec,
 * in an open window or a partial batch) are in memory until tick() emits
 * them: a crash loses at most one interval/window/linger of such a stream,
 * the price of aggregating at the edge. Pass-through streams lose nothing.
 *
 * Each message is one CBOR map (see rules.ts for its shapes) on the stream's
 * topic; ordinary messages go in lane `<app>/<stream>` with the stream's
 * ttlSec, alerts in lane `<app>/<stream>!alert` with priority 9 and no TTL
 * (an alert is worth delivering late).
 */
export class TelemetryPipeline implements TelemetrySink {
  private readonly rules = new Map<string, Record<string, TelemetryRule>>();
  private readonly streams = new Map<string, StreamEntry>();
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly clock: () => number;
  private readonly timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly opts: TelemetryPipelineOptions) {
    this.clock = opts.clock ?? Date.now;
    const tickMs = opts.tickMs ?? 250;
    if (tickMs > 0) {
      this.timer = setInterval(() => this.tick(), tickMs);
      this.timer.unref();
    }
  }

  /**
   * The app's rules from its deployment (an empty record: every stream passes
   * through). All are checked before any is used. A stream whose rule changed
   * flushes what it had pending under the old rule and starts afresh.
   */
  setRules(app: string, rules: Record<string, TelemetryRule>): void {
    for (const [stream, rule] of Object.entries(rules)) {
      createStreamRule(rule, { where: ruleWhere(app, stream) });
    }
    this.rules.set(app, { ...rules });
    const now = this.clock();
    for (const entry of this.streams.values()) {
      if (entry.app !== app) continue;
      const rule = rules[entry.stream];
      if (sameRule(rule, entry.rule)) continue;
      this.background(this.send(entry, entry.machine.flush(now)));
      entry.carried = addCounts(entry.carried, entry.machine.counters());
      entry.rule = rule;
      entry.machine = this.machineFor(app, entry.stream, rule);
    }
  }

  /** The app is gone: send what its streams had pending and forget them. */
  removeApp(app: string): void {
    const now = this.clock();
    for (const [key, entry] of this.streams) {
      if (entry.app !== app) continue;
      this.background(this.send(entry, entry.machine.flush(now)));
      this.streams.delete(key);
    }
    this.rules.delete(app);
  }

  async publish(app: string, stream: string, samples: Sample[], opts: { priority?: number }): Promise<void> {
    if (this.closed) throw unavailable('telemetry is shutting down');
    const where = `telemetry.publish for app ${app} stream ${stream}`;
    if (!Array.isArray(samples)) throw invalid(`${where}: samples must be an array`);
    samples.forEach((s, i) => {
      if (typeof s !== 'object' || s === null || typeof s.ts !== 'number' || !Number.isFinite(s.ts)) {
        throw invalid(`${where}: samples[${i}] needs a finite number ts (ms since the epoch)`);
      }
    });
    if (opts.priority !== undefined) checkPriority(opts.priority, `${where}: priority`);
    const entry = this.entry(app, stream);
    const now = this.clock();
    const emissions: Emission[] = [];
    const ctx = opts.priority === undefined ? { now } : { now, priority: opts.priority };
    for (const s of samples) {
      for (const e of entry.machine.offer(s, ctx)) emissions.push(e);
      // Pass-through: raw and sent are the same bytes, counted once they are encoded in send().
      if (entry.rule !== undefined) {
        entry.rawBytes += encodePayload({ kind: 'sample', ts: s.ts, value: s.value }).byteLength + entry.topic.length;
      }
    }
    await this.send(entry, emissions);
  }

  /** Release what is due on every stream (the timer calls this every tickMs). */
  tick(now = this.clock()): void {
    for (const entry of this.streams.values()) {
      const due = entry.machine.tick(now);
      if (due.length > 0) this.background(this.send(entry, due));
    }
  }

  stats(): TelemetryStats {
    const streams: StreamStats[] = [];
    let total: StreamRuleCounters = NO_COUNTS;
    let rawBytes = 0;
    let sentBytes = 0;
    for (const e of this.streams.values()) {
      const counts = addCounts(e.carried, e.machine.counters());
      streams.push({ app: e.app, stream: e.stream, ...counts, rawBytes: e.rawBytes, sentBytes: e.sentBytes });
      total = addCounts(total, counts);
      rawBytes += e.rawBytes;
      sentBytes += e.sentBytes;
    }
    return { ...total, rawBytes, sentBytes, bytesSaved: rawBytes - sentBytes, streams };
  }

  /** Stop the timer, send everything pending (open windows, held samples, partial batches) and wait for it. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    const now = this.clock();
    for (const entry of this.streams.values()) this.background(this.send(entry, entry.machine.flush(now)));
    await Promise.allSettled([...this.inFlight]);
  }

  private entry(app: string, stream: string): StreamEntry {
    const key = `${app}/${stream}`;
    let entry = this.streams.get(key);
    if (!entry) {
      // Each stream keeps state here and in the outbox: an app inventing names must not grow the agent without bound.
      const max = this.opts.maxStreamsPerApp ?? MAX_STREAMS_PER_APP;
      let count = 0;
      for (const e of this.streams.values()) if (e.app === app) count++;
      if (count >= max)
        throw invalid(
          `telemetry.publish for app ${app}: it already publishes ${max} streams; stream ${stream} is one too many`,
        );
      const topic = this.opts.topicFor(app, stream);
      const rule = this.rules.get(app)?.[stream];
      const machine = this.machineFor(app, stream, rule);
      entry = { app, stream, topic, rule, machine, carried: NO_COUNTS, rawBytes: 0, sentBytes: 0 };
      this.streams.set(key, entry);
    }
    return entry;
  }

  private machineFor(app: string, stream: string, rule: TelemetryRule | undefined): StreamRule {
    const opts: { where: string; batchLingerMs?: number } = { where: ruleWhere(app, stream) };
    if (this.opts.batchLingerMs !== undefined) opts.batchLingerMs = this.opts.batchLingerMs;
    return createStreamRule(rule, opts);
  }

  /** Enqueue emissions (synchronously, so outbox order is emission order); resolves after the commit. */
  private send(entry: StreamEntry, emissions: Emission[]): Promise<void> {
    if (emissions.length === 0) return Promise.resolve();
    const lane = `${entry.app}/${entry.stream}`;
    const msgs = emissions.map((e): OutboxInput => {
      const payload = encodePayload(e.payload);
      const size = payload.byteLength + entry.topic.length;
      entry.sentBytes += size;
      if (entry.rule === undefined) entry.rawBytes += size;
      const msg: OutboxInput = {
        topic: entry.topic,
        payload,
        priority: e.priority,
        stream: e.kind === 'alert' ? lane + ALERT_LANE_SUFFIX : lane,
        contentType: CBOR_CONTENT_TYPE,
      };
      if (e.kind !== 'alert' && entry.rule?.ttlSec !== undefined) msg.ttlSec = entry.rule.ttlSec;
      return msg;
    });
    return this.opts.outbox.enqueue(msgs).then(() => undefined);
  }

  /** A send nobody awaits (timer, rule change): log its failure, and let close() wait for it. */
  private background(p: Promise<void>): void {
    const tracked = p.catch((e: unknown) => {
      this.opts.log?.error({ err: messageOf(e) }, 'telemetry: could not store emitted messages in the outbox');
    });
    this.inFlight.add(tracked);
    void tracked.finally(() => this.inFlight.delete(tracked));
  }
}

function ruleWhere(app: string, stream: string): string {
  return `telemetry rule for app ${app} stream ${stream}`;
}

function sameRule(a: TelemetryRule | undefined, b: TelemetryRule | undefined): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function addCounts(a: StreamRuleCounters, b: StreamRuleCounters): StreamRuleCounters {
  return {
    samplesIn: a.samplesIn + b.samplesIn,
    messagesOut: a.messagesOut + b.messagesOut,
    alerts: a.alerts + b.alerts,
    dropped: a.dropped + b.dropped,
  };
}
