import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { EventPublisher } from '../../../agent/src/cloud/events.js';

const test = suite('cloud: event publisher');

test('events wait in order while publishing fails and go out on flush; overflow drops the oldest', async () => {
  const sent: string[] = [];
  let up = false;
  const events = new EventPublisher(async (e) => {
    if (!up) throw new Error('offline');
    sent.push(String(e.type));
  }, 2);
  await events.emit({ type: 'a', at: '' });
  await events.emit({ type: 'b', at: '' });
  await events.emit({ type: 'c', at: '' });
  assert.is(events.queued, 2);
  assert.is(events.dropped, 1);
  up = true;
  await events.flush();
  assert.equal(sent, ['b', 'c']);
  assert.is(events.queued, 0);
});

test('a flush with nothing queued does not wedge later sends', async () => {
  const sent: string[] = [];
  const events = new EventPublisher(async (e) => {
    sent.push(String(e.type));
  });
  await events.flush();
  await events.flush();
  await events.emit({ type: 'after', at: '' });
  assert.equal(sent, ['after']);
});

test.run();
