import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { cronTimer } from '../../../agent/src/cloud/cron-timer.js';
import { isGantryError } from '../../../agent/src/errors.js';
import { waitFor } from '../../helpers/timeout.js';

/** Real clock: the reported-state schedule fires once per cron occurrence and stops when told. */
const test = suite('cloud: cron timer (node-cron parser, one timer)');

test('an every-second schedule fires once per second boundary, and never after stop', async () => {
  const fired: number[] = [];
  const timer = cronTimer('* * * * * *', () => fired.push(Date.now()));
  try {
    await waitFor(() => (fired.length >= 3 ? true : undefined), { ms: 10_000, what: 'three firings' });
  } finally {
    timer.stop();
  }
  const seconds = fired.map((t) => Math.floor(t / 1000));
  assert.equal(seconds, [...new Set(seconds)], `one firing per second: ${fired.join(', ')}`);
  const count = fired.length;
  await new Promise((r) => setTimeout(r, 1500));
  assert.is(fired.length, count, 'stopped');
});

test('a schedule that is not cron is refused', () => {
  assert.throws(
    () => cronTimer('every 5 minutes', () => {}),
    (e: unknown) => isGantryError(e, 'invalid'),
  );
});

test.run();
