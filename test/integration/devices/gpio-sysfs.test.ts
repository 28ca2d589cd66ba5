import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createDevices, DeviceBusyError, type LocalDevices } from '../../../agent/src/devices/index.js';
import { createFakeSysfs, type FakeSysfs, fakeSysfsSpecFor } from '../../../agent/src/devices/sim/fake-sysfs.js';
import type { GpioEvent } from '../../../agent/src/devices/types.js';
import { isGantryError } from '../../../agent/src/errors.js';
import { deviceProfile } from '../../helpers/device-profile.js';
import { waitFor, withTimeout } from '../../helpers/timeout.js';
import { type TempDir, tempDir } from '../../helpers/tmp.js';

interface Ctx {
  dir: TempDir;
  fake: FakeSysfs;
  devices: LocalDevices;
}
const test = suite<Ctx>('devices: GPIO through the sysfs backend on a fake tree');

const profile = deviceProfile({
  gpio: {
    lines: [
      { name: 'di-1', line: 10, direction: 'in' },
      { name: 'do-1', line: 20, direction: 'out' },
      { name: 'relay-nc', line: 21, direction: 'out', activeLow: true },
      { name: 'ghost', line: 99, direction: 'in' },
    ],
  },
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test.before.each(async (ctx) => {
  ctx.dir = await tempDir('gantry-sysfs-');
  const spec = fakeSysfsSpecFor(profile);
  // Line 99 is left out: the tree has no gpio99/, as if export failed.
  ctx.fake = await createFakeSysfs(ctx.dir.path, {
    ...spec,
    gpioLines: (spec.gpioLines ?? []).filter((l) => l !== 99),
  });
  ctx.devices = createDevices(profile, { sysfsRoot: ctx.dir.path });
});
test.after.each(async (ctx) => {
  await ctx.devices.close();
  await ctx.dir.cleanup();
});

async function refusal(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a refusal, got success');
}

test('reads an input line as the hardware sets it', async ({ fake, devices }) => {
  await fake.setGpio(10, 1);
  assert.is(await devices.gpio.read('di-1'), 1);
  await fake.setGpio(10, 0);
  assert.is(await devices.gpio.read('di-1'), 0);
  assert.equal((await fake.gpio(10)).direction, 'in');
});

test('writes an output line; an active-low output starts inactive', async ({ fake, devices }) => {
  await devices.gpio.write('do-1', 'app-a', 1);
  assert.equal(await fake.gpio(20), { direction: 'low', value: '1', edge: 'none', activeLow: '0' });
  assert.is(await devices.gpio.read('do-1'), 1, 'an output reads back its last value');
  await devices.gpio.write('relay-nc', 'app-a', 0);
  const relay = await fake.gpio(21);
  assert.is(relay.activeLow, '1');
  assert.is(relay.direction, 'high', 'raw high is logical 0 on an active-low line: no glitch to active');
});

test('an output belongs to its first writer until released; inputs cannot be written', async ({ fake, devices }) => {
  await devices.gpio.write('do-1', 'app-a', 1);
  const e = await refusal(devices.gpio.write('do-1', 'app-b', 0));
  assert.instance(e, DeviceBusyError);
  assert.ok(isGantryError(e, 'failed-precondition'));
  assert.is(e.message, 'GPIO line do-1 is owned by app-a until it is released');
  assert.is((await fake.gpio(20)).value, '1');

  await devices.release('app-a');
  await devices.gpio.write('do-1', 'app-b', 0);
  assert.is((await fake.gpio(20)).value, '0');

  const i = await refusal(devices.gpio.write('di-1', 'app-b', 1));
  assert.ok(isGantryError(i, 'invalid'));
  assert.is(i.message, 'GPIO line di-1 is an input; it cannot be written');
  const n = await refusal(devices.gpio.read('nope'));
  assert.ok(isGantryError(n, 'not-found'));
  assert.is(n.message, 'GPIO line nope is not in the firmware profile (known: di-1, do-1, relay-nc, ghost)');
});

test('edges: a bouncing contact gives one debounced event; undebounced watchers see every change', async ({
  fake,
  devices,
}) => {
  const raw: GpioEvent[] = [];
  const debounced: GpioEvent[] = [];
  const risingOnly: GpioEvent[] = [];
  const stops = [
    devices.gpio.watch('di-1', 'both', 0, (e) => raw.push(e)),
    devices.gpio.watch('di-1', 'both', 150, (e) => debounced.push(e)),
    devices.gpio.watch('di-1', 'rising', 150, (e) => risingOnly.push(e)),
  ];
  await withTimeout(Promise.all(stops.map((s) => s.ready)), 5000, 'watches armed');

  // Contact bounce: 1, 0, 1, each held 40 ms (long enough for the 10 ms poller, short of the debounce).
  for (const v of [1, 0, 1] as const) {
    await fake.setGpio(10, v);
    await sleep(40);
  }
  await waitFor(() => (debounced.length >= 1 ? true : undefined), { ms: 3000, what: 'the debounced rising edge' });
  assert.equal(
    raw.map((e) => e.edge),
    ['rising', 'falling', 'rising'],
  );
  assert.equal(
    debounced.map((e) => [e.line, e.edge, e.value]),
    [['di-1', 'rising', 1]],
  );
  assert.ok(debounced[0] && raw[2] && debounced[0].ts === raw[2].ts, 'stamped when the level was first seen');

  await fake.setGpio(10, 0);
  await waitFor(() => (debounced.length >= 2 ? true : undefined), { ms: 3000, what: 'the debounced falling edge' });
  assert.is(debounced[1]?.edge, 'falling');
  assert.equal(
    risingOnly.map((e) => e.edge),
    ['rising'],
  );

  for (const stop of stops) stop();
  const seen = raw.length;
  await fake.setGpio(10, 1);
  await sleep(100);
  assert.is(raw.length, seen, 'no events after unsubscribing');
});

test('a line whose gpioN/ never appears fails its watch with the path', async ({ devices }) => {
  const errors: Error[] = [];
  const stop = devices.gpio.watch(
    'ghost',
    'both',
    0,
    () => {},
    (e) => errors.push(e),
  );
  const e = await refusal(withTimeout(stop.ready, 5000, 'ghost watch'));
  assert.match(e.message, /GPIO line 99: .*gpio99 did not appear after export/);
  await waitFor(() => (errors.length === 1 ? true : undefined), { ms: 1000, what: 'onError' });
  stop();
});

test.run();
