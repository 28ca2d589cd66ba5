import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  gpiogetArgs,
  gpiomonArgs,
  gpiosetArgs,
  LineSplitter,
  parseGpiogetOutput,
  parseGpiomonLine,
} from '../../../agent/src/devices/gpio/gpiod-cli.js';
import { dataFilesystem, memoryUsedPercent } from '../../../agent/src/devices/sensors/system-metrics.js';
import { lineSettings } from '../../../agent/src/devices/serial/serial-devices.js';
import { isGantryError } from '../../../agent/src/errors.js';

const test = suite('devices: pure helpers');

test('libgpiod 1.6 tool arguments', () => {
  assert.equal(gpiogetArgs('gpiochip0', 17, false), ['gpiochip0', '17']);
  assert.equal(gpiogetArgs('gpiochip0', 17, true), ['-l', 'gpiochip0', '17']);
  assert.equal(gpiosetArgs('gpiochip1', 4, 1, false), ['-m', 'signal', 'gpiochip1', '4=1']);
  assert.equal(gpiosetArgs('gpiochip1', 4, 0, true), ['-l', '-m', 'signal', 'gpiochip1', '4=0']);
  assert.equal(gpiomonArgs('gpiochip0', 3, 'both', false), ['-b', '-F', '%e %o %s %n', 'gpiochip0', '3']);
  assert.equal(gpiomonArgs('gpiochip0', 3, 'rising', true), ['-l', '-r', '-b', '-F', '%e %o %s %n', 'gpiochip0', '3']);
  assert.equal(gpiomonArgs('gpiochip0', 3, 'falling', false)[0], '-f');
});

test('gpioget and gpiomon output', () => {
  assert.is(parseGpiogetOutput('1\n'), 1);
  assert.is(parseGpiogetOutput('0\n'), 0);
  assert.throws(
    () => parseGpiogetOutput('gpioget: error reading GPIO values: Device or resource busy\n'),
    /expected 0 or 1/,
  );
  assert.equal(parseGpiomonLine('1 17 1234 5'), { edge: 'rising', offset: 17, kernelNs: 1_234_000_000_005n });
  assert.equal(parseGpiomonLine('event:  RISING EDGE offset: 17 timestamp: [    1234.000000042]'), {
    edge: 'rising',
    offset: 17,
    kernelNs: 1_234_000_000_042n,
  });
  assert.equal(parseGpiomonLine('event: FALLING EDGE offset: 3 timestamp: [1700000000.5]'), {
    edge: 'falling',
    offset: 3,
    kernelNs: 1_700_000_000_500_000_000n,
  });
  assert.is(parseGpiomonLine('gpiomon: error waiting for events'), undefined);
  const split = new LineSplitter();
  assert.equal(split.push('1 3 1 2\n0 3'), ['1 3 1 2']);
  assert.equal(split.push(' 1 3\n'), ['0 3 1 3']);
});

test('the data filesystem is the mount holding the data dir', () => {
  const fs = [
    { mount: '/', size: 10, use: 50 },
    { mount: '/var', size: 5, use: 20 },
    { mount: '/var/lib/gantry-other', size: 100, use: 90 },
    { mount: '/big', size: 1000, use: 1 },
  ];
  assert.is(dataFilesystem(fs, '/var/lib/gantry')?.mount, '/var');
  assert.is(dataFilesystem(fs, '/srv')?.mount, '/');
  assert.is(dataFilesystem(fs.slice(1), '/srv')?.mount, '/big', 'no / (a container view): the largest');
  assert.is(memoryUsedPercent({ total: 1000, available: 250 }), 75);
});

test('serial line settings default from the profile and refuse what it does not allow', () => {
  const spec = { name: 'p', path: '/dev/x', kind: 'rs485' as const, baudRates: [9600, 19200], defaultBaud: 19200 };
  assert.equal(lineSettings(spec, {}), { baudRate: 19200, dataBits: 8, parity: 'none', stopBits: 1 });
  assert.equal(lineSettings({ ...spec, defaultBaud: undefined }, { parity: 'even', stopBits: 2 }).baudRate, 9600);
  try {
    lineSettings(spec, { dataBits: 6 as 7 });
    assert.unreachable();
  } catch (e) {
    assert.ok(isGantryError(e, 'invalid'));
    assert.is((e as Error).message, 'serial port p: dataBits must be 7 or 8, got 6');
  }
});

test.run();
