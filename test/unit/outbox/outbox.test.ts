import path from 'node:path';
import Database from 'better-sqlite3';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Outbox, type OutboxInput, type OutboxMessage } from '../../../agent/src/cloud/outbox/index.js';
import { isGantryError } from '../../../agent/src/errors.js';
import { type TempDir, tempDir } from '../../helpers/tmp.js';

const test = suite<{ dir: TempDir; file: string }>('outbox (real SQLite)');

test.before.each(async (ctx) => {
  ctx.dir = await tempDir('gantry-outbox-');
  ctx.file = path.join(ctx.dir.path, 'outbox.db');
});
test.after.each(async (ctx) => {
  await ctx.dir.cleanup();
});

const BIG = 1 << 30;
const msg = (stream: string, priority: number, text: string, extra: Partial<OutboxInput> = {}): OutboxInput => ({
  topic: `t/${stream}`,
  stream,
  priority,
  payload: Buffer.from(text),
  ...extra,
});
const texts = (ms: OutboxMessage[]) => ms.map((m) => Buffer.from(m.payload).toString());
/** Let the scheduled commit (an ack) run. */
const nextTurn = () => new Promise((r) => setImmediate(r));

test('enqueue resolves with monotonic ids; messages carry msg-id, per-stream seq and content type', async ({
  file,
}) => {
  const box = Outbox.open(file, { capBytes: BIG });
  const ids = await box.enqueue([msg('a', 3, 'a1', { contentType: 'application/cbor' }), msg('b', 3, 'b1')]);
  const more = await box.enqueue([msg('a', 3, 'a2')]);
  assert.equal(ids.length, 2);
  assert.ok((ids[0] as number) < (ids[1] as number) && (ids[1] as number) < (more[0] as number));
  const batch = box.nextBatch(10);
  assert.equal(texts(batch), ['a1', 'b1', 'a2']);
  assert.equal(
    batch.map((m) => [m.stream, m.seq]),
    [
      ['a', 1],
      ['b', 1],
      ['a', 2],
    ],
  );
  assert.is(batch[0]?.msgId, `${box.epoch}-${ids[0]}`);
  assert.is(batch[0]?.contentType, 'application/cbor');
  assert.is(batch[1]?.contentType, undefined);
  box.close();
});

test('drain order: priority high first, then id; a stream is never reordered (priority inheritance)', async ({
  file,
}) => {
  const box = Outbox.open(file, { capBytes: BIG });
  await box.enqueue([msg('bulk', 1, 'bulk1'), msg('lane', 3, 'lane1'), msg('lane', 3, 'lane2')]);
  await box.enqueue([msg('alert', 9, 'alert1'), msg('bulk', 1, 'bulk2')]);
  await box.enqueue([msg('lane', 7, 'lane3')]); // raises lane1 and lane2 to 7
  assert.equal(texts(box.nextBatch(100)), ['alert1', 'lane1', 'lane2', 'lane3', 'bulk1', 'bulk2']);
  assert.equal(box.stats().queued.byPriority, [0, 2, 0, 0, 0, 0, 0, 3, 0, 1]);
  box.close();
});

test('a message that sorts before those already handed out is handed out next', async ({ file }) => {
  const box = Outbox.open(file, { capBytes: BIG });
  await box.enqueue([msg('bulk', 1, 'b1'), msg('bulk', 1, 'b2'), msg('bulk', 1, 'b3'), msg('other', 1, 'o1')]);
  assert.equal(texts(box.nextBatch(1)), ['b1']);
  await box.enqueue([msg('alert', 9, 'a1'), msg('bulk', 1, 'b4')]);
  assert.equal(texts(box.nextBatch(2)), ['a1', 'b2']);
  await box.enqueue([msg('other', 4, 'o2')]); // raises o1 to 4
  assert.equal(texts(box.nextBatch(10)), ['o1', 'o2', 'b3', 'b4']);
  assert.equal(box.nextBatch(10), []);
  box.close();
});

test('leases: handed out once until released; acked messages are deleted, also across a reopen', async ({ file }) => {
  const box = Outbox.open(file, { capBytes: BIG });
  await box.enqueue([msg('s', 3, 'm1'), msg('s', 3, 'm2'), msg('s', 3, 'm3')]);
  const first = box.nextBatch(2);
  assert.equal(texts(first), ['m1', 'm2']);
  assert.equal(texts(box.nextBatch(10)), ['m3']);
  assert.equal(box.nextBatch(10), [], 'everything is in flight');
  assert.is(box.stats().inFlight, 3);
  box.ack([first[0]?.id as number]);
  box.release([first[1]?.id as number]);
  assert.equal(texts(box.nextBatch(10)), ['m2'], 'released: handed out again; acked: not even before its commit');
  await nextTurn();
  const s = box.stats();
  assert.is(s.acked, 1);
  assert.is(s.queued.count, 2);
  box.close();

  const again = Outbox.open(file, { capBytes: BIG });
  assert.equal(texts(again.nextBatch(10)), ['m2', 'm3'], 'leases are not durable: unacked ones come back');
  assert.is(again.stats().acked, 1);
  const [id] = await again.enqueue([msg('s', 3, 'm4')]);
  assert.ok((id as number) > (first[1]?.id as number) + 1, 'ids are never reused');
  assert.is(again.nextBatch(1)[0]?.seq, 4, 'the stream seq goes on');
  again.close();
});

