/**
 * The SDK examples (sdk/examples) run against the real eSDK server with fake
 * devices. Importing them here also puts them under the root typecheck.
 */
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { EsdkServer } from '../../../agent/src/esdk/server.js';
import { run as diTogglesDo } from '../../../sdk/examples/di-toggles-do.js';
import { crc16, run as modbusRead, parseRegisters, readHoldingRegisters } from '../../../sdk/examples/modbus-read.js';
import { run as publishSensor } from '../../../sdk/examples/publish-sensor.js';
import { connect, type GantryClient } from '../../../sdk/src/index.js';
import { type FakeBackends, fakeBackends, meterReader } from '../../helpers/fake-devices.js';
import { waitFor, withTimeout } from '../../helpers/timeout.js';
import { type TempDir, tempDir } from '../../helpers/tmp.js';

interface Ctx {
  dir: TempDir;
  backends: FakeBackends;
  server: EsdkServer;
  g: GantryClient;
}
const test = suite<Ctx>('sdk examples');

test.before.each(async (c) => {
  c.dir = await tempDir('gantry-examples-');
  c.backends = fakeBackends();
  c.server = new EsdkServer(c.backends, { socketPath: (app) => path.join(c.dir.path, app, 'esdk.sock') });
  await c.server.open(meterReader({ config: { intervalMs: 100 } }));
  c.g = await connect({ path: path.join(c.dir.path, 'meter-reader', 'esdk.sock') });
});

test.after.each(async (c) => {
  await c.g.close();
  await withTimeout(c.server.closeAll(), 5_000, 'closeAll');
  await c.dir.cleanup();
});

test('modbus framing helpers: the textbook request and CRC', () => {
  assert.is(crc16(Uint8Array.of(1, 3, 0, 0, 0, 1)), 0x0a84);
  assert.equal([...readHoldingRegisters(1, 0, 1)], [1, 3, 0, 0, 0, 1, 0x84, 0x0a]);
  const reply = Uint8Array.of(1, 3, 2, 0x04, 0xd2);
  const crc = crc16(reply);
  assert.equal(parseRegisters(1, Uint8Array.of(...reply, crc & 0xff, crc >> 8)), [1234]);
  assert.throws(() => parseRegisters(1, Uint8Array.of(...reply, 0, 0)), /bad CRC/);
});

test('modbus-read: transacts on the shared port and publishes the register', async (c) => {
  c.backends.devices.responder = (port, req) => {
    assert.is(port, 'rs485-1');
    assert.equal([...req], [1, 3, 0, 0, 0, 1, 0x84, 0x0a]);
    const body = Uint8Array.of(1, 3, 2, 0x04, 0xd2);
    const crc = crc16(body);
    return Uint8Array.of(...body, crc & 0xff, crc >> 8);
  };
  assert.equal(await withTimeout(modbusRead(c.g, { times: 3 }), 5_000, 'modbus run'), [1234, 1234, 1234]);
  assert.equal(
    c.backends.telemetry.published.map((p) => [p.stream, p.samples[0]?.value]),
    [
      ['meter1.register0', 1234],
      ['meter1.register0', 1234],
      ['meter1.register0', 1234],
    ],
  );
  const open = c.backends.devices.calls.find((x) => x.op === 'serial.open');
  assert.equal(open?.args.slice(0, 3), ['rs485-1', 'meter-reader', 'broker']);
});

test('di-toggles-do: each rising edge of di-1 toggles do-1', async (c) => {
  const done = withTimeout(diTogglesDo(c.g, { presses: 2 }), 5_000, 'toggle run');
  const writes = () => c.backends.devices.calls.filter((x) => x.op === 'gpio.write').length;
  await waitFor(() => (c.backends.devices.watcherCount('di-1') ? true : undefined), { ms: 2_000, what: 'watch' });
  c.backends.devices.fireEdge('di-1', 1);
  await waitFor(() => (writes() === 1 ? true : undefined), { ms: 2_000, what: 'first toggle' });
  c.backends.devices.fireEdge('di-1', 1);
  assert.equal(await done, [1, 0]);
  assert.is(c.backends.devices.levels.get('do-1'), 0);
  await waitFor(() => (c.backends.devices.watcherCount('di-1') === 0 ? true : undefined), {
    ms: 2_000,
    what: 'watch closed by break',
  });
});

test('publish-sensor: readings of the configured sensor become telemetry', async (c) => {
  const done = withTimeout(publishSensor(c.g, { count: 3 }), 5_000, 'publish run');
  await waitFor(() => (c.backends.devices.sensorSubs.get('cpu-temp')?.size ? true : undefined), {
    ms: 2_000,
    what: 'sensor subscription',
  });
  const sub = c.backends.devices.calls.find((x) => x.op === 'sensor.subscribe');
  assert.equal(sub?.args, ['cpu-temp', 100], 'interval from the app config');
  for (const v of [40, 41, 42]) c.backends.devices.emitReading('cpu-temp', v);
  assert.is(await done, 3);
  assert.equal(
    c.backends.telemetry.published.map((p) => [p.stream, p.samples[0]?.value]),
    [
      ['cpu-temp', 40],
      ['cpu-temp', 41],
      ['cpu-temp', 42],
    ],
  );
});

test.run();
