import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { OutboxHook } from '../../../agent/src/cloud/index.js';
import {
  Drainer,
  Outbox,
  OutboxLink,
  type OutboxMessage,
  publishProperties,
} from '../../../agent/src/cloud/outbox/index.js';
import { TokenBucket } from '../../../agent/src/cloud/outbox/token-bucket.js';
import { waitFor } from '../../helpers/timeout.js';
import { type TempDir, tempDir } from '../../helpers/tmp.js';

const test = suite<{ dir: TempDir; box: Outbox }>('outbox drainer (real SQLite, scripted publisher)');

test.before.each(async (ctx) => {
  ctx.dir = await tempDir('gantry-drainer-');
  ctx.box = Outbox.open(path.join(ctx.dir.path, 'outbox.db'), { capBytes: 1 << 30 });
});
test.after.each(async (ctx) => {
  ctx.box.close();
  await ctx.dir.cleanup();
});

/** A publisher whose PUBACKs the test hands out. */
function scriptedPublisher() {
  const calls: Array<{ msg: OutboxMessage; ack: () => void; fail: (e: Error) => void }> = [];
  const publish = (msg: OutboxMessage) =>
    new Promise<void>((resolve, reject) => {
      calls.push({ msg, ack: resolve, fail: reject });
    });
  return { calls, publish };
}

const fill = (box: Outbox, n: number, stream = 's') =>
  box.enqueue(
    Array.from({ length: n }, (_, i) => ({ topic: 't', stream, priority: 3, payload: Buffer.from(`m${i}`) })),
  );
const flushTurns = async () => {
  for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
};