test('TTL: expired messages are not handed out, are deleted and counted per priority', async ({ file }) => {
  let now = 1_000_000;
  const box = Outbox.open(file, { capBytes: BIG, clock: () => now });
  await box.enqueue([msg('s', 2, 'short', { ttlSec: 10 }), msg('s', 2, 'long', { ttlSec: 100 }), msg('k', 5, 'keep')]);
  now += 10_000;
  assert.equal(texts(box.nextBatch(10)), ['keep', 'long']);
  const s = box.stats();
  assert.is(s.expired.count, 1);
  assert.is(s.expired.byPriority[2], 1);
  assert.is(s.queued.count, 2);
  box.close();
});

test('cap: the lowest priority goes first, oldest first; alerts survive; evictions are counted durably', async ({
  file,
}) => {
  // Every row counts 936 payload + 8 topic + 6 stream + 64 overhead = 1014 bytes.
  const row = 1014;
  const put = (stream: 'bulk__' | 'alerts', priority: number, name: string) =>
    box.enqueue([{ topic: `t/${stream}`, stream, priority, payload: Buffer.from(name.padEnd(936, '.')) }]);
  const box = Outbox.open(file, { capBytes: 10 * row });
  for (let i = 0; i < 8; i++) await put('bulk__', 1, `b${i}`);
  for (let i = 0; i < 2; i++) await put('alerts', 9, `a${i}`);
  assert.is(box.stats().evicted.count, 0, 'exactly at the cap');
  for (let i = 2; i < 5; i++) await put('alerts', 9, `a${i}`);
  const s = box.stats();
  assert.is(s.evicted.count, 3);
  assert.is(s.evicted.byPriority[1], 3);
  assert.is(s.evicted.bytes, 3 * row);
  assert.is(s.queued.bytes, 10 * row);
  const left = box.nextBatch(100).map((m) => Buffer.from(m.payload).toString().replace(/\.+$/, ''));
  assert.equal(left, ['a0', 'a1', 'a2', 'a3', 'a4', 'b3', 'b4', 'b5', 'b6', 'b7']);
  box.close();
  const again = Outbox.open(file, { capBytes: 10 * row });
  assert.is(again.stats().evicted.byPriority[1], 3, 'eviction counts survive a restart');
  assert.is(again.stats().queued.bytes, 10 * row, 'queued bytes are recounted on open');
  again.close();
});

test('cap: when only alerts are left, the oldest alerts go', async ({ file }) => {
  const row = 4 + 1 + 1 + 64;
  const box = Outbox.open(file, { capBytes: 3 * row });
  for (let i = 0; i < 5; i++)
    await box.enqueue([{ topic: 'a', stream: 'a', priority: 9, payload: Buffer.from(`al${i}!`) }]);
  assert.equal(texts(box.nextBatch(10)), ['al2!', 'al3!', 'al4!']);
  assert.is(box.stats().evicted.byPriority[9], 2);
  box.close();
});

test('group commit: many concurrent enqueues share few transactions', async ({ file }) => {
  const box = Outbox.open(file, { capBytes: BIG });
  const before = box.stats().commits;
  const all = await Promise.all(Array.from({ length: 2000 }, (_, i) => box.enqueue([msg(`s${i % 7}`, 3, `m${i}`)])));
  const s = box.stats();
  assert.is(s.enqueueCalls, 2000);
  assert.is(s.enqueued, 2000);
  assert.ok(s.commits - before <= 2, `expected at most 2 commits, got ${s.commits - before}`);
  const ids = all.flat();
  assert.equal(
    ids,
    [...ids].sort((a, b) => a - b),
    'ids in call order',
  );
  box.close();
});

test('refuses bad input and a closed outbox', async ({ file }) => {
  const box = Outbox.open(file, { capBytes: BIG });
  for (const [bad, re] of [
    [msg('s', 10, 'x'), /priority must be an integer 0\.\.9, got 10/],
    [msg('', 3, 'x'), /stream must be a non-empty string/],
    [msg('s', 3, 'x', { ttlSec: 0 }), /ttlSec must be a positive number/],
  ] as const) {
    try {
      await box.enqueue([bad]);
      assert.unreachable('accepted');
    } catch (e) {
      assert.ok(isGantryError(e, 'invalid'));
      assert.match((e as Error).message, re);
    }
  }
  box.close();
  try {
    await box.enqueue([msg('s', 3, 'late')]);
    assert.unreachable('accepted after close');
  } catch (e) {
    assert.ok(isGantryError(e, 'unavailable'));
  }
});

test('opens in WAL with full sync; refuses a newer schema', ({ file }) => {
  Outbox.open(file, { capBytes: BIG }).close();
  const raw = new Database(file);
  assert.is(raw.pragma('journal_mode', { simple: true }), 'wal');
  raw.pragma('user_version = 99');
  raw.close();
  try {
    Outbox.open(file, { capBytes: BIG });
    assert.unreachable('opened');
  } catch (e) {
    assert.ok(isGantryError(e, 'failed-precondition'));
    assert.match((e as Error).message, /outbox .* schema is version 99, newer than this agent knows \(1\)/);
  }
});

test.run();
