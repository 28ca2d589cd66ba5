/**
 * Read a Modbus RTU holding register over RS-485 and publish it as telemetry.
 *
 * The port is shared (broker mode): each `transact` holds the bus for one
 * request/response, so other apps polling other meters on the same RS-485
 * line never interleave with us. Needs a grant like
 *   { "device": "rs485-1", "access": "rw", "mode": "broker" }
 *
 *   node examples/modbus-read.js          (in the container; GANTRY_ESDK_SOCKET is set)
 *
 * In your app, import from '@gantry/sdk' instead of '../src/index.js'.
 */
import { pathToFileURL } from 'node:url';
import { connect, type GantryClient, TimeoutError } from '../src/index.js';

/** Modbus RTU CRC-16 (polynomial 0xA001, reflected, initial 0xFFFF); sent low byte first. */
export function crc16(bytes: Uint8Array): number {
  let crc = 0xffff;
  for (const b of bytes) {
    crc ^= b;
    for (let i = 0; i < 8; i++) crc = crc & 1 ? (crc >>> 1) ^ 0xa001 : crc >>> 1;
  }
  return crc;
}

/** Function 0x03, read `count` holding registers from `address` of slave `unit`. */
export function readHoldingRegisters(unit: number, address: number, count: number): Uint8Array {
  const pdu = Uint8Array.of(unit, 0x03, address >> 8, address & 0xff, count >> 8, count & 0xff);
  const crc = crc16(pdu);
  return Uint8Array.of(...pdu, crc & 0xff, crc >> 8);
}

/** The register values of a 0x03 response; throws on a bad CRC, an exception response or a wrong length. */
export function parseRegisters(unit: number, frame: Uint8Array): number[] {
  if (frame.length < 5) throw new Error(`modbus: response of ${frame.length} bytes is too short`);
  const body = frame.subarray(0, frame.length - 2);
  const crc = (frame[frame.length - 2] as number) | ((frame[frame.length - 1] as number) << 8);
  if (crc16(body) !== crc) throw new Error('modbus: bad CRC');
  if (body[0] !== unit) throw new Error(`modbus: answer from unit ${body[0]}, expected ${unit}`);
  if (body[1] === 0x83) throw new Error(`modbus: exception ${body[2]}`);
  const n = body[2] as number;
  if (body[1] !== 0x03 || body.length !== 3 + n) throw new Error('modbus: malformed 0x03 response');
  const out: number[] = [];
  for (let i = 0; i < n; i += 2) out.push(((body[3 + i] as number) << 8) | (body[4 + i] as number));
  return out;
}

/** Poll register 0 of unit 1 on rs485-1 `times` times (forever if omitted), publishing each value. */
export async function run(g: GantryClient, opts: { times?: number; everyMs?: number } = {}): Promise<number[]> {
  const seen: number[] = [];
  for (let i = 0; opts.times === undefined || i < opts.times; i++) {
    try {
      const reply = await g.serial.transact('rs485-1', readHoldingRegisters(1, 0, 1), {
        timeoutMs: 500,
        // A Modbus RTU frame ends after 3.5 character times of silence (~4 ms at 9600 baud).
        framing: { kind: 'interbyte', gapMs: 4 },
      });
      const [value] = parseRegisters(1, reply);
      if (value !== undefined) {
        seen.push(value);
        await g.telemetry.publish('meter1.register0', value);
      }
    } catch (e) {
      if (!(e instanceof TimeoutError)) throw e;
      await g.health.heartbeat('degraded', 'meter 1 does not answer');
    }
    if (opts.everyMs) await new Promise((r) => setTimeout(r, opts.everyMs));
  }
  return seen;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const g = await connect({ clientName: 'modbus-read/1.0' });
  await run(g, { everyMs: 1_000 });
}
