import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  answer,
  crc16Modbus,
  crcValid,
  parseReadHoldingRegistersRequest,
  parseReadHoldingRegistersResponse,
  RequestAssembler,
  readHoldingRegistersRequest,
  readHoldingRegistersResponse,
} from '../../../agent/src/devices/sim/modbus-responder.js';

const test = suite('devices: Modbus-RTU frames');
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

test('CRC-16/MODBUS: the standard check value and a textbook frame', () => {
  assert.is(crc16Modbus(new TextEncoder().encode('123456789')), 0x4b37);
  // Read 2 holding registers at 0 from slave 1: the frame every Modbus tutorial prints.
  assert.is(hex(readHoldingRegistersRequest(1, 0, 2)), '010300000002c40b');
});

test('request and response round trip; a flipped bit fails the CRC', () => {
  const req = readHoldingRegistersRequest(17, 0x006b, 3);
  assert.equal(parseReadHoldingRegistersRequest(req), { slave: 17, address: 0x6b, count: 3 });
  const res = readHoldingRegistersResponse(17, [0xae41, 0x5652, 0x4340]);
  assert.equal(parseReadHoldingRegistersResponse(res), { ok: true, slave: 17, registers: [0xae41, 0x5652, 0x4340] });
  const bad = res.slice();
  bad[4] = (bad[4] ?? 0) ^ 1;
  assert.not.ok(crcValid(bad));
  assert.is(parseReadHoldingRegistersResponse(bad).ok, false);
  assert.is(parseReadHoldingRegistersRequest(req.subarray(0, 7)), undefined);
});

test('the responder answers its slaves, an exception for a missing register, nothing for a silent one', () => {
  const res = answer(readHoldingRegistersRequest(2, 10, 2), {});
  assert.equal(parseReadHoldingRegistersResponse(res ?? new Uint8Array()), {
    ok: true,
    slave: 2,
    registers: [2010, 2011],
  });
  const ex = answer(readHoldingRegistersRequest(2, 0, 1), { register: () => undefined });
  assert.equal(parseReadHoldingRegistersResponse(ex ?? new Uint8Array()), { ok: false, slave: 2, exceptionCode: 2 });
  assert.is(answer(readHoldingRegistersRequest(2, 0, 1), { silent: true }), undefined);
  assert.is(answer(readHoldingRegistersRequest(2, 0, 1), undefined), undefined);
});

test('request assembler finds frames across chunks and resyncs after noise', () => {
  const a = new RequestAssembler();
  const r1 = readHoldingRegistersRequest(1, 0, 1);
  const r2 = readHoldingRegistersRequest(2, 5, 4);
  const stream = Uint8Array.from([0xff, 0x03, ...r1, ...r2]);
  assert.equal(a.push(stream.subarray(0, 5)), []);
  const frames = a.push(stream.subarray(5));
  assert.equal(frames.map(hex), [hex(r1), hex(r2)]);
  assert.is(a.garbageBytes, 2);
});

test.run();
