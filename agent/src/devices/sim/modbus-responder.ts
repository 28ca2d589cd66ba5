import { SerialPort } from 'serialport';
import {
  crcValid,
  exceptionResponse,
  parseReadHoldingRegistersRequest,
  READ_HOLDING_REGISTERS,
  readHoldingRegistersResponse,
} from './modbus-rtu.js';

export * from './modbus-rtu.js';

/**
 * A scriptable Modbus-RTU slave bus for the far end of a pty pair: several
 * slave ids answer read-holding-registers (function 3) after a per-slave
 * delay. The delay makes interleaving visible: two masters that talk over
 * each other get their requests answered out of order, and the responder
 * counts every request that arrived while an answer was still pending
 * (`overlaps`), which on a real half-duplex bus is a collision.
 */
export interface ModbusSlaveScript {
  /** Register value by address; undefined answers exception 2 (illegal data address). Default: slave * 1000 + address. */
  register?: (address: number) => number | undefined;
  /** Delay before answering, ms. Default 3. */
  delayMs?: number;
  /** A dead device: requests to it get no answer. */
  silent?: boolean;
}

export interface ModbusResponder {
  /** Valid requests received, per slave id. */
  readonly requests: Map<number, number>;
  /** Requests that arrived while an earlier answer was still pending. */
  readonly overlaps: number;
  /** Bytes skipped because they did not start a valid request frame. */
  readonly garbageBytes: number;
  setSlave(slave: number, script: ModbusSlaveScript): void;
  /** Put bytes on the line as they are (noise, a late answer). */
  inject(bytes: Uint8Array): Promise<void>;
  close(): Promise<void>;
}

export const defaultRegister = (slave: number) => (address: number) => (slave * 1000 + address) & 0xffff;

/**
 * Cuts a byte stream into function-3 request frames (always 8 bytes). A
 * master on a real bus relies on silence between frames; over a pty there is
 * none worth trusting, so the frame is found by its CRC instead: a window
 * that does not check out is slid by one byte (resync after noise).
 */
export class RequestAssembler {
  private pending: number[] = [];
  garbageBytes = 0;

  push(chunk: Uint8Array): Uint8Array[] {
    this.pending.push(...chunk);
    const frames: Uint8Array[] = [];
    while (this.pending.length >= 8) {
      const candidate = Uint8Array.from(this.pending.slice(0, 8));
      if (candidate[1] === READ_HOLDING_REGISTERS && crcValid(candidate)) {
        frames.push(candidate);
        this.pending.splice(0, 8);
      } else {
        this.pending.shift();
        this.garbageBytes++;
      }
    }
    return frames;
  }
}

/** The answer a slave gives to one request frame, or undefined for no answer. */
export function answer(frame: Uint8Array, script: ModbusSlaveScript | undefined): Uint8Array | undefined {
  const req = parseReadHoldingRegistersRequest(frame);
  if (!req || !script || script.silent) return undefined;
  const register = script.register ?? defaultRegister(req.slave);
  const values: number[] = [];
  for (let i = 0; i < req.count; i++) {
    const v = register(req.address + i);
    if (v === undefined) return exceptionResponse(req.slave, READ_HOLDING_REGISTERS, 2);
    values.push(v);
  }
  return readHoldingRegistersResponse(req.slave, values);
}

export async function startModbusResponder(opts: {
  path: string;
  baudRate?: number;
  slaves: Record<number, ModbusSlaveScript>;
}): Promise<ModbusResponder> {
  const slaves = new Map(Object.entries(opts.slaves).map(([id, s]) => [Number(id), s]));
  const requests = new Map<number, number>();
  const assembler = new RequestAssembler();
  const timers = new Set<NodeJS.Timeout>();
  let pending = 0;
  let overlaps = 0;

  const port = await new Promise<SerialPort>((resolve, reject) => {
    const p = new SerialPort({ path: opts.path, baudRate: opts.baudRate ?? 9600, autoOpen: false });
    p.open((err) => (err ? reject(err) : resolve(p)));
  });
  port.on('error', () => {});
  port.on('data', (chunk: Buffer) => {
    for (const frame of assembler.push(chunk)) {
      const slave = frame[0] ?? 0;
      requests.set(slave, (requests.get(slave) ?? 0) + 1);
      if (pending > 0) overlaps++;
      const script = slaves.get(slave);
      const reply = answer(frame, script);
      if (!reply) continue;
      pending++;
      const timer = setTimeout(() => {
        timers.delete(timer);
        pending--;
        if (port.isOpen) port.write(Buffer.from(reply));
      }, script?.delayMs ?? 3);
      timers.add(timer);
    }
  });

  return {
    requests,
    get overlaps() {
      return overlaps;
    },
    get garbageBytes() {
      return assembler.garbageBytes;
    },
    setSlave: (slave, script) => slaves.set(slave, script),
    inject: (bytes) =>
      new Promise<void>((resolve, reject) =>
        port.write(Buffer.from(bytes), (e) => (e ? reject(e) : port.drain(() => resolve()))),
      ),
    close: () =>
      new Promise<void>((resolve) => {
        for (const t of timers) clearTimeout(t);
        timers.clear();
        if (!port.isOpen) resolve();
        else port.close(() => resolve());
      }),
  };
}