test('keeps at most `window` in flight, in outbox order, and acks on PUBACK', async ({ box }) => {
  await fill(box, 10);
  const pub = scriptedPublisher();
  const drainer = new Drainer(box, pub.publish, { window: 4 });
  drainer.setOnline(true);
  assert.is(pub.calls.length, 4);
  for (let i = 0; i < 10; i++) {
    pub.calls[i]?.ack();
    await flushTurns();
    assert.is(pub.calls.length, Math.min(10, i + 5), `after PUBACK #${i}: the next one goes at once`);
    assert.ok(drainer.stats().inFlight <= 4);
  }
  await waitFor(() => (box.stats().queued.count === 0 ? true : undefined), { ms: 2000, what: 'outbox empty' });
  assert.equal(
    pub.calls.map((c) => c.msg.seq),
    [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
  );
  assert.equal(drainer.stats(), { online: true, inFlight: 0, published: 10, acked: 10, failed: 0, bytesSent: 30 });
  await drainer.stop();
});

test('new messages wake the drainer; offline hands out nothing new', async ({ box }) => {
  const pub = scriptedPublisher();
  const drainer = new Drainer(box, pub.publish, { window: 8 });
  drainer.setOnline(true);
  await fill(box, 2);
  assert.is(pub.calls.length, 2, 'woken by the commit');
  for (const c of pub.calls) c.ack();
  drainer.setOnline(false);
  await fill(box, 3);
  await flushTurns();
  assert.is(pub.calls.length, 2, 'offline');
  drainer.setOnline(true);
  assert.is(pub.calls.length, 5);
  for (const c of pub.calls.slice(2)) c.ack();
  await drainer.stop();
  await flushTurns();
  assert.is(box.stats().queued.count, 0);
});

test('a failed publish: wait for the rest to settle, then send again from the oldest unacked', async ({ box }) => {
  await fill(box, 5);
  const pub = scriptedPublisher();
  const drainer = new Drainer(box, pub.publish, { window: 8, retryAfterMs: 5 });
  drainer.setOnline(true);
  assert.is(pub.calls.length, 5);
  pub.calls[0]?.ack();
  pub.calls[1]?.fail(new Error('connection lost'));
  pub.calls[2]?.ack(); // it did go through before the link broke
  await flushTurns();
  assert.is(pub.calls.length, 5, 'nothing new while #4 and #5 are unsettled');
  pub.calls[3]?.fail(new Error('connection lost'));
  pub.calls[4]?.fail(new Error('connection lost'));
  await waitFor(() => (pub.calls.length === 8 ? true : undefined), { ms: 2000, what: 'resend' });
  assert.equal(
    pub.calls.slice(5).map((c) => c.msg.seq),
    [2, 4, 5],
    'the failed ones again, in order',
  );
  for (const c of pub.calls.slice(5)) c.ack();
  await drainer.stop();
  await flushTurns();
  assert.is(box.stats().queued.count, 0);
  assert.is(drainer.stats().failed, 3);
});

test('after failures, a reconnect sends again at once instead of waiting out the retry delay', async ({ box }) => {
  await fill(box, 2);
  const pub = scriptedPublisher();
  const drainer = new Drainer(box, pub.publish, { retryAfterMs: 60_000 });
  drainer.setOnline(true);
  for (const c of pub.calls) c.fail(new Error('connection dropped'));
  drainer.setOnline(false);
  await flushTurns();
  assert.is(pub.calls.length, 2);
  drainer.setOnline(true);
  assert.equal(
    pub.calls.slice(2).map((c) => c.msg.seq),
    [1, 2],
  );
  for (const c of pub.calls.slice(2)) c.ack();
  await drainer.stop();
});

test('a publisher that throws at once counts as a failure, not a crash', async ({ box }) => {
  await fill(box, 1);
  let n = 0;
  const drainer = new Drainer(
    box,
    () => {
      n++;
      if (n === 1) throw new Error('not connected');
      return Promise.resolve();
    },
    { retryAfterMs: 5 },
  );
  drainer.setOnline(true);
  await waitFor(() => (box.stats().queued.count === 0 ? true : undefined), { ms: 2000, what: 'sent on retry' });
  assert.is(n, 2);
  await drainer.stop();
});

test('token bucket: a burst, then the rate; a message bigger than the burst leaves a debt', () => {
  const b = new TokenBucket(1000, 500, 0);
  assert.is(b.take(300, 0), 0);
  assert.is(b.take(300, 0), 100, '200 left, 100 missing at 1000 B/s');
  assert.is(b.take(300, 100), 0);
  const big = new TokenBucket(1000, 500, 0);
  assert.is(big.take(2000, 0), 0, 'the full bucket lets it through');
  assert.is(big.take(100, 0), 1600, 'then 1500 of debt + 100');
});

test('publish properties: msg-id, stream, seq as user properties; expiry from the TTL', async ({ box }) => {
  await box.enqueue([
    {
      topic: 't',
      stream: 'app/s',
      priority: 3,
      payload: Buffer.from('x'),
      ttlSec: 60,
      contentType: 'application/cbor',
    },
  ]);
  const [m] = box.nextBatch(1);
  if (!m) throw new Error('no message');
  assert.equal(publishProperties(m, m.enqueuedAt + 10_500), {
    userProperties: { 'msg-id': m.msgId, stream: 'app/s', seq: '1' },
    contentType: 'application/cbor',
    messageExpiryInterval: 50,
  });
});

test('OutboxLink is the session hook: drains at QoS 1 with identity properties while online', async ({ box }) => {
  await fill(box, 2);
  const link = new OutboxLink(box, { window: 8 });
  const hook: OutboxHook = link; // the shape cloud/index.ts plugs in
  const sent: Array<{ topic: string; qos: unknown; msgId: unknown }> = [];
  hook.onOnline(async (topic, _payload, opts) => {
    sent.push({ topic, qos: opts?.qos, msgId: opts?.properties?.userProperties?.['msg-id'] });
  });
  await waitFor(() => (box.stats().queued.count === 0 ? true : undefined), { ms: 2000, what: 'drained' });
  assert.equal(
    sent.map((s) => [s.topic, s.qos]),
    [
      ['t', 1],
      ['t', 1],
    ],
  );
  assert.match(String(sent[0]?.msgId), new RegExp(`^${box.epoch}-\\d+$`));
  hook.onOffline();
  await fill(box, 1);
  await flushTurns();
  assert.is(sent.length, 2, 'offline: nothing sent');
  await link.stop();
});

test.run();
