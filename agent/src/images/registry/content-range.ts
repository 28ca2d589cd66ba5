import { invalid } from '../../errors.js';

/** A satisfied byte range of a 206 answer: `start`..`end` inclusive, of `size` bytes when the server knows it. */
export interface ContentRange {
  start: number;
  end: number;
  size?: number;
}

const DIGITS = /^\d{1,16}$/;

/**
 * Pure: parse a Content-Range header of a 206 answer (RFC 9110 §14.4:
 * `bytes first-last/complete-length`, the length may be `*`). The
 * unsatisfied form `bytes *\/N` (416 answers only) and any other unit are
 * refused: a ranged blob read has to know where its bytes start.
 */
export function parseContentRange(value: string): ContentRange {
  const bad = (why: string) => invalid(`Content-Range ${JSON.stringify(value)} is not valid: ${why}`);
  const m = /^bytes[ \t]+([^-/\s]+)-([^/\s]+)\/(\S+)$/i.exec(value.trim());
  if (!m) throw bad('expected "bytes FIRST-LAST/LENGTH"');
  const [, first = '', last = '', length = ''] = m;
  if (!DIGITS.test(first) || !DIGITS.test(last)) throw bad('first and last must be byte positions');
  const start = Number(first);
  const end = Number(last);
  if (end < start) throw bad('last byte comes before the first');
  if (length === '*') return { start, end };
  if (!DIGITS.test(length)) throw bad('length must be a number or "*"');
  const size = Number(length);
  if (end >= size) throw bad('range ends beyond the length');
  return { start, end, size };
}

/** Pure: the Range header asking for everything from `offset` on (RFC 9110 §14.1.2). */
export function rangeFrom(offset: number): string {
  if (!Number.isSafeInteger(offset) || offset < 0) {
    throw invalid(`blob offset ${offset} is not a non-negative integer`);
  }
  return `bytes=${offset}-`;
}
