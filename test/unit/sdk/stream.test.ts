import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { EventStream, type StreamSink } from '../../../sdk/src/stream.js';

const test = suite('sdk EventStream');

function make<T>(maxQueue?: number) {
  let sink: StreamSink<T> | undefined;
  let cancels = 0;
  const stream = new EventStream<T>(
    (s) => {
      sink = s;
    },
    async () => {
      cancels++;
    },
    maxQueue,
  );
  return { stream, sink: sink as StreamSink<T>, cancels: () => cancels };
}

test('events queued before and after next() arrive in order', async () => {
  const { stream, sink } = make<number>();
  sink.push(1, 0);
  assert.equal(await stream.next(), { done: false, value: 1 });
  const waiting = stream.next();
  sink.push(2, 0);
  sink.push(3, 0);
  assert.equal(await waiting, { done: false, value: 2 });
  assert.equal(await stream.next(), { done: false, value: 3 });
});

test('for await yields events; break cancels the subscription once', async () => {
  const { stream, sink, cancels } = make<number>();
  sink.push(1, 0);
  sink.push(2, 0);
  const got: number[] = [];
  for await (const v of stream) {
    got.push(v);
    if (v === 2) break;
  }
  assert.equal(got, [1, 2]);
  assert.is(cancels(), 1);
  await stream.close();
  assert.is(cancels(), 1);
  assert.equal(await stream.next(), { done: true, value: undefined });
});

test('an end with an error is thrown after the queued events', async () => {
  const { stream, sink } = make<number>();
  sink.push(1, 0);
  sink.end(new Error('denied now'));
  assert.equal(await stream.next(), { done: false, value: 1 });
  try {
    await stream.next();
    assert.unreachable();
  } catch (e) {
    assert.is((e as Error).message, 'denied now');
  }
  assert.equal(await stream.next(), { done: true, value: undefined });
});

test('a waiting next() gets the error at once', async () => {
  const { stream, sink } = make<number>();
  const waiting = stream.next().then(
    () => 'resolved',
    (e: Error) => e.message,
  );
  sink.end(new Error('lost'));
  assert.is(await waiting, 'lost');
});

test('a full queue drops the oldest and counts; agent-side drops are counted too', async () => {
  const { stream, sink } = make<number>(3);
  for (let i = 1; i <= 5; i++) sink.push(i, 0);
  sink.push(6, 4);
  assert.is(stream.dropped, 3 + 4);
  const got: number[] = [];
  for (let i = 0; i < 3; i++) got.push((await stream.next()).value as number);
  assert.equal(got, [4, 5, 6]);
});

test.run();
