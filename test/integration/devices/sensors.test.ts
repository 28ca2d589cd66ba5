import { rm } from 'node:fs/promises';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createDevices } from '../../../agent/src/devices/index.js';
import { createFakeSysfs, type FakeSysfs, fakeSysfsSpecFor } from '../../../agent/src/devices/sim/fake-sysfs.js';
import type { Devices, SensorReading } from '../../../agent/src/devices/types.js';
import { isGantryError } from '../../../agent/src/errors.js';
import { deviceProfile } from '../../helpers/device-profile.js';
import { waitFor } from '../../helpers/timeout.js';
import { type TempDir, tempDir } from '../../helpers/tmp.js';

interface Ctx {
  dir: TempDir;
  fake: FakeSysfs;
  devices: Devices;
}
const test = suite<Ctx>('devices: sensors on a fake sysfs tree and systeminformation');

const profile = deviceProfile({
  sensors: [
    {
      name: 'board-temp',
      kind: 'hwmon',
      path: 'class/hwmon/hwmon0/temp1_input',
      unit: '°C',
      scale: 0.001,
      offset: -0.5,
    },
    { name: 'soc-temp', kind: 'thermal', path: 'class/thermal/thermal_zone0/temp', unit: '°C', scale: 0.001 },
    { name: 'escape', kind: 'hwmon', path: '../../etc/hostname', unit: '' },
    { name: 'cpu-load', kind: 'system', metric: 'cpu-load', unit: '%' },
  ],
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test.before.each(async (ctx) => {
  ctx.dir = await tempDir('gantry-sysfs-');
  ctx.fake = await createFakeSysfs(
    ctx.dir.path,
    fakeSysfsSpecFor(profile, { 'board-temp': 42_500, 'soc-temp': 55_125 }),
  );
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

test('hwmon and thermal files are read as value * scale + offset', async ({ fake, devices }) => {
  const board = await devices.sensors.read('board-temp');
  assert.equal({ ...board, ts: 0 }, { sensor: 'board-temp', value: 42, unit: '°C', ts: 0 });
  assert.ok(Math.abs(board.ts - Date.now()) < 5000);
  assert.is((await devices.sensors.read('soc-temp')).value, 55.125);
  await fake.setValue('class/thermal/thermal_zone0/temp', -7000);
  assert.is((await devices.sensors.read('soc-temp')).value, -7);
  assert.is(await fake.read('class/hwmon/hwmon0/name'), 'gantry_sim');
});

test('bad sensor files and paths give errors naming the sensor and file', async ({ fake, devices }) => {
  await fake.setValue('class/hwmon/hwmon0/temp1_input', 'N/A');
  const nan = await refusal(devices.sensors.read('board-temp'));
  assert.ok(isGantryError(nan, 'unavailable'));
  assert.match(nan.message, /^sensor board-temp: .*temp1_input holds "N\/A", not a number$/);
  const esc = await refusal(devices.sensors.read('escape'));
  assert.ok(isGantryError(esc, 'invalid'));
  assert.match(esc.message, 'sensor escape: path ../../etc/hostname leaves the sysfs root');
  const unknown = await refusal(devices.sensors.read('humidity'));
  assert.ok(isGantryError(unknown, 'not-found'));
});

test('cpu-load comes from systeminformation as a percentage', async ({ devices }) => {
  const r = await devices.sensors.read('cpu-load');
  assert.is(r.unit, '%');
  assert.ok(Number.isFinite(r.value) && r.value >= 0 && r.value <= 100, `cpu-load ${r.value}`);
});

test('subscribe delivers samples, follows the file, reports errors per sample, and stops', async ({
  fake,
  devices,
}) => {
  const readings: SensorReading[] = [];
  const errors: Error[] = [];
  const stop = devices.sensors.subscribe(
    'board-temp',
    50,
    (r) => readings.push(r),
    (e) => errors.push(e),
  );
  await waitFor(() => (readings.length >= 2 ? true : undefined), { ms: 3000, what: 'two samples' });
  await fake.setValue('class/hwmon/hwmon0/temp1_input', 30_500);
  await waitFor(() => (readings.at(-1)?.value === 30 ? true : undefined), { ms: 3000, what: 'the new value' });

  await rm(path.join(fake.root, 'class/hwmon/hwmon0/temp1_input'));
  await waitFor(() => (errors.length >= 1 ? true : undefined), { ms: 3000, what: 'a failed sample' });
  assert.match(errors[0]?.message ?? '', /^sensor board-temp: cannot read .*temp1_input/);
  await fake.setValue('class/hwmon/hwmon0/temp1_input', 31_500);
  await waitFor(() => (readings.at(-1)?.value === 31 ? true : undefined), { ms: 3000, what: 'sampling resumed' });

  stop();
  const seen = readings.length + errors.length;
  await sleep(200);
  assert.is(readings.length + errors.length, seen, 'nothing after unsubscribing');
});

test('subscribers of one sensor share one sampler at the fastest interval', async ({ dir }) => {
  let calls = 0;
  const devices = createDevices(profile, {
    sysfsRoot: dir.path,
    systemMetrics: async () => {
      calls++;
      return 12.5;
    },
  });
  try {
    const fast: SensorReading[] = [];
    const slow: SensorReading[] = [];
    const stopFast = devices.sensors.subscribe('cpu-load', 50, (r) => fast.push(r));
    const stopSlow = devices.sensors.subscribe('cpu-load', 200, (r) => slow.push(r));
    await waitFor(() => (slow.length >= 2 ? true : undefined), { ms: 5000, what: 'two slow samples' });
    stopFast();
    stopSlow();
    assert.ok(fast.length > slow.length, `fast ${fast.length}, slow ${slow.length}`);
    // One read per tick, shared: separate timers would have read fast + slow times.
    assert.is(calls, fast.length);
    assert.ok(
      slow.every((r) => fast.includes(r)),
      'the slow subscriber got the very readings of shared ticks',
    );
    const bad = (() => {
      try {
        devices.sensors.subscribe('cpu-load', 5, () => {});
      } catch (e) {
        return e as Error;
      }
      return undefined;
    })();
    assert.ok(bad && isGantryError(bad, 'invalid'), 'an interval below the floor is refused');
  } finally {
    await devices.close();
  }
});

test.run();
