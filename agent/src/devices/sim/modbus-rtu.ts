/**
 * Modbus-RTU frames, pure: CRC-16/MODBUS and the read-holding-registers
 * (function 3) request and response. Shared by the simulator's responder, the
 * device tests, and the eSDK tests and SDK examples that act as masters.
 *
 * A frame is slave id, function code, data, then the CRC low byte first.
 */

export const READ_HOLDING_REGISTERS = 3;

/** CRC-16/MODBUS: polynomial 0xA001 (reflected 0x8005), initial value 0xFFFF. */
export function crc16Modbus(bytes: Uint8Array): number {
  let crc = 0xffff;
  for (const b of bytes) {
    crc ^= b;
    for (let i = 0; i < 8; i++) crc = crc & 1 ? (crc >>> 1) ^ 0xa001 : crc >>> 1;
  }
  return crc;
}

/** The frame with its CRC appended (low byte first). */
export function withCrc(body: Uint8Array | number[]): Uint8Array {
  const out = new Uint8Array(body.length + 2);
  out.set(body);
  const crc = crc16Modbus(out.subarray(0, body.length));
  out[body.length] = crc & 0xff;
  out[body.length + 1] = crc >>> 8;
  return out;
}

/** True when the last two bytes are the CRC of the rest. */
export function crcValid(frame: Uint8Array): boolean {
  if (frame.length < 4) return false;
  const crc = crc16Modbus(frame.subarray(0, frame.length - 2));
  return frame[frame.length - 2] === (crc & 0xff) && frame[frame.length - 1] === crc >>> 8;
}

export interface ReadHoldingRequest {
  slave: number;
  address: number;
  count: number;
}

export function readHoldingRegistersRequest(slave: number, address: number, count: number): Uint8Array {
  checkRange('slave', slave, 0, 247);
  checkRange('address', address, 0, 0xffff);
  checkRange('count', count, 1, 125);
  return withCrc([slave, READ_HOLDING_REGISTERS, address >>> 8, address & 0xff, count >>> 8, count & 0xff]);
}

/** The request in an 8-byte function-3 frame, or undefined when it is not one (or its CRC is wrong). */
export function parseReadHoldingRegistersRequest(frame: Uint8Array): ReadHoldingRequest | undefined {
  if (frame.length !== 8 || frame[1] !== READ_HOLDING_REGISTERS || !crcValid(frame)) return undefined;
  const [slave = 0, , ah = 0, al = 0, ch = 0, cl = 0] = frame;
  return { slave, address: (ah << 8) | al, count: (ch << 8) | cl };
}

export function readHoldingRegistersResponse(slave: number, registers: number[]): Uint8Array {
  checkRange('slave', slave, 0, 247);
  checkRange('register count', registers.length, 1, 125);
  const body = [slave, READ_HOLDING_REGISTERS, registers.length * 2];
  for (const r of registers) {
    checkRange('register value', r, 0, 0xffff);
    body.push(r >>> 8, r & 0xff);
  }
  return withCrc(body);
}

export type ReadHoldingResult =
  | { ok: true; slave: number; registers: number[] }
  | { ok: false; slave: number; exceptionCode: number }
  | { ok: false; slave: undefined; error: string };

/** A master's view of the answer to a function-3 request: registers, a Modbus exception, or why the frame is bad. */
export function parseReadHoldingRegistersResponse(frame: Uint8Array): ReadHoldingResult {
  if (!crcValid(frame)) return { ok: false, slave: undefined, error: `bad CRC or short frame (${frame.length} bytes)` };
  const slave = frame[0] ?? 0;
  const fn = frame[1] ?? 0;
  if (fn === (READ_HOLDING_REGISTERS | 0x80) && frame.length === 5) {
    return { ok: false, slave, exceptionCode: frame[2] ?? 0 };
  }
  const byteCount = frame[2] ?? 0;
  if (fn !== READ_HOLDING_REGISTERS || byteCount % 2 !== 0 || frame.length !== byteCount + 5) {
    return { ok: false, slave: undefined, error: `not a function-3 response (function ${fn}, ${frame.length} bytes)` };
  }
  const registers: number[] = [];
  for (let i = 0; i < byteCount; i += 2) registers.push(((frame[3 + i] ?? 0) << 8) | (frame[4 + i] ?? 0));
  return { ok: true, slave, registers };
}

/** A Modbus exception response: function | 0x80 and the exception code (2 = illegal data address). */
export function exceptionResponse(slave: number, fn: number, code: number): Uint8Array {
  return withCrc([slave, fn | 0x80, code]);
}

function checkRange(what: string, v: number, min: number, max: number): void {
  if (!Number.isInteger(v) || v < min || v > max)
    throw new RangeError(`modbus: ${what} must be ${min}..${max}, got ${v}`);
}

/** Modbus-RTU's silent interval: 3.5 character times (11 bits each), and at least 1.75 ms above 19200 baud. */
export function modbusGapMs(baudRate: number): number {
  return baudRate > 19200 ? 1.75 : (3.5 * 11 * 1000) / baudRate;
}
