/**
 * Reading a request's params with messages that say which method, which
 * field, what was expected and what came (pure). Every check throws
 * EsdkError('bad-request'); nothing past here sees an unchecked value.
 */
import type { Edge, Framing, SerialOpenOptions } from '../devices/types.js';
import { describe, EsdkError, isUint } from './frame.js';

export const MAX_NAME_LENGTH = 128;
export const MAX_TIMEOUT_MS = 60_000;

export class Params {
  constructor(
    readonly method: string,
    private readonly raw: Record<string, unknown>,
  ) {}

  has(key: string): boolean {
    return Object.hasOwn(this.raw, key) && this.raw[key] !== undefined;
  }

  get(key: string): unknown {
    return Object.hasOwn(this.raw, key) ? this.raw[key] : undefined;
  }

  fail(key: string, expected: string): never {
    throw new EsdkError('bad-request', `${this.method}: ${key} must be ${expected}, got ${describe(this.get(key))}`);
  }

  /** A logical name (device, line, sensor, stream): non-empty text up to 128 characters. */
  name(key: string): string {
    const v = this.get(key);
    if (typeof v !== 'string' || v.length === 0 || v.length > MAX_NAME_LENGTH)
      this.fail(key, `a name (text of 1..${MAX_NAME_LENGTH} characters)`);
    return v;
  }

  optText(key: string, maxLength: number): string | undefined {
    if (!this.has(key)) return undefined;
    const v = this.get(key);
    if (typeof v !== 'string' || v.length > maxLength) this.fail(key, `text of at most ${maxLength} characters`);
    return v;
  }

  uint(key: string): number {
    const v = this.get(key);
    if (!isUint(v)) this.fail(key, 'an unsigned integer');
    return v;
  }

  optUint(key: string, min: number, max: number, fallback: number): number;
  optUint(key: string, min: number, max: number): number | undefined;
  optUint(key: string, min: number, max: number, fallback?: number): number | undefined {
    if (!this.has(key)) return fallback;
    const v = this.get(key);
    if (!isUint(v) || v < min || v > max) this.fail(key, `an integer in ${min}..${max}`);
    return v;
  }

  timeoutMs(fallback: number): number {
    return this.optUint('timeoutMs', 1, MAX_TIMEOUT_MS, fallback);
  }

  bytes(key: string): Uint8Array {
    const v = this.get(key);
    if (!(v instanceof Uint8Array)) this.fail(key, 'a byte string');
    return v;
  }

  oneOf<T extends string>(key: string, choices: readonly T[], fallback?: T): T {
    if (!this.has(key) && fallback !== undefined) return fallback;
    const v = this.get(key);
    if (typeof v !== 'string' || !(choices as readonly string[]).includes(v))
      this.fail(key, `one of ${choices.map((c) => `"${c}"`).join(', ')}`);
    return v as T;
  }

  optBool(key: string): boolean {
    if (!this.has(key)) return false;
    const v = this.get(key);
    if (typeof v !== 'boolean') this.fail(key, 'true or false');
    return v;
  }

  /** A GPIO level: 0 or 1 (true/false accepted). */
  level(key: string): 0 | 1 {
    const v = this.get(key);
    if (v === 0 || v === false) return 0;
    if (v === 1 || v === true) return 1;
    this.fail(key, '0 or 1');
  }

  edge(): Edge {
    return this.oneOf('edge', ['rising', 'falling', 'both'] as const, 'both');
  }

  /** A finite number of ms since the epoch. */
  optTimestamp(key: string): number | undefined {
    if (!this.has(key)) return undefined;
    const v = this.get(key);
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) this.fail(key, 'a timestamp (ms since the epoch, ≥ 0)');
    return v;
  }

  /** The line settings of serial.open. */
  serialOptions(): SerialOpenOptions {
    const opts: SerialOpenOptions = {};
    const baudRate = this.optUint('baudRate', 1, 10_000_000);
    if (baudRate !== undefined) opts.baudRate = baudRate;
    if (this.has('dataBits')) {
      const v = this.get('dataBits');
      if (v !== 7 && v !== 8) this.fail('dataBits', '7 or 8');
      opts.dataBits = v;
    }
    if (this.has('parity')) opts.parity = this.oneOf('parity', ['none', 'even', 'odd'] as const);
    if (this.has('stopBits')) {
      const v = this.get('stopBits');
      if (v !== 1 && v !== 2) this.fail('stopBits', '1 or 2');
      opts.stopBits = v;
    }
    const framing = this.optFraming('framing');
    if (framing) opts.framing = framing;
    return opts;
  }

  optFraming(key: string): Framing | undefined {
    if (!this.has(key)) return undefined;
    const v = this.get(key);
    if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Uint8Array)
      this.fail(key, 'a map {kind: "raw" | "delimiter" | "length" | "interbyte", ...}');
    const f = new Params(`${this.method}: ${key}`, v as Record<string, unknown>);
    const kind = f.oneOf('kind', ['raw', 'delimiter', 'length', 'interbyte'] as const);
    switch (kind) {
      case 'raw':
        return { kind };
      case 'length':
        return { kind, length: f.optUint('length', 1, 65_536) ?? f.fail('length', 'an integer in 1..65536') };
      case 'delimiter': {
        const delimiter = f.bytes('delimiter');
        if (delimiter.length === 0 || delimiter.length > 16) f.fail('delimiter', 'a byte string of 1..16 bytes');
        const out: Framing = { kind, delimiter };
        if (f.has('includeDelimiter')) out.includeDelimiter = f.optBool('includeDelimiter');
        const maxLength = f.optUint('maxLength', 1, 65_536);
        if (maxLength !== undefined) out.maxLength = maxLength;
        return out;
      }
      case 'interbyte': {
        const out: Framing = {
          kind,
          gapMs: f.optUint('gapMs', 1, 10_000) ?? f.fail('gapMs', 'an integer in 1..10000'),
        };
        const maxLength = f.optUint('maxLength', 1, 65_536);
        if (maxLength !== undefined) out.maxLength = maxLength;
        return out;
      }
    }
  }
}
