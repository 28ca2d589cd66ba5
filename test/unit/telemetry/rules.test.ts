import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { TelemetryRule } from '../../../agent/src/deploy/types.js';
import { isGantryError } from '../../../agent/src/errors.js';
import { createStreamRule, type Emission } from '../../../agent/src/telemetry/rules.js';

const test = suite('telemetry rules (pure state machine)');

/** A scripted input: samples (arrival time = their ts unless `now` is given) and ticks. */
type Step = { ts: number; value: unknown; priority?: number; now?: number } | { tick: number } | { flush: number };

function play(rule: TelemetryRule | undefined, script: Step[], opts: { batchLingerMs?: number } = {}): Emission[] {
  const machine = createStreamRule(rule, opts);
  const out: Emission[] = [];
  for (const step of script) {
    if ('tick' in step) out.push(...machine.tick(step.tick));
    else if ('flush' in step) out.push(...machine.flush(step.flush));
    else {
      const ctx: { now?: number; priority?: number } = {};
      if (step.now !== undefined) ctx.now = step.now;
      if (step.priority !== undefined) ctx.priority = step.priority;
      out.push(...machine.offer({ ts: step.ts, value: step.value }, ctx));
    }
  }
  return out;
}

const samples = (...pairs: Array<[number, unknown]>): Step[] => pairs.map(([ts, value]) => ({ ts, value }));
const sample = (ts: number, value: unknown, priority = 3): Emission => ({
  kind: 'sample',
  priority,
  ts,
  payload: { kind: 'sample', ts, value },
});

test('no rule: every sample is one message, with the app priority or 3', () => {
  const out = play(undefined, [
    { ts: 1, value: 1 },
    { ts: 2, value: 'x', priority: 6 },
    { ts: 3, value: { a: 1 } },
  ]);
  assert.equal(out, [sample(1, 1), sample(2, 'x', 6), sample(3, { a: 1 })]);
});

test('the rule priority wins over the app priority', () => {
  const out = play({ priority: 1 }, [{ ts: 1, value: 1, priority: 8 }]);
  assert.equal(out, [sample(1, 1, 1)]);
});

test('deadband: numbers are sent when they moved by more than the deadband from the last sent', () => {
  const out = play({ deadband: 1 }, samples([0, 10], [1, 10.5], [2, 11], [3, 11.5], [4, 11], [5, 13], [6, 13]));
  assert.equal(out, [sample(0, 10), sample(3, 11.5), sample(5, 13)]);
});

test('deadband: other values are sent when they change', () => {
  const out = play({ deadband: 0 }, samples([0, 'a'], [1, 'a'], [2, 'b'], [3, { x: 1 }], [4, { x: 1 }], [5, 1]));
  assert.equal(out, [sample(0, 'a'), sample(2, 'b'), sample(3, { x: 1 }), sample(5, 1)]);
});

test('min interval: hold the latest, send it when the interval is over', () => {
  const machine = createStreamRule({ minIntervalSec: 10 });
  const out = [
    ...machine.offer({ ts: 0, value: 1 }),
    ...machine.offer({ ts: 2000, value: 2 }),
    ...machine.offer({ ts: 5000, value: 3 }),
  ];
  assert.equal(out, [sample(0, 1)]);
  assert.equal(machine.tick(9999), []);
  assert.equal(machine.tick(10_000), [sample(5000, 3)], 'the latest held sample, with its own ts');
  assert.equal(machine.offer({ ts: 12_000, value: 4 }), [], 'held: 2 s after the last send');
  assert.equal(machine.offer({ ts: 25_000, value: 5 }), [sample(25_000, 5)], 'interval over: the newer one goes');
  assert.equal(machine.tick(40_000), [], 'the superseded one is not sent later');
  assert.equal(machine.counters(), { samplesIn: 5, messagesOut: 3, alerts: 0, dropped: 2 });
});

test('min interval with deadband: a newer value back inside the deadband cancels the held one', () => {
  const out = play({ deadband: 1, minIntervalSec: 10 }, [
    ...samples([0, 10], [1000, 12], [2000, 10.5]),
    { tick: 10_000 },
    { tick: 20_000 },
  ]);
  assert.equal(out, [sample(0, 10)]);
});

