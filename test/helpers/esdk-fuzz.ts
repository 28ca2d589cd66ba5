/**
 * Generators of hostile eSDK input (fast-check arbitraries), shared by the
 * in-process fuzzer and the one over a real socket, and the invariant both
 * check: the devices saw only calls the app's grants allow.
 */
import fc from 'fast-check';
import type { AppContext } from '../../agent/src/esdk/backends.js';
import { encodeFrame } from '../../agent/src/esdk/frame.js';
import { METHODS } from '../../agent/src/esdk/methods.js';
import type { DeviceCall } from './fake-devices.js';

const NAMES = [
  'rs485-1',
  'rs232-1',
  'rs485-2',
  'rs485-9',
  'di-1',
  'do-1',
  'do-9',
  'cpu-temp',
  'board-temp',
  '',
  'x'.repeat(200),
];
const KEYS = [
  'port',
  'handle',
  'data',
  'timeoutMs',
  'line',
  'value',
  'edge',
  'debounceMs',
  'name',
  'intervalMs',
  'sub',
  'stream',
  'samples',
  'priority',
  'ts',
  'status',
  'detail',
  'protocol',
  'client',
  'framing',
  'exclusive',
  'baudRate',
  'parity',
  'dataBits',
  'stopBits',
  '__proto__',
  'constructor',
];
const METHOD_NAMES = [...METHODS.keys(), 'nope', '', 'constructor', '__proto__', 'serial.', 'hello ', 'toString'];

const { value: cborValue } = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.integer(),
    fc.double(),
    fc.string({ maxLength: 12 }),
    fc.boolean(),
    fc.constant(null),
    fc.uint8Array({ maxLength: 12 }),
    fc.array(tie('value'), { maxLength: 3 }),
    fc.dictionary(fc.string({ maxLength: 6 }), tie('value'), { maxKeys: 3 }),
  ),
}));

const framing = fc.oneof(
  fc.record({ kind: fc.constantFrom('raw', 'length', 'delimiter', 'interbyte', 'bogus') }),
  fc.record({ kind: fc.constant('length'), length: fc.integer({ min: -1, max: 70_000 }) }),
  fc.record({ kind: fc.constant('delimiter'), delimiter: fc.uint8Array({ maxLength: 20 }), maxLength: fc.integer() }),
  fc.record({ kind: fc.constant('interbyte'), gapMs: fc.integer({ min: -5, max: 20_000 }) }),
);

const paramValue = fc.oneof(
  fc.constantFrom(...NAMES),
  fc.integer({ min: -2, max: 6 }), // small handles, subs, levels
  fc.nat(),
  fc.constantFrom('rising', 'falling', 'both', 'ok', 'degraded', 'even', 'none', true, false, 1, 7, 8, 9600),
  fc.uint8Array({ maxLength: 16 }),
  fc.array(fc.record({ value: cborValue, ts: fc.oneof(fc.nat(), fc.double()) }, { requiredKeys: [] }), {
    maxLength: 3,
  }),
  framing,
  cborValue,
);

const params = fc.dictionary(fc.constantFrom(...KEYS), paramValue, { maxKeys: 6 });

const name = fc.constantFrom(...NAMES);
const small = fc.integer({ min: 1, max: 6 });
const bytes = fc.uint8Array({ minLength: 1, maxLength: 16 });
const timeoutMs = fc.integer({ min: 1, max: 50 });

/** Per method, params that are mostly right, so the fuzzer gets past validation to the grant checks and devices. */
const plausibleParams: Record<string, fc.Arbitrary<Record<string, unknown>>> = {
  hello: fc.record({ protocol: fc.constantFrom(1, 1, 2), client: fc.string({ maxLength: 10 }) }),
  'serial.open': fc.record(
    { port: name, exclusive: fc.boolean(), baudRate: fc.constantFrom(9600, 19200), framing },
    { requiredKeys: ['port'] },
  ),
  'serial.write': fc.record({ handle: small, data: bytes }),
  'serial.read': fc.record({ handle: small, timeoutMs }),
  'serial.transact': fc.oneof(
    fc.record({ handle: small, data: bytes, timeoutMs }),
    fc.record({ port: name, data: bytes, timeoutMs }, { requiredKeys: ['port', 'data'] }),
  ),
  'serial.close': fc.record({ handle: small }),
  'gpio.read': fc.record({ line: name }),
  'gpio.write': fc.record({ line: name, value: fc.constantFrom(0, 1, true, false) }),
  'gpio.watch': fc.record(
    { line: name, edge: fc.constantFrom('rising', 'falling', 'both'), debounceMs: fc.integer({ min: 0, max: 50 }) },
    { requiredKeys: ['line'] },
  ),
  'sensor.list': fc.constant({}),
  'sensor.read': fc.record({ name }),
  'sensor.subscribe': fc.record({ name, intervalMs: fc.integer({ min: 10, max: 1000 }) }, { requiredKeys: ['name'] }),
  unsubscribe: fc.record({ sub: fc.integer({ min: 1, max: 12 }) }),
  'telemetry.publish': fc.oneof(
    fc.record(
      { stream: name, value: cborValue, priority: fc.integer({ min: 0, max: 9 }) },
      { requiredKeys: ['stream', 'value'] },
    ),
    fc.record({ stream: name, samples: fc.array(fc.record({ value: cborValue }), { minLength: 1, maxLength: 3 }) }),
  ),
  'config.get': fc.constant({}),
  'config.watch': fc.constant({}),
  'health.heartbeat': fc.record(
    { status: fc.constantFrom('ok', 'degraded'), detail: fc.string({ maxLength: 10 }) },
    { requiredKeys: [] },
  ),
  'app.info': fc.constant({}),
};

