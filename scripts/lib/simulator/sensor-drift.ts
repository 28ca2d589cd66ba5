/**
 * Plausible, slowly drifting sensor values for the fake sysfs tree (pure: the
 * caller writes the files and owns the timer; randomness is injected).
 *
 * Each hwmon/thermal sensor does a random walk around its starting value,
 * pulled back towards it and kept within a band, so a subscribed app sees a
 * value that changes a little on every step and never runs away. Values are
 * in the sensor's unit (what the app reads); the files hold the raw integer
 * the profile's scale/offset turn into that unit, as the kernel's do.
 * `pin` holds a sensor at a value (to try an app's thresholds) until `unpin`.
 */
import type { SensorSpec } from '../../../agent/src/config/profile-types.js';
import { invalid, notFound } from '../../../agent/src/errors.js';

export interface SensorFileValue {
  sensor: string;
  /** The file under the sysfs root, as the profile gives it (no leading slash). */
  path: string;
  raw: number;
  value: number;
}

interface Walker {
  spec: SensorSpec & { path: string };
  centre: number;
  value: number;
  step: number;
  span: number;
  pinned: boolean;
}

/** The raw file contents that read back as `value` in the sensor's unit (value = raw * scale + offset). */
export function rawFor(spec: Pick<SensorSpec, 'scale' | 'offset'>, value: number): number {
  const scale = spec.scale ?? 1;
  return Math.round((value - (spec.offset ?? 0)) / scale);
}

/** What a raw file value reads as. */
export function valueFor(spec: Pick<SensorSpec, 'scale' | 'offset'>, raw: number): number {
  return raw * (spec.scale ?? 1) + (spec.offset ?? 0);
}

export class SensorDrift {
  private readonly walkers = new Map<string, Walker>();

  /** `startRaw`: each file sensor's starting raw value (what the fake tree was created with). */
  constructor(
    sensors: SensorSpec[],
    startRaw: (name: string) => number,
    private readonly random: () => number = Math.random,
  ) {
    for (const s of sensors) {
      if (s.kind === 'system' || s.path === undefined) continue;
      const centre = valueFor(s, startRaw(s.name));
      // About 0.5% of the value per step within a 5% band; a floor so 0 still moves.
      const step = Math.max(Math.abs(centre) * 0.005, 0.05);
      const span = Math.max(Math.abs(centre) * 0.05, 0.5);
      this.walkers.set(s.name, {
        spec: { ...s, path: s.path.replace(/^\/+/, '') },
        centre,
        value: centre,
        step,
        span,
        pinned: false,
      });
    }
  }

  /** Sensors backed by a file (system sensors are the host's real metrics). */
  names(): string[] {
    return [...this.walkers.keys()];
  }

  /** One step of every sensor not pinned: the new file contents. */
  step(): SensorFileValue[] {
    const out: SensorFileValue[] = [];
    for (const [name, w] of this.walkers) {
      if (w.pinned) continue;
      const pull = (w.centre - w.value) * 0.1;
      const next = w.value + pull + (this.random() * 2 - 1) * w.step;
      w.value = Math.min(w.centre + w.span, Math.max(w.centre - w.span, next));
      out.push(this.fileValue(name, w));
    }
    return out;
  }

  /** Hold a sensor at `value` (in its unit) until unpin. */
  pin(name: string, value: number): SensorFileValue {
    const w = this.walker(name);
    if (!Number.isFinite(value)) throw invalid(`sensor ${name}: ${value} is not a number`);
    w.value = value;
    w.pinned = true;
    return this.fileValue(name, w);
  }

  /** Drift again, around the value it was pinned at. */
  unpin(name: string): void {
    const w = this.walker(name);
    w.pinned = false;
    w.centre = w.value;
  }

  private walker(name: string): Walker {
    const w = this.walkers.get(name);
    if (!w) {
      throw notFound(
        `sensor ${name} is not a simulated file sensor (simulated: ${this.names().join(', ') || 'none'}; system sensors are the host's own)`,
      );
    }
    return w;
  }

  private fileValue(sensor: string, w: Walker): SensorFileValue {
    const raw = rawFor(w.spec, w.value);
    return { sensor, path: w.spec.path, raw, value: valueFor(w.spec, raw) };
  }
}
