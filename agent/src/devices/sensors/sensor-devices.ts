import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import type { SensorSpec } from '../../config/profile-types.js';
import { GantryError, invalid, messageOf, notFound, unavailable } from '../../errors.js';
import type { SensorDevices, SensorReading } from '../types.js';
import type { SystemMetrics } from './system-metrics.js';

/** Fastest sampling a subscriber may ask for: faster only burns the gateway's CPU. */
export const MIN_SENSOR_INTERVAL_MS = 50;

export interface SensorRegistry extends SensorDevices {
  close(): void;
}

/**
 * The profile's sensors by logical name. hwmon and thermal sensors are one
 * number in a sysfs file (millidegrees, millivolts...), turned into the
 * profile's unit as value * scale + offset; system sensors come from
 * `metrics`. Subscriptions to one sensor share one timer that runs at the
 * fastest interval asked for; each subscriber gets a reading once its own
 * interval has passed, so the sensor is read once per tick however many
 * apps listen.
 */
export function createSensorDevices(opts: {
  sensors: SensorSpec[];
  sysfsRoot: string;
  metrics: SystemMetrics;
  log: Logger;
}): SensorRegistry {
  const specs = new Map(opts.sensors.map((s) => [s.name, s]));
  const samplers = new Map<string, Sampler>();

  function spec(name: string): SensorSpec {
    const s = specs.get(name);
    if (!s) {
      const known = [...specs.keys()].join(', ') || 'none';
      throw notFound(`sensor ${name} is not in the firmware profile (known: ${known})`);
    }
    return s;
  }

  async function read(name: string): Promise<SensorReading> {
    const s = spec(name);
    const raw = s.kind === 'system' ? await readMetric(s, opts.metrics) : await readSysfsNumber(opts.sysfsRoot, s);
    const value = raw * (s.scale ?? 1) + (s.offset ?? 0);
    return { sensor: name, value, unit: s.unit, ts: Date.now() };
  }

  return {
    list: () => opts.sensors.map((s) => ({ name: s.name, kind: s.kind, unit: s.unit })),
    read,
    subscribe(name, intervalMs, onReading, onError) {
      spec(name);
      if (!Number.isFinite(intervalMs) || intervalMs < MIN_SENSOR_INTERVAL_MS) {
        throw invalid(`sensor ${name}: intervalMs must be at least ${MIN_SENSOR_INTERVAL_MS}, got ${intervalMs}`);
      }
      let sampler = samplers.get(name);
      if (!sampler) {
        sampler = new Sampler(() => read(name));
        samplers.set(name, sampler);
      }
      const fail =
        onError ?? ((e: Error) => opts.log.warn({ sensor: name, err: messageOf(e) }, 'sensor sample failed'));
      const sub: Subscriber = { intervalMs, onReading, onError: fail, lastAt: 0 };
      sampler.add(sub);
      const owned = sampler;
      return () => {
        owned.remove(sub);
        if (owned.size === 0) {
          owned.stop();
          if (samplers.get(name) === owned) samplers.delete(name);
        }
      };
    },
    close() {
      for (const s of samplers.values()) s.stop();
      samplers.clear();
    },
  };
}

async function readMetric(s: SensorSpec, metrics: SystemMetrics): Promise<number> {
  if (!s.metric) throw invalid(`sensor ${s.name}: a system sensor needs a metric`);
  try {
    return await metrics(s.metric);
  } catch (e) {
    if (e instanceof GantryError) throw e;
    throw unavailable(`sensor ${s.name}: reading ${s.metric} failed: ${messageOf(e)}`, { cause: e });
  }
}

/** The number in `<sysfsRoot>/<path>`; a path that climbs out of the root is refused. */
export async function readSysfsNumber(sysfsRoot: string, s: SensorSpec): Promise<number> {
  if (!s.path) throw invalid(`sensor ${s.name}: a ${s.kind} sensor needs a path`);
  const root = path.resolve(sysfsRoot);
  const file = path.resolve(root, s.path.replace(/^\/+/, ''));
  if (file !== root && !file.startsWith(`${root}${path.sep}`)) {
    throw invalid(`sensor ${s.name}: path ${s.path} leaves the sysfs root ${root}`);
  }
  let text: string;
  try {
    text = (await readFile(file, 'utf8')).trim();
  } catch (e) {
    throw unavailable(`sensor ${s.name}: cannot read ${file}: ${messageOf(e)}`, { cause: e });
  }
  const value = Number(text);
  if (text === '' || !Number.isFinite(value)) {
    throw unavailable(`sensor ${s.name}: ${file} holds ${JSON.stringify(text.slice(0, 40))}, not a number`);
  }
  return value;
}

interface Subscriber {
  intervalMs: number;
  onReading: (r: SensorReading) => void;
  onError: (e: Error) => void;
  /** When this subscriber last got a sample (ms since the epoch); 0: never. */
  lastAt: number;
}

/** One sensor's shared timer. */
class Sampler {
  private readonly subs = new Set<Subscriber>();
  private timer: NodeJS.Timeout | undefined;
  private periodMs = 0;
  private busy = false;

  constructor(private readonly sample: () => Promise<SensorReading>) {}

  get size(): number {
    return this.subs.size;
  }

  add(sub: Subscriber): void {
    this.subs.add(sub);
    this.reschedule();
  }

  remove(sub: Subscriber): void {
    this.subs.delete(sub);
    if (this.subs.size > 0) this.reschedule();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.subs.clear();
  }

  private reschedule(): void {
    const fastest = Math.min(...[...this.subs].map((s) => s.intervalMs));
    if (fastest === this.periodMs && this.timer) return;
    if (this.timer) clearInterval(this.timer);
    this.periodMs = fastest;
    this.timer = setInterval(() => void this.tick(), fastest);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    // A slow read (systeminformation can take a while) skips ticks rather than piling up.
    if (this.busy) return;
    const now = Date.now();
    // Slack of half a period, so timer jitter does not make a subscriber skip every other tick.
    const due = [...this.subs].filter((s) => now - s.lastAt >= s.intervalMs - this.periodMs / 2);
    if (due.length === 0) return;
    this.busy = true;
    let outcome: { reading: SensorReading } | { error: Error };
    try {
      outcome = { reading: await this.sample() };
    } catch (e) {
      outcome = { error: e instanceof Error ? e : new Error(String(e)) };
    } finally {
      this.busy = false;
    }
    for (const s of due) {
      if (!this.subs.has(s)) continue;
      s.lastAt = now;
      // One subscriber's throwing callback must not starve the others.
      try {
        if ('reading' in outcome) s.onReading(outcome.reading);
        else s.onError(outcome.error);
      } catch {}
    }
  }
}
