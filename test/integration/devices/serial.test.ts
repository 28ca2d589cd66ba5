import { SerialPort } from 'serialport';
import * as assert from 'uvu/assert';
import { createDevices, DeviceBusyError, DeviceTimeoutError } from '../../../agent/src/devices/index.js';
import {
  type ModbusResponder,
  parseReadHoldingRegistersResponse,
  readHoldingRegistersRequest,
  startModbusResponder,
} from '../../../agent/src/devices/sim/modbus-responder.js';
import type { Devices } from '../../../agent/src/devices/types.js';
import { isGantryError } from '../../../agent/src/errors.js';
import { deviceProfile } from '../../helpers/device-profile.js';
import { hostSuite } from '../../helpers/host-tools.js';
import { type PtyPair, ptyPair } from '../../helpers/pty.js';
import { withTimeout } from '../../helpers/timeout.js';

interface Ctx {
  bus: PtyPair;
  spare: PtyPair;
  responder: ModbusResponder;
  devices: Devices;
}
const { test } = hostSuite<Ctx>('devices: serial ports over socat ptys', ['socat']);

const profile = deviceProfile({
  serialPorts: [
    {
      name: 'rs485-1',
      path: '/dev/null-not-used',
      kind: 'rs485',
      baudRates: [9600, 19200],
      defaultBaud: 9600,
      rs485: { rtsOnSend: true },
    },
    { name: 'rs232-1', path: '/dev/null-not-used', kind: 'rs232', baudRates: [115200] },
  ],
});

test.before(async (ctx) => {
  ctx.bus = await ptyPair();
  ctx.spare = await ptyPair();
  // Slave 1 answers fast, slave 2 slowly: were two transactions to overlap, slave 1's
  // answer would overtake slave 2's and land with the wrong app.
  ctx.responder = await startModbusResponder({ path: ctx.bus.b, slaves: { 1: { delayMs: 1 }, 2: { delayMs: 6 } } });
});
test.after(async (ctx) => {
  await ctx.responder?.close();
  await ctx.bus?.stop();
  await ctx.spare?.stop();
});
test.before.each((ctx) => {
  ctx.devices = createDevices(profile, {
    serialPathOverride: (name) => (name === 'rs485-1' ? ctx.bus.a : ctx.spare.a),
  });
});
test.after.each(async (ctx) => {
  await ctx.devices.close();
});

async function refusal(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a refusal, got success');
}

test('broker: two apps polling different slaves 200 times each get only their own answers', async (ctx) => {
  const before = ctx.responder.overlaps;
  // One app frames by the Modbus-RTU silence, the other by the known response length.
  const a = await ctx.devices.serial.open('rs485-1', 'app-a', 'broker', { framing: { kind: 'interbyte', gapMs: 4 } });
  const b = await ctx.devices.serial.open('rs485-1', 'app-b', 'broker', { framing: { kind: 'length', length: 9 } });
  const poll = async (session: typeof a, slave: number) => {
    for (let i = 0; i < 200; i++) {
      const address = (i * 7) % 500;
      const frame = await session.transact(readHoldingRegistersRequest(slave, address, 2), { timeoutMs: 2000 });
      assert.equal(
        parseReadHoldingRegistersResponse(frame),
        { ok: true, slave, registers: [slave * 1000 + address, slave * 1000 + address + 1] },
        `${session.owner} transaction ${i}`,
      );
    }
  };
  await withTimeout(Promise.all([poll(a, 1), poll(b, 2)]), 30_000, '400 brokered transactions');
  assert.is(ctx.responder.overlaps - before, 0, 'no request reached the bus while another was being answered');
});

test('broker: stale bytes on the line before a transaction are discarded', async (ctx) => {
  const a = await ctx.devices.serial.open('rs485-1', 'app-a', 'broker', { framing: { kind: 'interbyte', gapMs: 4 } });
  // A late answer nobody waits for any more, then line noise.
  await ctx.responder.inject(Uint8Array.from([0x02, 0x03, 0x04, 0xde, 0xad, 0xbe, 0xef, 0x00, 0x00]));
  await new Promise((r) => setTimeout(r, 30));
  const frame = await a.transact(readHoldingRegistersRequest(1, 10, 1), { timeoutMs: 2000 });
  assert.equal(parseReadHoldingRegistersResponse(frame), { ok: true, slave: 1, registers: [1010] });
});

test('a silent slave times out with a typed error, and the bus stays usable', async (ctx) => {
  const a = await ctx.devices.serial.open('rs485-1', 'app-a', 'broker', { framing: { kind: 'interbyte', gapMs: 4 } });
  const b = await ctx.devices.serial.open('rs485-1', 'app-b', 'broker', { framing: { kind: 'interbyte', gapMs: 4 } });
  const dead = a.transact(readHoldingRegistersRequest(9, 0, 1), { timeoutMs: 150 });
  // Queued behind the dead one: it runs only after the timeout.
  const alive = b.transact(readHoldingRegistersRequest(2, 3, 1), { timeoutMs: 2000 });
  const e = await refusal(dead);
  assert.instance(e, DeviceTimeoutError);
  assert.ok(isGantryError(e, 'unavailable'));
  assert.match(e.message, 'serial port rs485-1: no complete frame within 150 ms (owner app-a)');
  assert.equal(parseReadHoldingRegistersResponse(await alive), { ok: true, slave: 2, registers: [2003] });
});

