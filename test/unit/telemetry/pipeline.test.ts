import { decode } from 'cbor-x';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { OutboxInput } from '../../../agent/src/cloud/outbox/outbox.js';
import { isGantryError } from '../../../agent/src/errors.js';
import { TelemetryPipeline } from '../../../agent/src/telemetry/pipeline.js';

const test = suite('telemetry pipeline (fake outbox, fake clock)');

/** An outbox whose commits the test completes. */
function fakeOutbox() {
  const enqueued: OutboxInput[][] = [];
  const commits: Array<() => void> = [];
  return {
    enqueued,
    commitAll: () => {
      for (const c of commits.splice(0)) c();
    },
    enqueue(msgs: OutboxInput[]) {
      enqueued.push(msgs);
      return new Promise<number[]>((resolve) => commits.push(() => resolve(msgs.map((_, i) => i))));
    },
  };
}

function setup() {
  const outbox = fakeOutbox();
  let now = 1_000_000;
  const pipeline = new TelemetryPipeline({
    outbox,
    topicFor: (app, stream) => `gantry/v1/dev/telemetry/${app}/${stream}`,
    clock: () => now,
    tickMs: 0,
  });
  return {
    outbox,
    pipeline,
    advance: (ms: number) => {
      now += ms;
      return now;
    },
  };
}

const body = (m: OutboxInput | undefined) => decode(m?.payload as Uint8Array) as Record<string, unknown>;
const settledYet = async (p: Promise<unknown>) => {
  let done = false;
  void p.then(() => {
    done = true;
  });
  await new Promise((r) => setImmediate(r));
  return done;
};

test('pass-through: one CBOR message per sample; publish resolves only after the commit', async () => {
  const { outbox, pipeline } = setup();
  const published = pipeline.publish(
    'meter',
    'temp',
    [
      { ts: 1, value: 20.5 },
      { ts: 2, value: 'ok' },
    ],
    { priority: 6 },
  );
  assert.is(await settledYet(published), false, 'not before the outbox committed');
  outbox.commitAll();
  assert.is(await settledYet(published), true);
  const msgs = outbox.enqueued.flat();
  assert.equal(
    msgs.map((m) => [m.topic, m.stream, m.priority, m.contentType, m.ttlSec]),
    [
      ['gantry/v1/dev/telemetry/meter/temp', 'meter/temp', 6, 'application/cbor', undefined],
      ['gantry/v1/dev/telemetry/meter/temp', 'meter/temp', 6, 'application/cbor', undefined],
    ],
  );
  assert.equal(body(msgs[0]), { kind: 'sample', ts: 1, value: 20.5 });
  assert.equal(body(msgs[1]), { kind: 'sample', ts: 2, value: 'ok' });
  const s = pipeline.stats();
  assert.is(s.samplesIn, 2);
  assert.is(s.messagesOut, 2);
  assert.is(s.rawBytes, s.sentBytes, 'pass-through saves nothing');
  await pipeline.close();
});

test('rules: alerts in their own lane at priority 9 without TTL; windows on tick with the stream TTL', async () => {
  const { outbox, pipeline, advance } = setup();
  pipeline.setRules('meter', { temp: { windowSec: 60, ttlSec: 3600, priority: 2, thresholds: [{ above: 80 }] } });
  const p = pipeline.publish(
    'meter',
    'temp',
    [
      { ts: 1, value: 70 },
      { ts: 2, value: 90 },
    ],
    {},
  );
  outbox.commitAll();
  await p;
  assert.equal(
    outbox.enqueued.flat().map((m) => [m.stream, m.priority, m.ttlSec, body(m).kind, body(m).state]),
    [['meter/temp!alert', 9, undefined, 'alert', 'above']],
  );
  pipeline.tick(advance(60_000));
  outbox.commitAll();
  const window = outbox.enqueued.flat()[1];
  assert.equal([window?.stream, window?.priority, window?.ttlSec], ['meter/temp', 2, 3600]);
  assert.equal(body(window), {
    kind: 'window',
    from: 960_000,
    to: 1_020_000,
    count: 2,
    numeric: 2,
    min: 70,
    max: 90,
    mean: 80,
    last: 90,
  });
  const s = pipeline.stats();
  assert.ok(s.rawBytes > 0 && s.sentBytes > 0);
  assert.is(s.bytesSaved, s.rawBytes - s.sentBytes);
  assert.equal(
    s.streams.map((x) => [x.app, x.stream, x.samplesIn, x.messagesOut, x.alerts]),
    [['meter', 'temp', 2, 2, 1]],
  );
  await pipeline.close();
});

