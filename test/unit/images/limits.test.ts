import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ByteRateLimiter, type Clock, Semaphore } from '../../../agent/src/images/content/limits.js';

const test = suite('download limits');

/** A clock that only moves when someone sleeps. */
function fakeClock(): Clock & { slept: number } {
  let t = 0;
  const c = {
    slept: 0,
    now: () => t,
    sleep: async (ms: number) => {
      t += ms;
      c.slept += ms;
    },
  };
  return c;
}

test("the byte rate cap holds over time: 1 MiB at 128 KiB/s takes ~7 s after the first second's burst", async () => {
  const clock = fakeClock();
  const limiter = new ByteRateLimiter(128 * 1024, clock);
  for (let i = 0; i < 64; i++) await limiter.take(16 * 1024);
  const expected = ((1024 - 128) / 128) * 1000;
  assert.ok(Math.abs(clock.slept - expected) <= 64, `slept ${clock.slept} ms, expected about ${expected}`);
});

test('a take larger than the bucket is served in pieces', async () => {
  const clock = fakeClock();
  const limiter = new ByteRateLimiter(1000, clock);
  await limiter.take(3500);
  assert.ok(clock.slept >= 2400 && clock.slept <= 2600, String(clock.slept));
});

test('the semaphore never runs more than its limit', async () => {
  const sem = new Semaphore(3);
  let active = 0;
  let peak = 0;
  await Promise.all(
    Array.from({ length: 10 }, () =>
      sem.run(async () => {
        active++;
        peak = Math.max(peak, active);
        await new Promise((r) => setTimeout(r, 5));
        active--;
      }),
    ),
  );
  assert.is(peak, 3);
});

test.run();
