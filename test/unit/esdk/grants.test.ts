import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { checkDevice, checkSensor } from '../../../agent/src/esdk/grants.js';
import { meterReader } from '../../helpers/fake-devices.js';

const test = suite('esdk grants');
const app = meterReader();

test('a broker grant with rw allows read and write', () => {
  const r = checkDevice(app, 'serial port', 'rs485-1', 'rw', 'serial.transact');
  assert.ok(r.ok);
  if (r.ok) assert.equal(r.grant, { device: 'rs485-1', access: 'rw', mode: 'broker' });
  assert.ok(checkDevice(app, 'serial port', 'rs485-1', 'r', 'serial.read').ok);
});

test('an ungranted device is refused, naming the device, the app and the call', () => {
  const r = checkDevice(app, 'serial port', 'rs485-9', 'r', 'serial.open');
  assert.not.ok(r.ok);
  if (!r.ok) assert.is(r.message, 'serial port rs485-9 is not granted to app meter-reader (serial.open refused)');
});

test('read-only access refuses writes and says what is needed', () => {
  assert.ok(checkDevice(app, 'serial port', 'rs232-1', 'r', 'serial.read').ok);
  const r = checkDevice(app, 'serial port', 'rs232-1', 'rw', 'serial.write');
  assert.not.ok(r.ok);
  if (!r.ok) {
    assert.match(r.message, 'read-only access to serial port rs232-1');
    assert.match(r.message, 'meter-reader');
    assert.match(r.message, 'serial.write needs access "rw"');
  }
  const g = checkDevice(app, 'GPIO line', 'di-1', 'rw', 'gpio.write');
  assert.not.ok(g.ok);
});

test('a passthrough grant is refused through the socket, with the reason', () => {
  for (const access of ['r', 'rw'] as const) {
    const r = checkDevice(app, 'serial port', 'rs485-2', access, 'serial.open');
    assert.not.ok(r.ok);
    if (!r.ok) {
      assert.match(r.message, 'passthrough');
      assert.match(r.message, 'rs485-2');
      assert.match(r.message, 'meter-reader');
    }
  }
});

test('a broker grant next to a passthrough one for the same device wins', () => {
  const both = meterReader({
    grants: [
      { device: 'x', access: 'rw', mode: 'passthrough' },
      { device: 'x', access: 'r', mode: 'broker' },
    ],
  });
  assert.ok(checkDevice(both, 'GPIO line', 'x', 'r', 'gpio.read').ok);
  const w = checkDevice(both, 'GPIO line', 'x', 'rw', 'gpio.write');
  assert.not.ok(w.ok);
  if (!w.ok) assert.match(w.message, 'read-only');
});

test('sensors: only the granted ones', () => {
  assert.ok(checkSensor(app, 'cpu-temp', 'sensor.read').ok);
  const r = checkSensor(app, 'board-temp', 'sensor.read');
  assert.not.ok(r.ok);
  if (!r.ok) assert.is(r.message, 'sensor board-temp is not granted to app meter-reader (sensor.read refused)');
});

test('no grants at all: everything refused', () => {
  const none = meterReader({ grants: [], sensors: [] });
  assert.not.ok(checkDevice(none, 'GPIO line', 'di-1', 'r', 'gpio.read').ok);
  assert.not.ok(checkSensor(none, 'cpu-temp', 'sensor.read').ok);
});

test.run();
