import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { eventStream } from '../../../agent/src/api/event-stream.js';

const test = suite('eventStream');

test('yields every event in order, then ends', async () => {
  const got: number[] = [];
  for await (const e of eventStream<number>(async (emit) => {
    emit(1);
    await new Promise((r) => setTimeout(r, 5));
    emit(2);
    emit(3);
  })) {
    got.push(e);
  }
  assert.equal(got, [1, 2, 3]);
});

test('an error comes after the events that preceded it', async () => {
  const got: number[] = [];
  try {
    for await (const e of eventStream<number>(async (emit) => {
      emit(1);
      throw new Error('boom');
    })) {
      got.push(e);
    }
    assert.unreachable();
  } catch (e) {
    assert.is((e as Error).message, 'boom');
  }
  assert.equal(got, [1]);
});

test.run();
