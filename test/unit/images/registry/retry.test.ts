import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { denied, isGantryError } from '../../../../agent/src/errors.js';
import { RetryableFailure, type RetryDeps, withRetries } from '../../../../agent/src/images/registry/retry.js';

const test = suite('withRetries');

function deps(attempts: number, sleep?: (ms: number) => Promise<void>) {
  const sleeps: number[] = [];
  const d: RetryDeps = {
    attempts,
    random: () => 0.5,
    policy: { baseMs: 100, capMs: 1000 },
    sleep:
      sleep ??
      (async (ms) => {
        sleeps.push(ms);
      }),
  };
  return { d, sleeps };
}

const reset = () => Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });

test('retries retryable failures with backoff, then returns the result', async () => {
  const { d, sleeps } = deps(5);
  let n = 0;
  const got = await withRetries('op', d, undefined, async () => {
    n++;
    if (n === 1) throw new RetryableFailure('HTTP 503');
    if (n === 2) throw reset();
    return 'ok';
  });
  assert.is(got, 'ok');
  assert.equal(sleeps, [50, 100]);
});

test('Retry-After replaces the backoff', async () => {
  const { d, sleeps } = deps(3);
  let n = 0;
  await withRetries('op', d, undefined, async () => {
    if (n++ === 0) throw new RetryableFailure('HTTP 429', 4000);
  });
  assert.equal(sleeps, [4000]);
});

test('gives up after the attempts: unavailable, the last failure as cause', async () => {
  const { d, sleeps } = deps(3);
  let n = 0;
  const e = await withRetries('GET x', d, undefined, async () => {
    throw new RetryableFailure(`HTTP 50${n++}`);
  }).catch((x: unknown) => x);
  assert.ok(isGantryError(e, 'unavailable'));
  assert.is((e as Error).message, 'GET x: HTTP 502 (gave up after 3 attempts)');
  assert.ok((e as Error).cause instanceof RetryableFailure);
  assert.is(sleeps.length, 2);
});

test('a GantryError is final; other errors become unavailable at once', async () => {
  const { d, sleeps } = deps(5);
  const refused = denied('no');
  assert.is(await withRetries('op', d, undefined, () => Promise.reject(refused)).catch((x: unknown) => x), refused);
  const tls = Object.assign(new Error('self-signed certificate'), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' });
  const e = await withRetries('op', d, undefined, () => Promise.reject(tls)).catch((x: unknown) => x);
  assert.ok(isGantryError(e, 'unavailable'));
  assert.is((e as Error).cause, tls);
  assert.is(sleeps.length, 0);
});

test('an abort during the backoff rejects with the reason', async () => {
  const { d } = deps(5, () => new Promise(() => {}));
  const ac = new AbortController();
  const p = withRetries('op', d, ac.signal, () => Promise.reject(reset()));
  setTimeout(() => ac.abort(new Error('stop')), 5);
  const e = await p.catch((x: unknown) => x);
  assert.is((e as Error).message, 'stop');
});

test('an already aborted signal: no attempt at all', async () => {
  const { d } = deps(5);
  const ac = new AbortController();
  ac.abort();
  let ran = false;
  const e = await withRetries('op', d, ac.signal, async () => {
    ran = true;
  }).catch((x: unknown) => x);
  assert.not.ok(ran);
  assert.is((e as Error).name, 'AbortError');
});

test.run();
