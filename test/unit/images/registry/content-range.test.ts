import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { isGantryError } from '../../../../agent/src/errors.js';
import { parseContentRange, rangeFrom } from '../../../../agent/src/images/registry/content-range.js';

const test = suite('Content-Range and Range');

test('a satisfied range with a known length', () => {
  assert.equal(parseContentRange('bytes 100-199/1000'), { start: 100, end: 199, size: 1000 });
  assert.equal(parseContentRange('bytes 0-0/1'), { start: 0, end: 0, size: 1 });
  assert.equal(parseContentRange('  BYTES 5-9/10 '), { start: 5, end: 9, size: 10 });
});

test('an unknown length ("*")', () => {
  assert.equal(parseContentRange('bytes 42-99/*'), { start: 42, end: 99 });
});

test('big blobs: positions beyond 2^32', () => {
  assert.equal(parseContentRange('bytes 5000000000-5000000099/5000000100'), {
    start: 5_000_000_000,
    end: 5_000_000_099,
    size: 5_000_000_100,
  });
});

for (const bad of [
  '',
  'bytes */1000',
  'items 0-9/10',
  'bytes 10-5/100',
  'bytes 0-100/100',
  'bytes -1-5/10',
  'bytes 0x10-20/30',
  'bytes 1-2/abc',
  'bytes 1-2',
  'bytes 1 -2/3',
  'bytes 99999999999999999-99999999999999999/*',
]) {
  test(`refused: ${JSON.stringify(bad)}`, () => {
    assert.throws(
      () => parseContentRange(bad),
      (e: unknown) => isGantryError(e, 'invalid'),
    );
  });
}

test('Range from an offset; a bad offset is invalid', () => {
  assert.is(rangeFrom(0), 'bytes=0-');
  assert.is(rangeFrom(1234), 'bytes=1234-');
  for (const bad of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
    assert.throws(
      () => rangeFrom(bad),
      (e: unknown) => isGantryError(e, 'invalid'),
      String(bad),
    );
  }
});

test.run();
