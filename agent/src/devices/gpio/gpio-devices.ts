import type { Logger } from 'pino';
import type { GpioLineSpec } from '../../config/profile-types.js';
import { invalid, messageOf, notFound } from '../../errors.js';
import { DeviceBusyError } from '../errors.js';
import type { Edge, GpioDevices, GpioEvent, GpioWatch } from '../types.js';
import type { GpioBackend, Level } from './backend.js';

/** Longest debounce accepted: beyond this a "debounce" is a different feature. */
export const MAX_DEBOUNCE_MS = 10_000;

export interface GpioRegistry extends GpioDevices {
  watch(...args: Parameters<GpioDevices['watch']>): GpioWatch;
  release(owner: string): void;
  close(): Promise<void>;
}

/**
 * The profile's GPIO lines by logical name over one backend: lines are set
 * up on first use; an output line belongs to the first owner that writes it
 * until release(owner) (its level stays as it was); watches are debounced
 * here, above the backend, so every backend debounces alike.
 */
export function createGpioDevices(opts: { lines: GpioLineSpec[]; backend: GpioBackend; log: Logger }): GpioRegistry {
  const { backend, log } = opts;
  const specs = new Map(opts.lines.map((l) => [l.name, l]));
  const setups = new Map<string, Promise<void>>();
  const owners = new Map<string, string>();
  const written = new Map<string, Level>();
  const writeChains = new Map<string, Promise<unknown>>();
  const watches = new Set<() => void>();

  function spec(name: string): GpioLineSpec {
    const s = specs.get(name);
    if (!s) {
      const known = [...specs.keys()].join(', ') || 'none';
      throw notFound(`GPIO line ${name} is not in the firmware profile (known: ${known})`);
    }
    return s;
  }

  function setup(s: GpioLineSpec): Promise<void> {
    let done = setups.get(s.name);
    if (!done) {
      done = (async () => {
        await backend.export(s.line);
        await backend.setActiveLow(s.line, s.activeLow ?? false);
        await backend.setDirection(s.line, s.direction);
      })();
      setups.set(s.name, done);
      // A failed setup is retried by the next call rather than remembered.
      done.catch(() => {
        if (setups.get(s.name) === done) setups.delete(s.name);
      });
    }
    return done;
  }

  return {
    list: () => opts.lines.map((l) => ({ name: l.name, direction: l.direction })),

    async read(name) {
      const s = spec(name);
      const last = written.get(name);
      if (s.direction === 'out' && last !== undefined) return last;
      await setup(s);
      return backend.read(s.line);
    },

    async write(name, owner, value) {
      const s = spec(name);
      if (s.direction !== 'out') throw invalid(`GPIO line ${name} is an input; it cannot be written`);
      if (value !== 0 && value !== 1) throw invalid(`GPIO line ${name}: value must be 0 or 1, got ${String(value)}`);
      const holder = owners.get(name);
      if (holder !== undefined && holder !== owner) {
        throw new DeviceBusyError(name, holder, `GPIO line ${name} is owned by ${holder} until it is released`);
      }
      // Claimed before the first await, so a concurrent writer is refused.
      owners.set(name, owner);
      // Writes to one line apply in call order, so the last call wins on the pin and in `written`.
      const previous = writeChains.get(name) ?? Promise.resolve();
      const mine = previous
        .catch(() => {})
        .then(async () => {
          await setup(s);
          await backend.write(s.line, value);
          written.set(name, value);
        });
      writeChains.set(name, mine);
      try {
        await mine;
      } catch (e) {
        if (holder === undefined && owners.get(name) === owner && !written.has(name)) owners.delete(name);
        throw e;
      } finally {
        if (writeChains.get(name) === mine) writeChains.delete(name);
      }
    },

    watch(name, edge, debounceMs, onEvent, onError) {
      const s = spec(name);
      if (edge !== 'rising' && edge !== 'falling' && edge !== 'both') {
        throw invalid(`GPIO line ${name}: edge must be rising, falling or both, got ${JSON.stringify(edge)}`);
      }
      if (!Number.isFinite(debounceMs) || debounceMs < 0 || debounceMs > MAX_DEBOUNCE_MS) {
        throw invalid(`GPIO line ${name}: debounceMs must be 0..${MAX_DEBOUNCE_MS}, got ${debounceMs}`);
      }
      const fail = (e: Error) => {
        if (onError) onError(e);
        else log.warn({ line: name, err: messageOf(e) }, 'GPIO watch failed');
      };
      const debouncer = new Debouncer(name, edge, debounceMs, (e) => {
        // A subscriber's throwing callback is its own bug, not a failing line.
        try {
          onEvent(e);
        } catch (err) {
          log.warn({ line: name, err: messageOf(err) }, 'GPIO event handler threw');
        }
      });
      let stopBackend: (() => void) | undefined;
      let stopped = false;
      const stop = () => {
        stopped = true;
        debouncer.stop();
        stopBackend?.();
        watches.delete(stop);
      };
      watches.add(stop);
      const ready = (async () => {
        await setup(s);
        debouncer.start(await backend.read(s.line));
        if (stopped) return;
        // Always both edges from the backend: the edge filter applies after debouncing.
        stopBackend = backend.watch(s.line, 'both', (v, ts) => debouncer.sample(v, ts), fail);
      })();
      ready.catch((e: unknown) => fail(e instanceof Error ? e : new Error(String(e))));
      return Object.assign(stop, { ready }) satisfies GpioWatch;
    },

    release(owner) {
      for (const [line, holder] of owners) if (holder === owner) owners.delete(line);
    },

    async close() {
      for (const stop of [...watches]) stop();
      await backend.close();
    },
  };
}

/**
 * A level counts once it has held for debounceMs: each new raw value
 * restarts the wait, and a bounce back to the counted level cancels it.
 * The event carries the time the level was first seen, not when the wait ended.
 */
class Debouncer {
  private stable: Level | undefined;
  private pending: { value: Level; ts: number } | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly line: string,
    private readonly edge: Edge,
    private readonly debounceMs: number,
    private readonly onEvent: (e: GpioEvent) => void,
  ) {}

  start(level: Level): void {
    this.stable = level;
  }

  sample(value: Level, ts: number): void {
    if (this.stopped || this.stable === undefined) return;
    if (this.debounceMs === 0) {
      this.settle(value, ts);
      return;
    }
    if (this.pending?.value === value) return;
    this.clear();
    if (value === this.stable) return;
    this.pending = { value, ts };
    this.timer = setTimeout(() => {
      this.timer = undefined;
      const p = this.pending;
      this.pending = undefined;
      if (p) this.settle(p.value, p.ts);
    }, this.debounceMs);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    this.clear();
  }

  private clear(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.pending = undefined;
  }

  private settle(value: Level, ts: number): void {
    if (value === this.stable || this.stopped) return;
    this.stable = value;
    const edge = value === 1 ? 'rising' : 'falling';
    if (this.edge === 'both' || this.edge === edge) this.onEvent({ line: this.line, value, edge, ts });
  }
}
