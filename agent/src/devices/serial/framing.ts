import { invalid } from '../../errors.js';
import type { Framing } from '../types.js';

/**
 * Incremental frame parsers: pure state machines that turn the chunks a
 * serial port delivers (cut wherever the OS pleases) into the frames a
 * protocol means. Time is an input (`now`), never read here, so the
 * inter-byte parser is as testable as the others; the caller owns the timer
 * and calls `tick` when `deadline()` comes.
 */
export interface FrameParser {
  /** Feed the bytes received at `now` (ms); returns the frames they complete, in order. */
  push(chunk: Uint8Array, now: number): Uint8Array[];
  /** Frames completed by the line staying quiet until `now` (inter-byte framing only). */
  tick(now: number): Uint8Array[];
  /** When `tick` could next complete a frame, or undefined when nothing is pending. */
  deadline(): number | undefined;
  /** Drop any partial frame (stale bytes from before a transaction). */
  reset(): void;
}

/** Longest frame kept when a framing names no maxLength: a bound on what a chatty or broken device can make us buffer. */
export const DEFAULT_MAX_FRAME = 4096;

/** Refuses framings that could never produce a frame or would buffer without bound. */
export function validateFraming(framing: Framing): void {
  switch (framing.kind) {
    case 'raw':
      return;
    case 'delimiter':
      if (framing.delimiter.length === 0) throw invalid('framing delimiter: the delimiter must not be empty');
      checkMax('delimiter', framing.maxLength);
      return;
    case 'length':
      if (!Number.isInteger(framing.length) || framing.length < 1 || framing.length > DEFAULT_MAX_FRAME * 16) {
        throw invalid(
          `framing length: length must be an integer from 1 to ${DEFAULT_MAX_FRAME * 16}, got ${framing.length}`,
        );
      }
      return;
    case 'interbyte':
      if (!Number.isFinite(framing.gapMs) || framing.gapMs <= 0 || framing.gapMs > 60_000) {
        throw invalid(`framing interbyte: gapMs must be in (0, 60000], got ${framing.gapMs}`);
      }
      checkMax('interbyte', framing.maxLength);
      return;
    default:
      throw invalid(`framing: unknown kind ${JSON.stringify((framing as { kind: unknown }).kind)}`);
  }
}

function checkMax(kind: string, maxLength: number | undefined): void {
  if (maxLength !== undefined && (!Number.isInteger(maxLength) || maxLength < 1)) {
    throw invalid(`framing ${kind}: maxLength must be a positive integer, got ${maxLength}`);
  }
}

export function createFrameParser(framing: Framing): FrameParser {
  validateFraming(framing);
  switch (framing.kind) {
    case 'raw':
      return rawParser();
    case 'delimiter':
      return delimiterParser(
        framing.delimiter,
        framing.includeDelimiter ?? false,
        framing.maxLength ?? DEFAULT_MAX_FRAME,
      );
    case 'length':
      return lengthParser(framing.length);
    case 'interbyte':
      return interbyteParser(framing.gapMs, framing.maxLength ?? DEFAULT_MAX_FRAME);
  }
}

const none = (): Uint8Array[] => [];

/** Every chunk is a frame: for protocols that frame themselves above us. */
function rawParser(): FrameParser {
  return {
    push: (chunk) => (chunk.length > 0 ? [chunk.slice()] : []),
    tick: none,
    deadline: () => undefined,
    reset: () => {},
  };
}

/** Growable byte buffer: chunks are appended, frames cut from the front. */
class Bytes {
  private buf = new Uint8Array(64);
  length = 0;

  append(chunk: Uint8Array): void {
    if (this.length + chunk.length > this.buf.length) {
      const next = new Uint8Array(Math.max(this.buf.length * 2, this.length + chunk.length));
      next.set(this.buf.subarray(0, this.length));
      this.buf = next;
    }
    this.buf.set(chunk, this.length);
    this.length += chunk.length;
  }

  view(): Uint8Array {
    return this.buf.subarray(0, this.length);
  }

  /** Removes and returns the first n bytes (a copy). */
  take(n: number): Uint8Array {
    const out = this.buf.slice(0, n);
    this.buf.copyWithin(0, n, this.length);
    this.length -= n;
    return out;
  }

  clear(): void {
    this.length = 0;
  }
}

function indexOf(haystack: Uint8Array, needle: Uint8Array, from: number): number {
  outer: for (let i = from; i <= haystack.length - needle.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

/**
 * Frames end with a delimiter; an empty frame (two delimiters in a row) is
 * dropped unless the delimiter is included. A run longer than maxLength with no delimiter
 * is cut at maxLength and delivered as it is, so memory stays bounded and the
 * caller sees the garbage rather than a silent stall.
 */
function delimiterParser(delimiter: Uint8Array, include: boolean, maxLength: number): FrameParser {
  const pending = new Bytes();
  // Where to resume the delimiter search: bytes before it were searched already.
  let searchFrom = 0;
  return {
    push(chunk) {
      pending.append(chunk);
      const frames: Uint8Array[] = [];
      for (;;) {
        const at = indexOf(pending.view(), delimiter, searchFrom);
        searchFrom = 0;
        if (at >= 0 && at <= maxLength) {
          const frame = pending.take(at + delimiter.length);
          if (include) frames.push(frame);
          else if (at > 0) frames.push(frame.subarray(0, at));
          continue;
        }
        // No delimiter can start within the first maxLength bytes any more: cut there.
        if (at > maxLength || pending.length >= maxLength + delimiter.length) {
          frames.push(pending.take(maxLength));
          continue;
        }
        searchFrom = Math.max(0, pending.length - delimiter.length + 1);
        return frames;
      }
    },
    tick: none,
    deadline: () => undefined,
    reset() {
      pending.clear();
      searchFrom = 0;
    },
  };
}

/** Fixed-size frames. */
function lengthParser(length: number): FrameParser {
  const pending = new Bytes();
  return {
    push(chunk) {
      pending.append(chunk);
      const frames: Uint8Array[] = [];
      while (pending.length >= length) frames.push(pending.take(length));
      return frames;
    },
    tick: none,
    deadline: () => undefined,
    reset: () => pending.clear(),
  };
}

/**
 * A frame ends when the line has been quiet for gapMs (Modbus-RTU's 3.5
 * character times), or when it reaches maxLength. A chunk that arrives after
 * the gap first closes the frame before it, so a late timer never merges two
 * frames.
 */
function interbyteParser(gapMs: number, maxLength: number): FrameParser {
  const pending = new Bytes();
  let lastByteAt = 0;
  const closeIfQuiet = (now: number, frames: Uint8Array[]) => {
    if (pending.length > 0 && now - lastByteAt >= gapMs) frames.push(pending.take(pending.length));
  };
  return {
    push(chunk, now) {
      const frames: Uint8Array[] = [];
      if (chunk.length === 0) return frames;
      closeIfQuiet(now, frames);
      let rest = chunk;
      while (pending.length + rest.length >= maxLength) {
        const room = maxLength - pending.length;
        pending.append(rest.subarray(0, room));
        frames.push(pending.take(maxLength));
        rest = rest.subarray(room);
      }
      pending.append(rest);
      lastByteAt = now;
      return frames;
    },
    tick(now) {
      const frames: Uint8Array[] = [];
      closeIfQuiet(now, frames);
      return frames;
    },
    deadline: () => (pending.length > 0 ? lastByteAt + gapMs : undefined),
    reset: () => pending.clear(),
  };
}
