import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  backoffDelay,
  DEFAULT_BACKOFF,
  isRetryableError,
  isRetryableStatus,
  MAX_RETRY_AFTER_MS,
  parseRetryAfter,
} from '../../../../agent/src/images/registry/backoff.js';

const test = suite('backoff, Retry-After and what is worth retrying');

test('full jitter: uniform below a ceiling that doubles from base', () => {
  const policy = { baseMs: 100, capMs: 10_000 };
  assert.is(backoffDelay(0, 0, policy), 0);
  assert.is(backoffDelay(0, 0.5, policy), 50);
  assert.is(backoffDelay(1, 0.5, policy), 100);
  assert.is(backoffDelay(2, 0.5, policy), 200);
  assert.is(backoffDelay(3, 0.999, policy), 799);
});

test('the ceiling stops at the cap, however many retries', () => {
  const policy = { baseMs: 100, capMs: 1000 };
  assert.is(backoffDelay(10, 0.5, policy), 500);
  assert.is(backoffDelay(1000, 0.5, policy), 500, 'no Infinity or NaN from 2^1000');
});

test('random samples outside [0, 1) and negative retries are clamped', () => {
  const policy = { baseMs: 100, capMs: 1000 };
  assert.is(backoffDelay(0, -3, policy), 0);
  assert.is(backoffDelay(0, 7, policy), 100);
  assert.is(backoffDelay(-2, 0.5, policy), 50);
});

test('the default policy: 0.5 s base, 30 s cap', () => {
  assert.equal(DEFAULT_BACKOFF, { baseMs: 500, capMs: 30_000 });
  assert.is(backoffDelay(0, 0.5), 250);
  assert.is(backoffDelay(20, 0.5), 15_000);
});

test('Retry-After: delay-seconds, an HTTP-date, the past, garbage, and the clamp', () => {
  const now = Date.parse('2024-01-01T00:00:00Z');
  assert.is(parseRetryAfter('7', now), 7000);
  assert.is(parseRetryAfter(' 0 ', now), 0);
  assert.is(parseRetryAfter('Mon, 01 Jan 2024 00:00:05 GMT', now), 5000);
  assert.is(parseRetryAfter('Sun, 31 Dec 2023 23:59:00 GMT', now), 0);
  assert.is(parseRetryAfter('soon', now), undefined);
  assert.is(parseRetryAfter('-5', now), undefined);
  assert.is(parseRetryAfter(undefined, now), undefined);
  assert.is(parseRetryAfter('86400', now), MAX_RETRY_AFTER_MS);
});

test('retryable statuses: 408, 429 and 5xx only', () => {
  for (const s of [408, 429, 500, 502, 503, 504, 599]) assert.ok(isRetryableStatus(s), String(s));
  for (const s of [200, 206, 301, 400, 401, 403, 404, 405, 416, 600]) assert.not.ok(isRetryableStatus(s), String(s));
});

test('retryable transport errors: resets, refusals, timeouts, hang-ups; not TLS or DNS names', () => {
  const err = (code: string, message = code) => Object.assign(new Error(message), { code });
  for (const c of ['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'EHOSTUNREACH']) {
    assert.ok(isRetryableError(err(c)), c);
  }
  assert.ok(isRetryableError(new Error('socket hang up')));
  for (const c of ['ENOTFOUND', 'CERT_HAS_EXPIRED', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'ERR_INVALID_URL']) {
    assert.not.ok(isRetryableError(err(c)), c);
  }
  assert.not.ok(isRetryableError(new DOMException('aborted', 'AbortError')));
  assert.not.ok(isRetryableError('a string'));
});

test.run();