test('windows: count/min/max/mean/last per aligned window; non-numeric values only counted', () => {
  const out = play({ windowSec: 60 }, [
    ...samples([0, 1], [10_000, 3], [59_999, 'door-open'], [60_000, 5]),
    { tick: 119_999 },
    { tick: 120_000 },
    { tick: 180_000 },
  ]);
  assert.equal(out, [
    {
      kind: 'window',
      priority: 3,
      ts: 60_000,
      payload: { kind: 'window', from: 0, to: 60_000, count: 3, numeric: 2, min: 1, max: 3, mean: 2, last: 3 },
    },
    {
      kind: 'window',
      priority: 3,
      ts: 120_000,
      payload: { kind: 'window', from: 60_000, to: 120_000, count: 1, numeric: 1, min: 5, max: 5, mean: 5, last: 5 },
    },
  ]);
});

test('windows: only non-numeric values give nulls; windows follow the arrival time, not the sample ts', () => {
  const out = play({ windowSec: 10 }, [{ ts: 999_999, value: 'x', now: 5000 }, { tick: 10_000 }]);
  assert.equal(out, [
    {
      kind: 'window',
      priority: 3,
      ts: 10_000,
      payload: {
        kind: 'window',
        from: 0,
        to: 10_000,
        count: 1,
        numeric: 0,
        min: null,
        max: null,
        mean: null,
        last: null,
      },
    },
  ]);
});

test('windows with a deadband: a window is sent only when its mean moved by more than the deadband', () => {
  const out = play({ windowSec: 10, deadband: 0.5 }, [
    ...samples([0, 2], [10_000, 2.25], [20_000, 2.75], [30_000, 3]),
    { tick: 40_000 },
  ]);
  assert.equal(
    out.map((e) => (e.payload.kind === 'window' ? e.payload.mean : undefined)),
    [2, 2.75],
    'mean 2.25 is within 0.5 of 2; 2.75 is not; 3 is within 0.5 of 2.75',
  );
});

test('thresholds: a crossing is an alert at once with priority 9, crossing back is a clear', () => {
  const rule: TelemetryRule = { thresholds: [{ above: 80, name: 'hot' }, { below: 10 }] };
  const out = play(rule, samples([0, 50], [1, 81], [2, 85], [3, 80], [4, 5], [5, 20]));
  const alerts = out.filter((e) => e.kind === 'alert');
  assert.equal(alerts, [
    {
      kind: 'alert',
      priority: 9,
      ts: 1,
      payload: { kind: 'alert', state: 'above', threshold: 'hot', limit: 80, value: 81, ts: 1 },
    },
    {
      kind: 'alert',
      priority: 9,
      ts: 3,
      payload: { kind: 'alert', state: 'clear', threshold: 'hot', limit: 80, value: 80, ts: 3 },
    },
    {
      kind: 'alert',
      priority: 9,
      ts: 4,
      payload: { kind: 'alert', state: 'below', threshold: 'threshold-1', limit: 10, value: 5, ts: 4 },
    },
    {
      kind: 'alert',
      priority: 9,
      ts: 5,
      payload: { kind: 'alert', state: 'clear', threshold: 'threshold-1', limit: 10, value: 20, ts: 5 },
    },
  ]);
  assert.is(out.filter((e) => e.kind === 'sample').length, 6, 'the samples themselves still pass through');
  assert.is(out[1]?.kind, 'alert', 'the alert comes before the sample that caused it');
});

test('thresholds: a band jumps from above to below without a clear; the deadband is the hysteresis', () => {
  const band = play({ thresholds: [{ above: 80, below: 10, name: 'range' }] }, samples([0, 90], [1, 0], [2, 50]));
  assert.equal(
    band.filter((e) => e.kind === 'alert').map((e) => (e.payload.kind === 'alert' ? e.payload.state : '')),
    ['above', 'below', 'clear'],
  );
  const hyst = play({ deadband: 1, thresholds: [{ above: 80 }] }, samples([0, 81], [1, 79.5], [2, 80.5], [3, 78.9]));
  assert.equal(
    hyst.filter((e) => e.kind === 'alert').map((e) => [e.ts, e.payload.kind === 'alert' ? e.payload.state : '']),
    [
      [0, 'above'],
      [3, 'clear'],
    ],
    '79.5 and 80.5 stay inside the hysteresis; 78.9 is back by more than 1',
  );
});