const plausibleRequest = fc
  .tuple(
    fc.nat(),
    fc
      .constantFrom(...Object.keys(plausibleParams))
      .chain((method) =>
        fc.tuple(fc.constant(method), plausibleParams[method] as fc.Arbitrary<Record<string, unknown>>),
      ),
    fc.option(fc.tuple(fc.constantFrom(...KEYS), paramValue), { freq: 4 }),
  )
  .map(([id, [method, p], spoil]) => ({ id, method, params: spoil ? { ...p, [spoil[0]]: spoil[1] } : p }));

/** Requests with real and bogus methods, plausible and hostile params, good and bad ids. */
export const requestArb: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 6, arbitrary: plausibleRequest },
  { weight: 3, arbitrary: fc.record({ id: fc.nat(), method: fc.constantFrom(...METHOD_NAMES), params }) },
  {
    weight: 1,
    arbitrary: fc.record(
      {
        id: fc.oneof(fc.nat(), fc.integer({ min: -5, max: -1 }), fc.double(), fc.string(), fc.constant(null)),
        method: fc.oneof(fc.constantFrom(...METHOD_NAMES), cborValue),
        params: fc.oneof(params, cborValue),
      },
      { requiredKeys: [] },
    ),
  },
  { weight: 1, arbitrary: cborValue },
);

/** Well-formed request frames, mutated: bytes flipped, inserted, deleted, the stream cut or the length changed. */
export const mutatedFrameArb: fc.Arbitrary<Buffer> = fc
  .tuple(
    requestArb,
    fc.array(
      fc.record({ op: fc.constantFrom('flip', 'insert', 'delete', 'length', 'cut'), at: fc.nat(), byte: fc.nat(255) }),
      { minLength: 1, maxLength: 4 },
    ),
  )
  .map(([req, ops]) => {
    let b = Buffer.from(encodeFrame(req));
    for (const { op, at, byte } of ops) {
      const i = b.length === 0 ? 0 : at % b.length;
      if (op === 'flip') b[i] = (b[i] ?? 0) ^ (1 << (byte % 8));
      else if (op === 'insert') b = Buffer.concat([b.subarray(0, i), Buffer.from([byte]), b.subarray(i)]);
      else if (op === 'delete') b = Buffer.concat([b.subarray(0, i), b.subarray(i + 1)]);
      else if (op === 'cut') b = b.subarray(0, i);
      else if (b.length >= 4) b.writeUInt32BE((b.length - 4 + (byte % 7) - 3) >>> 0, 0);
    }
    return b;
  });

/** Raw bytes: a right length prefix over junk, or junk alone (any prefix, huge ones included). */
export const junkFrameArb: fc.Arbitrary<Buffer> = fc.oneof(
  fc.uint8Array({ minLength: 1, maxLength: 48 }).map((body) => {
    const b = Buffer.alloc(4 + body.length);
    b.writeUInt32BE(body.length, 0);
    b.set(body, 4);
    return b;
  }),
  fc.uint8Array({ maxLength: 48 }).map((b) => Buffer.from(b)),
);

/** Every device call the fakes saw must be one the app's grants allow. */
export function ungrantedCalls(calls: DeviceCall[], ctx: AppContext): DeviceCall[] {
  const broker = (device: unknown, rw: boolean) =>
    ctx.grants.some((g) => g.device === device && g.mode === 'broker' && (!rw || g.access === 'rw'));
  return calls.filter((c) => {
    const target = c.args[0];
    switch (c.op) {
      case 'serial.open':
      case 'serial.read':
      case 'serial.close':
      case 'gpio.read':
      case 'gpio.watch':
      case 'gpio.unwatch':
        return !broker(target, false);
      case 'serial.write':
      case 'serial.transact':
      case 'gpio.write':
        return !broker(target, true);
      case 'sensor.read':
      case 'sensor.subscribe':
      case 'sensor.unsubscribe':
        return !ctx.sensors.includes(target as string);
      case 'release':
        return target !== ctx.app;
      default:
        return true;
    }
  });
}
