import fc from 'fast-check';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createFrameParser, type FrameParser } from '../../../agent/src/devices/serial/framing.js';
import type { Framing } from '../../../agent/src/devices/types.js';
import { isGantryError } from '../../../agent/src/errors.js';

const test = suite('devices: frame parsers');
const bytes = (s: string) => new TextEncoder().encode(s);
const text = (frames: Uint8Array[]) => frames.map((f) => new TextDecoder().decode(f));

/** Feeds chunks (all at time 0) and collects every frame. */
function feed(p: FrameParser, chunks: string[]): string[] {
  return chunks.flatMap((c) => text(p.push(bytes(c), 0)));
}

test('raw: every chunk is a frame, empty chunks are not', () => {
  const p = createFrameParser({ kind: 'raw' });
  assert.equal(feed(p, ['ab', '', 'c']), ['ab', 'c']);
  assert.is(p.deadline(), undefined);
});

test('delimiter: frames across chunk boundaries, delimiter split between chunks', () => {
  const p = createFrameParser({ kind: 'delimiter', delimiter: bytes('\r\n') });
  assert.equal(feed(p, ['he', 'llo\r', '\nwor', 'ld\r\nnext']), ['hello', 'world']);
  assert.equal(feed(p, ['\r\n']), ['next']);
});

test('delimiter: includeDelimiter keeps it; empty frames dropped only without it', () => {
  const inc = createFrameParser({ kind: 'delimiter', delimiter: bytes('\n'), includeDelimiter: true });
  assert.equal(feed(inc, ['a\n\nb\n']), ['a\n', '\n', 'b\n']);
  const exc = createFrameParser({ kind: 'delimiter', delimiter: bytes('\n') });
  assert.equal(feed(exc, ['a\n\nb\n']), ['a', 'b']);
});

test('delimiter: a run past maxLength is cut there, and parsing resumes', () => {
  const p = createFrameParser({ kind: 'delimiter', delimiter: bytes(';'), maxLength: 4 });
  assert.equal(feed(p, ['abcdefg']), ['abcd']);
  assert.equal(feed(p, ['h;x;']), ['efgh', 'x']);
  // A delimiter right at maxLength still ends a frame of exactly maxLength.
  assert.equal(feed(p, ['wxyz;']), ['wxyz']);
});

test('delimiter: reset drops a partial frame', () => {
  const p = createFrameParser({ kind: 'delimiter', delimiter: bytes('\n') });
  feed(p, ['stale']);
  p.reset();
  assert.equal(feed(p, ['fresh\n']), ['fresh']);
});

test('length: fixed-size frames regardless of chunking', () => {
  const p = createFrameParser({ kind: 'length', length: 3 });
  assert.equal(feed(p, ['ab', 'cdefg', 'hi']), ['abc', 'def', 'ghi']);
});

test('interbyte: a frame ends when the line stays quiet for gapMs', () => {
  const p = createFrameParser({ kind: 'interbyte', gapMs: 5 });
  assert.equal(p.push(bytes('ab'), 100), []);
  assert.is(p.deadline(), 105);
  assert.equal(p.push(bytes('c'), 103), []);
  assert.is(p.deadline(), 108);
  assert.equal(text(p.tick(107)), [], 'not quiet long enough yet');
  assert.equal(text(p.tick(108)), ['abc']);
  assert.is(p.deadline(), undefined);
});

test('interbyte: bytes after the gap close the previous frame even if the timer was late', () => {
  const p = createFrameParser({ kind: 'interbyte', gapMs: 5 });
  p.push(bytes('one'), 0);
  assert.equal(text(p.push(bytes('two'), 50)), ['one']);
  assert.equal(text(p.tick(55)), ['two']);
});

test('interbyte: maxLength cuts a long burst', () => {
  const p = createFrameParser({ kind: 'interbyte', gapMs: 5, maxLength: 4 });
  assert.equal(text(p.push(bytes('abcdefghij'), 0)), ['abcd', 'efgh']);
  assert.equal(text(p.tick(5)), ['ij']);
});

test('invalid framings are refused with what is wrong', () => {
  const bad: Framing[] = [
    { kind: 'delimiter', delimiter: new Uint8Array() },
    { kind: 'length', length: 0 },
    { kind: 'interbyte', gapMs: 0 },
    { kind: 'interbyte', gapMs: 5, maxLength: -1 },
  ];
  for (const f of bad) {
    try {
      createFrameParser(f);
      assert.unreachable(`accepted ${JSON.stringify(f)}`);
    } catch (e) {
      assert.ok(isGantryError(e, 'invalid'), String(e));
      assert.match((e as Error).message, `framing ${f.kind}`);
    }
  }
});

test('property: delimiter and length framings do not depend on how the stream is chunked', () => {
  const framings: Framing[] = [
    { kind: 'delimiter', delimiter: Uint8Array.of(0x0d, 0x0a), maxLength: 7 },
    { kind: 'delimiter', delimiter: Uint8Array.of(0x00), includeDelimiter: true },
    { kind: 'length', length: 5 },
  ];
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 200 }).map((a) => a.map((b) => [0x00, 0x0a, 0x0d, 0x41][b % 4] ?? 0)),
      fc.array(fc.integer({ min: 1, max: 20 }), { maxLength: 50 }),
      fc.constantFrom(...framings),
      (stream, cuts, framing) => {
        const whole = createFrameParser(framing)
          .push(stream, 0)
          .map((f) => [...f]);
        const p = createFrameParser(framing);
        const pieces: number[][] = [];
        let at = 0;
        for (const n of [...cuts, stream.length]) {
          for (const f of p.push(stream.subarray(at, at + n), 0)) pieces.push([...f]);
          at += n;
          if (at >= stream.length) break;
        }
        assert.equal(pieces, whole);
      },
    ),
  );
});

test.run();
