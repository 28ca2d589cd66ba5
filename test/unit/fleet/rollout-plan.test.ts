import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  allowedFailures,
  parseDuration,
  parseFailureBudget,
  parseWaves,
  splitWaves,
  waveSizes,
} from '../../../scripts/fleet/rollout-plan.js';

const test = suite('fleet: rollout plan (waves, failure budget, durations)');

test('waves are cumulative; percentages of the group round up', () => {
  const steps = parseWaves('1,10%,50%,100%');
  assert.equal(waveSizes(steps, 1000), [1, 99, 400, 500]);
  assert.equal(waveSizes(steps, 50), [1, 4, 20, 25]);
  // 10% of 7 is 0.7 -> 1, already reached by the canary: that wave is dropped.
  assert.equal(waveSizes(steps, 7), [1, 3, 3]);
  assert.equal(waveSizes(steps, 1), [1]);
  assert.equal(waveSizes(steps, 0), []);
});

test('a list that stops short of the group gets a last wave for the rest; counts are capped', () => {
  assert.equal(waveSizes(parseWaves('5,20'), 50), [5, 15, 30]);
  assert.equal(waveSizes(parseWaves('5,20%'), 3), [3]);
  assert.equal(waveSizes(parseWaves('33.4%,66.7%'), 10), [4, 3, 3]);
});

test('splitWaves keeps the order of the group', () => {
  const ids = Array.from({ length: 6 }, (_, i) => `gw-${i}`);
  assert.equal(splitWaves(ids, parseWaves('1,50%')), [['gw-0'], ['gw-1', 'gw-2'], ['gw-3', 'gw-4', 'gw-5']]);
});

test('bad wave lists are refused with the offending part named', () => {
  for (const bad of ['', '1,,2', '0', '0%', '101%', 'ten', '-1', '1.5']) {
    assert.throws(() => parseWaves(bad), /--waves/, bad);
  }
  assert.throws(() => parseWaves('1,abc'), /"abc"/);
});

test('the failure budget: a percentage of those published so far rounds down; a count is fixed', () => {
  const pct = parseFailureBudget('5%');
  assert.is(allowedFailures(pct, 1), 0);
  assert.is(allowedFailures(pct, 19), 0);
  assert.is(allowedFailures(pct, 20), 1);
  assert.is(allowedFailures(pct, 1000), 50);
  assert.is(allowedFailures(parseFailureBudget('10%'), 30), 3); // 0.1 * 30 is 3.0000000000000004 in floating point
  assert.is(allowedFailures(parseFailureBudget('3'), 1), 3);
  assert.is(allowedFailures(parseFailureBudget('0%'), 1000), 0);
  assert.throws(() => parseFailureBudget('five'), /--max-failures/);
  assert.throws(() => parseFailureBudget('150%'), /--max-failures/);
});

test('durations', () => {
  assert.is(parseDuration('500ms', '--x'), 500);
  assert.is(parseDuration('90s', '--x'), 90_000);
  assert.is(parseDuration('1.5s', '--x'), 1500);
  assert.is(parseDuration('10m', '--x'), 600_000);
  assert.is(parseDuration('1h', '--x'), 3_600_000);
  assert.is(parseDuration('30', '--x'), 30_000);
  assert.throws(() => parseDuration('10 minutes', '--wave-timeout'), /--wave-timeout/);
});

test.run();