test('exclusive: a second owner is refused, naming the port and the holder', async (ctx) => {
  const a = await ctx.devices.serial.open('rs485-1', 'app-a', 'exclusive');
  for (const sharing of ['exclusive', 'broker'] as const) {
    const e = await refusal(ctx.devices.serial.open('rs485-1', 'app-b', sharing));
    assert.instance(e, DeviceBusyError);
    assert.ok(isGantryError(e, 'failed-precondition'));
    assert.is(e.message, 'serial port rs485-1 is held exclusively by app-a');
  }
  await a.close();
  const b = await ctx.devices.serial.open('rs485-1', 'app-b', 'exclusive');
  assert.is(b.owner, 'app-b');
});

test('broker holders refuse an exclusive open; line settings must match the shared port', async (ctx) => {
  await ctx.devices.serial.open('rs485-1', 'app-a', 'broker');
  await ctx.devices.serial.open('rs485-1', 'app-b', 'broker');
  const e = await refusal(ctx.devices.serial.open('rs485-1', 'app-c', 'exclusive'));
  assert.instance(e, DeviceBusyError);
  assert.is(
    e.message,
    'serial port rs485-1 is shared in broker mode by app-a, app-b; it cannot be opened exclusively by app-c',
  );
  const s = await refusal(ctx.devices.serial.open('rs485-1', 'app-c', 'broker', { baudRate: 19200 }));
  assert.ok(isGantryError(s, 'failed-precondition'));
  assert.is(s.message, 'serial port rs485-1 is shared at 9600 8N1; app-c asked for 19200 8N1');
});

test('a baud rate outside the profile is refused, listing the allowed ones', async (ctx) => {
  const e = await refusal(ctx.devices.serial.open('rs485-1', 'app-a', 'exclusive', { baudRate: 57600 }));
  assert.ok(isGantryError(e, 'invalid'));
  assert.is(e.message, 'serial port rs485-1: baud rate 57600 is not allowed (allowed: 9600, 19200)');
  const n = await refusal(ctx.devices.serial.open('com9', 'app-a', 'exclusive'));
  assert.ok(isGantryError(n, 'not-found'));
  assert.is(n.message, 'serial port com9 is not in the firmware profile (known: rs485-1, rs232-1)');
});

test('exclusive: write, framed read, transact; closing the last session closes the port', async (ctx) => {
  const far = await new Promise<SerialPort>((resolve, reject) => {
    const p = new SerialPort({ path: ctx.spare.b, baudRate: 115200, autoOpen: false });
    p.open((err) => (err ? reject(err) : resolve(p)));
  });
  try {
    const heard: Buffer[] = [];
    far.on('data', (c: Buffer) => heard.push(c));
    const s = await ctx.devices.serial.open('rs232-1', 'app-a', 'exclusive', {
      framing: { kind: 'delimiter', delimiter: new TextEncoder().encode('\n') },
    });
    await s.write(new TextEncoder().encode('PING\n'));
    far.write('one\ntw');
    far.write('o\n');
    assert.is(new TextDecoder().decode(await s.read({ timeoutMs: 2000 })), 'one');
    assert.is(new TextDecoder().decode(await s.read({ timeoutMs: 2000 })), 'two');
    const late = await refusal(s.read({ timeoutMs: 100 }));
    assert.instance(late, DeviceTimeoutError);
    assert.is(Buffer.concat(heard).toString(), 'PING\n');

    const answer = s.transact(new TextEncoder().encode('ID?\n'), { timeoutMs: 2000 });
    await new Promise((r) => setTimeout(r, 50));
    far.write('gantry-sim\n');
    assert.is(new TextDecoder().decode(await answer), 'gantry-sim');

    await s.close();
    // serialport locks the device it opens (TIOCEXCL): opening it again proves our handle is gone.
    const again = await new Promise<SerialPort>((resolve, reject) => {
      const p = new SerialPort({ path: ctx.spare.a, baudRate: 115200, autoOpen: false });
      p.open((err) => (err ? reject(err) : resolve(p)));
    });
    await new Promise<void>((r) => again.close(() => r()));
  } finally {
    await new Promise<void>((r) => far.close(() => r()));
  }
});

test('release(owner) closes that owner sessions and frees the port; broker sessions only transact', async (ctx) => {
  const a = await ctx.devices.serial.open('rs485-1', 'app-a', 'broker');
  const w = await refusal(a.write(Uint8Array.of(1)));
  assert.is(w.message, 'serial port rs485-1 is shared (broker mode): app-a can only transact, not write');
  await ctx.devices.release('app-a');
  const e = await refusal(a.transact(readHoldingRegistersRequest(1, 0, 1), { timeoutMs: 500 }));
  assert.is(e.message, 'serial port rs485-1: the session of app-a is closed');
  const b = await ctx.devices.serial.open('rs485-1', 'app-b', 'exclusive');
  assert.is(b.port, 'rs485-1');
});

test.run();
