import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { parseLogLine } from '../../../../agent/src/runtime/driver/index.js';

const test = suite('driver: k8s-file log records (conmon format)');

test('a full stdout line, as conmon 2.1.6 writes it (local time, 9 fraction digits, offset)', () => {
  assert.equal(parseLogLine('2026-11-23T17:26:47.867587952+00:00 stdout F hello world'), {
    time: '2026-11-23T17:26:47.867587952+00:00',
    stream: 'stdout',
    complete: true,
    text: 'hello world',
  });
});

test('stderr, negative offset, and the trailing newline is not text', () => {
  const l = parseLogLine('2026-01-02T03:04:05.000000001-07:30 stderr F oops\n');
  assert.is(l?.stream, 'stderr');
  assert.is(l?.text, 'oops');
  assert.is(l?.time, '2026-01-02T03:04:05.000000001-07:30');
});

test('a partial record (P) is not complete; spaces inside the text are kept', () => {
  const l = parseLogLine('2026-11-23T17:26:47.867587952+00:00 stdout P   two  spaces ');
  assert.is(l?.complete, false);
  assert.is(l?.text, '  two  spaces ');
});

test('an empty line: the record ends right after the tag, with or without its space', () => {
  assert.is(parseLogLine('2026-11-23T17:26:47.867587952+00:00 stdout F ')?.text, '');
  assert.is(parseLogLine('2026-11-23T17:26:47.867587952+00:00 stdout F')?.text, '');
});

test('Z and shorter fractions (CRI-O, kubelet) are read too', () => {
  assert.is(parseLogLine('2026-11-23T17:26:47Z stdout F x')?.text, 'x');
  assert.is(parseLogLine('2026-11-23T17:26:47.5Z stdout F x')?.text, 'x');
});

test('bad records are undefined', () => {
  for (const bad of [
    '',
    'hello',
    '2026-11-23T17:26:47.867587952+00:00 stdin F x', // conmon never logs stdin
    '2026-11-23T17:26:47.867587952+00:00 stdout X x', // unknown tag
    '2026-11-23T17:26:47.867587952+00:00  stdout F x', // two spaces
    '2026-11-23 17:26:47 stdout F x', // not RFC 3339
    '2026-13-45T17:26:47.8+00:00 stdout F x', // no such date
    '2026-11-23T17:26:47.8675879521+00:00 stdout F x', // ten fraction digits
    'stdout F 2026-11-23T17:26:47Z',
  ]) {
    assert.is(parseLogLine(bad), undefined, bad);
  }
});

test.run();