test('a rule change sends what the old rule had pending; counters carry over', async () => {
  const { outbox, pipeline } = setup();
  pipeline.setRules('a', { s: { windowSec: 3600 } });
  const p = pipeline.publish('a', 's', [{ ts: 1, value: 5 }], {});
  outbox.commitAll();
  await p;
  assert.is(outbox.enqueued.length, 0, 'in the open window');
  pipeline.setRules('a', {});
  outbox.commitAll();
  assert.equal(body(outbox.enqueued.flat()[0]).kind, 'window');
  const q = pipeline.publish('a', 's', [{ ts: 2, value: 6 }], {});
  outbox.commitAll();
  await q;
  assert.equal(body(outbox.enqueued.flat()[1]), { kind: 'sample', ts: 2, value: 6 }, 'now pass-through');
  assert.is(pipeline.stats().samplesIn, 2);
  await pipeline.close();
});

test('bad input is refused with a message naming app and stream; a bad rule set changes nothing', async () => {
  const { pipeline } = setup();
  const refused = async (p: Promise<unknown>, re: RegExp) => {
    try {
      await p;
      assert.unreachable('accepted');
    } catch (e) {
      assert.ok(isGantryError(e, 'invalid'), String(e));
      assert.match((e as Error).message, re);
    }
  };
  await refused(
    pipeline.publish('a', 's', [{ ts: Number.NaN, value: 1 }], {}),
    /app a stream s: samples\[0\] needs a finite number ts/,
  );
  await refused(
    pipeline.publish('a', 's', [{ ts: 1, value: 1 }], { priority: 12 }),
    /priority must be an integer 0\.\.9/,
  );
  try {
    pipeline.setRules('a', { ok: { deadband: 1 }, bad: { windowSec: -5 } });
    assert.unreachable('accepted');
  } catch (e) {
    assert.match((e as Error).message, /telemetry rule for app a stream bad: windowSec must be a positive number/);
  }
  await pipeline.close();
});

test('an app has a bounded number of streams; another app is not affected', async () => {
  const pipeline = new TelemetryPipeline({
    outbox: fakeOutbox(),
    topicFor: (app, stream) => `gantry/v1/dev/telemetry/${app}/${stream}`,
    tickMs: 0,
    maxStreamsPerApp: 3,
  });
  for (const s of ['s1', 's2', 's3']) void pipeline.publish('greedy', s, [{ ts: 1, value: 1 }], {});
  try {
    // Accepted, it would wait for a commit this fake never makes: the timer turns that into a failure.
    await Promise.race([
      pipeline.publish('greedy', 's4', [{ ts: 1, value: 1 }], {}),
      new Promise((_, reject) => setTimeout(() => reject(new Error('a fourth stream was accepted')), 500)),
    ]);
    assert.unreachable('a fourth stream was accepted');
  } catch (e) {
    assert.ok(isGantryError(e, 'invalid'), String(e));
    assert.match((e as Error).message, /app greedy: it already publishes 3 streams; stream s4 is one too many/);
  }
  void pipeline.publish('greedy', 's1', [{ ts: 2, value: 2 }], {});
  void pipeline.publish('other', 's1', [{ ts: 1, value: 1 }], {});
  assert.is(pipeline.stats().streams.length, 4);
  pipeline.removeApp('greedy');
  void pipeline.publish('greedy', 's4', [{ ts: 3, value: 3 }], {});
  assert.is(pipeline.stats().streams.length, 2);
});

test('close sends pending windows and batches, waits for their commit, then refuses publishes', async () => {
  const { outbox, pipeline } = setup();
  pipeline.setRules('a', { w: { windowSec: 60 }, b: { batch: 10 } });
  const p1 = pipeline.publish('a', 'w', [{ ts: 1, value: 1 }], {});
  const p2 = pipeline.publish('a', 'b', [{ ts: 1, value: 1 }], {});
  await Promise.all([p1, p2]);
  const closing = pipeline.close();
  assert.is(await settledYet(closing), false);
  outbox.commitAll();
  await closing;
  assert.equal(
    outbox.enqueued.flat().map((m) => body(m).kind),
    ['window', 'batch'],
  );
  try {
    await pipeline.publish('a', 'w', [{ ts: 2, value: 1 }], {});
    assert.unreachable('accepted after close');
  } catch (e) {
    assert.ok(isGantryError(e, 'unavailable'));
  }
});

test.run();
