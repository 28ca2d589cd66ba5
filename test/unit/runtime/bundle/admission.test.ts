import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { isGantryError } from '../../../../agent/src/errors.js';
import { admit, cpusetProblem } from '../../../../agent/src/runtime/bundle/index.js';
import type { AppSpec, Resources } from '../../../../agent/src/runtime/types.js';
import { profile } from './fixtures.js';

const test = suite('bundle: admission');

const app = (name: string, resources?: Resources): AppSpec => ({ name, image: 'example/x:1', resources });

/** Run admit and return the `invalid` error's message (fails if it does not throw one). */
function refusal(apps: AppSpec[], p = profile()): string {
  try {
    admit(apps, p);
  } catch (e) {
    assert.ok(isGantryError(e, 'invalid'), `expected an invalid GantryError, got ${String(e)}`);
    return e.message;
  }
  assert.unreachable('admission passed');
  return '';
}

test('missing limits come from the profile defaults; given ones are kept', () => {
  const out = admit([app('a'), app('b', { memoryMiB: 100, cpuWeight: 50 })], profile());
  assert.equal(out.get('a'), { memoryMiB: 64, cpus: 0.25, pids: 32 });
  assert.equal(out.get('b'), { memoryMiB: 100, cpus: 0.25, pids: 32, cpuWeight: 50 });
});

test('apps that exactly fill the budget are admitted (cpus summed without float drift)', () => {
  // 0.1 + 0.2 + 1.2 is 1.5000000000000002 in floating point; admission counts thousandths of a CPU.
  const apps = [
    app('a', { memoryMiB: 336, cpus: 0.1, pids: 200 }),
    app('b', { memoryMiB: 48, cpus: 0.2, pids: 24 }),
    app('c', { cpus: 1.2 }), // 64 MiB and 32 pids by default
  ];
  assert.is(admit(apps, profile()).size, 3);
  assert.throws(() => admit([...apps, app('d', { memoryMiB: 1, cpus: 0.01, pids: 1 })], profile()), /budget/);
});

test('memory over budget: the message has both numbers and every app share', () => {
  const msg = refusal([app('meter', { memoryMiB: 256 }), app('logger', { memoryMiB: 290 }), app('web')]);
  assert.match(msg, "apps ask for 610 MiB of memory; the profile's app budget is 448 MiB");
  assert.match(msg, 'meter 256 MiB, logger 290 MiB, web 64 MiB (default)');
  assert.not.match(msg, 'CPU', 'only the dimension that overruns is reported');
});

test('cpus and pids over budget are both reported, each with the shares', () => {
  const apps = [app('a', { cpus: 1, pids: 200 }), app('b', { cpus: 0.75, pids: 100 })];
  const msg = refusal(apps);
  assert.match(msg, "apps ask for 1.75 CPUs; the profile's app budget is 1.5 CPUs (a 1 CPUs, b 0.75 CPUs)");
  assert.match(msg, "apps ask for 300 pids; the profile's app budget is 256 pids");
});

test('the error details list the issues', () => {
  try {
    admit([app('a', { memoryMiB: 1000 })], profile());
    assert.unreachable();
  } catch (e) {
    assert.ok(isGantryError(e, 'invalid'));
    const details = e.details as { issues: string[] };
    assert.is(details.issues.length, 1);
    assert.match(details.issues[0] as string, '1000 MiB');
  }
});

test('bad values are refused with the app and field named, all at once', () => {
  const msg = refusal([
    app('a', { memoryMiB: 0, pids: 1.5 }),
    app('b', { cpus: 3 }),
    app('c', { cpuWeight: 0, ioWeight: 5 }),
    app('d', { cpus: -1 }),
    app('e', { cpus: 0.005 }),
  ]);
  assert.match(msg, 'app a: resources.memoryMiB must be a positive integer (got 0)');
  assert.match(msg, 'app a: resources.pids must be a positive integer (got 1.5)');
  assert.match(msg, 'app b: resources.cpus is 3 but the board has 2 cores');
  assert.match(msg, 'app c: resources.cpuWeight must be an integer from 1 to 10000 (got 0)');
  assert.match(msg, 'app c: resources.ioWeight must be an integer from 10 to 1000 (got 5)');
  assert.match(msg, 'app d: resources.cpus must be a number of at least 0.01 (got -1)');
  assert.match(msg, 'app e: resources.cpus must be a number of at least 0.01 (got 0.005)', 'the CFS quota minimum');
});

test('weights at the edges of their ranges are fine', () => {
  const out = admit(
    [app('a', { cpuWeight: 10_000, ioWeight: 10 }), app('b', { cpuWeight: 1, ioWeight: 1000 })],
    profile(),
  );
  assert.is(out.size, 2);
});

test('a reservation above the limit (given or default) is refused', () => {
  assert.match(
    refusal([app('a', { memoryMiB: 32, memoryReservationMiB: 40 })]),
    'memoryReservationMiB (40) is more than memoryMiB (32)',
  );
  assert.match(refusal([app('a', { memoryReservationMiB: 100 })]), "more than the profile's default memoryMiB (64)");
  assert.equal(admit([app('a', { memoryReservationMiB: 64 })], profile()).get('a')?.memoryReservationMiB, 64);
});

test('cpuset syntax and CPU numbers', () => {
  assert.is(cpusetProblem('0'), undefined);
  assert.is(cpusetProblem('0-3,5,7-8'), undefined);
  assert.match(cpusetProblem('0-') ?? '', 'not a CPU list');
  assert.match(cpusetProblem('a') ?? '', 'not a CPU list');
  assert.match(cpusetProblem('1,,2') ?? '', 'not a CPU list');
  assert.match(cpusetProblem('3-1') ?? '', 'descending range 3-1');
  assert.match(cpusetProblem('0-2', 2) ?? '', 'names CPU 2 but the board has CPUs 0-1');
  assert.match(refusal([app('a', { cpuset: '0-4' })]), 'app a: resources.cpuset "0-4" names CPU 4');
});

test('without a core count in the profile, cpus is bounded by the budget only', () => {
  const p = profile();
  delete p.cpu;
  assert.is(admit([app('a', { cpus: 1.5, cpuset: '7' })], p).get('a')?.cpus, 1.5);
});

test('the same app name twice is refused', () => {
  assert.match(refusal([app('a'), app('a')]), 'app a is listed twice');
});

test('no apps: nothing to admit', () => {
  assert.is(admit([], profile()).size, 0);
});

test.run();
