import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { DEFAULT_BACKOFF, reconnectDelay } from '../../../agent/src/cloud/backoff.js';

const test = suite('cloud: reconnect backoff');

test('grows exponentially from the initial delay and stops at the cap', () => {
  const p = { ...DEFAULT_BACKOFF, jitter: 0 };
  assert.equal(
    [0, 1, 2, 3, 4, 5, 6, 7, 100].map((a) => reconnectDelay(a, p, 0.9)),
    [1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000],
  );
});

test('jitter takes up to its fraction off the delay, never adds', () => {
  const p = { ...DEFAULT_BACKOFF, jitter: 0.5 };
  assert.is(reconnectDelay(3, p, 0), 8000);
  assert.is(reconnectDelay(3, p, 0.5), 6000);
  assert.is(reconnectDelay(3, p, 0.999999), 4000);
  assert.is(reconnectDelay(50, { ...p, jitter: 1 }, 0.5), 30000);
});

test('a jitter outside 0..1 is clamped and a negative attempt counts as the first', () => {
  assert.is(reconnectDelay(0, { ...DEFAULT_BACKOFF, jitter: 7 }, 0.25), 750);
  assert.is(reconnectDelay(-3, { ...DEFAULT_BACKOFF, jitter: 0 }, 0), 1000);
});

test.run();