test('thresholds ignore the deadband and the window: alerts are never held back', () => {
  const out = play({ windowSec: 60, deadband: 5, minIntervalSec: 600, thresholds: [{ above: 80 }] }, [
    ...samples([0, 50], [1000, 90], [2000, 50]),
  ]);
  assert.equal(
    out.map((e) => [e.kind, e.ts]),
    [
      ['alert', 1000],
      ['alert', 2000],
    ],
  );
});

test('batch: N samples make one columnar message; a partial batch goes out after the linger', () => {
  const out = play({ batch: 3 }, [
    { ts: 0, value: 1 },
    { ts: 1, value: 2, priority: 7 },
    { ts: 2, value: 3 },
    { ts: 3, value: 4, now: 3 },
    { ts: 4, value: 5, now: 4 },
    { tick: 1002 },
    { tick: 1003 },
  ]);
  assert.equal(out, [
    { kind: 'batch', priority: 7, ts: 2, payload: { kind: 'batch', ts: [0, 1, 2], values: [1, 2, 3] } },
    { kind: 'batch', priority: 3, ts: 4, payload: { kind: 'batch', ts: [3, 4], values: [4, 5] } },
  ]);
});

test('deadband + threshold + batch together', () => {
  const out = play({ deadband: 1, batch: 2, thresholds: [{ above: 30, name: 'hot' }] }, [
    ...samples([0, 20], [1, 20.5], [2, 22], [3, 31], [4, 31.5]),
    { flush: 10 },
  ]);
  assert.equal(
    out.map((e) => [e.kind, e.priority, e.payload]),
    [
      ['batch', 3, { kind: 'batch', ts: [0, 2], values: [20, 22] }],
      ['alert', 9, { kind: 'alert', state: 'above', threshold: 'hot', limit: 30, value: 31, ts: 3 }],
      ['batch', 3, { kind: 'batch', ts: [3], values: [31] }],
    ],
  );
});

test('flush sends what is pending: the open window, a held sample, a partial batch', () => {
  assert.equal(
    play({ windowSec: 60 }, [{ ts: 0, value: 4 }, { flush: 1 }]).map((e) => e.kind),
    ['window'],
  );
  assert.equal(play({ minIntervalSec: 60 }, [...samples([0, 1], [1, 2]), { flush: 2 }]), [sample(0, 1), sample(1, 2)]);
  assert.equal(
    play({ batch: 5 }, [...samples([0, 1]), { flush: 2 }]).map((e) => e.kind),
    ['batch'],
  );
});

test('counters: samples in, messages out, alerts, dropped', () => {
  const m = createStreamRule({ deadband: 1, thresholds: [{ above: 5 }] });
  for (const [ts, value] of [
    [0, 1],
    [1, 1.5],
    [2, 6],
  ] as const)
    m.offer({ ts, value });
  assert.equal(m.counters(), { samplesIn: 3, messagesOut: 3, alerts: 1, dropped: 1 });
});

test('invalid rules are refused naming the field', () => {
  const cases: Array<[TelemetryRule, RegExp]> = [
    [{ windowSec: 0 }, /windowSec must be a positive number, got 0/],
    [{ deadband: -1 }, /deadband must be a number >= 0/],
    [{ batch: 1.5 }, /batch must be an integer >= 1/],
    [{ priority: 10 }, /priority must be an integer 0\.\.9, got 10/],
    [{ thresholds: [{ name: 'x' }] }, /thresholds\[0\] \(x\) needs "above", "below" or both/],
    [{ thresholds: [{ above: 1, below: 2 }] }, /"below" \(2\) must be less than "above" \(1\)/],
  ];
  for (const [rule, message] of cases) {
    try {
      createStreamRule(rule, { where: 'telemetry rule for app a stream s' });
      assert.unreachable(`accepted ${JSON.stringify(rule)}`);
    } catch (e) {
      assert.ok(isGantryError(e, 'invalid'), String(e));
      assert.match((e as Error).message, /^telemetry rule for app a stream s: /);
      assert.match((e as Error).message, message);
    }
  }
});

test.run();
