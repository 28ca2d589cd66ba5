/**
 * The eSDK method table: one function per protocol method (PROTOCOL.md lists
 * each with its params, result and errors). Each checks its params, then the
 * app's grant, and only then calls devices/, telemetry or health; a denied
 * call reaches nothing.
 */
import { messageOf } from '../errors.js';
import { EsdkError, PROTOCOL_VERSION } from './frame.js';
import type { Params } from './params.js';
import { type Call, configEvent, type Method, type Session } from './session.js';

export const MAX_SAMPLES_PER_PUBLISH = 10_000;
export const DEFAULT_READ_TIMEOUT_MS = 1_000;
export const MIN_SENSOR_INTERVAL_MS = 10;

/** A Map, not an object: a method named "constructor" or "__proto__" must find nothing. */
export const METHODS = new Map<string, Method>([
  ['hello', hello],
  ['app.info', appInfo],
  ['serial.open', serialOpen],
  ['serial.write', serialWrite],
  ['serial.read', serialRead],
  ['serial.transact', serialTransact],
  ['serial.close', serialClose],
  ['gpio.read', gpioRead],
  ['gpio.write', gpioWrite],
  ['gpio.watch', gpioWatch],
  ['sensor.list', sensorList],
  ['sensor.read', sensorRead],
  ['sensor.subscribe', sensorSubscribe],
  ['unsubscribe', unsubscribe],
  ['telemetry.publish', telemetryPublish],
  ['config.get', configGet],
  ['config.watch', configWatch],
  ['health.heartbeat', healthHeartbeat],
]);

function hello(s: Session, p: Params) {
  if (s.helloDone) throw new EsdkError('bad-request', 'hello: already done on this connection');
  const protocol = p.get('protocol');
  if (protocol !== PROTOCOL_VERSION)
    throw new EsdkError(
      'bad-request',
      `hello: this agent speaks eSDK protocol ${PROTOCOL_VERSION}, the client asked for ${String(protocol)}`,
      { data: { protocol: [PROTOCOL_VERSION] } },
    );
  s.client = p.optText('client', 128);
  s.helloDone = true;
  return { protocol: PROTOCOL_VERSION, agent: s.backends.agentVersion, app: s.ctx.app };
}

function appInfo(s: Session) {
  const { app, revision, grants, sensors } = s.ctx;
  return {
    app,
    ...(revision === undefined ? {} : { revision }),
    agent: s.backends.agentVersion,
    protocol: PROTOCOL_VERSION,
    devices: grants.map((g) => ({ device: g.device, access: g.access, mode: g.mode })),
    sensors: [...sensors],
  };
}

// --- serial ---

async function serialOpen(s: Session, p: Params) {
  const port = p.name('port');
  const exclusive = p.optBool('exclusive');
  const opts = p.serialOptions();
  s.requireDevice('serial port', port, 'r', 'serial.open');
  s.checkHandleRoom();
  const serial = await s.backends.devices.serial.open(port, s.ctx.app, exclusive ? 'exclusive' : 'broker', opts);
  return { handle: s.addHandle(port, serial, exclusive) };
}

async function serialWrite(s: Session, p: Params) {
  const h = s.serialHandle(p);
  const data = p.bytes('data');
  s.requireDevice('serial port', h.port, 'rw', 'serial.write');
  requireExclusive(h, 'serial.write');
  await h.serial.write(data);
  return {};
}

async function serialRead(s: Session, p: Params) {
  const h = s.serialHandle(p);
  const timeoutMs = p.timeoutMs(DEFAULT_READ_TIMEOUT_MS);
  s.requireDevice('serial port', h.port, 'r', 'serial.read');
  requireExclusive(h, 'serial.read');
  return { data: await h.serial.read({ timeoutMs }) };
}

async function serialTransact(s: Session, p: Params) {
  const data = p.bytes('data');
  const timeoutMs = p.timeoutMs(DEFAULT_READ_TIMEOUT_MS);
  const framing = p.optFraming('framing');
  const opts = framing === undefined ? { timeoutMs } : { timeoutMs, framing };
  if (p.has('handle') === p.has('port')) p.fail('handle', 'given, or port given instead (exactly one of the two)');
  if (p.has('handle')) {
    const h = s.serialHandle(p);
    s.requireDevice('serial port', h.port, 'rw', 'serial.transact');
    return { data: await h.serial.transact(data, opts) };
  }
  const port = p.name('port');
  s.requireDevice('serial port', port, 'rw', 'serial.transact');
  const serial = await s.portSession(port);
  return { data: await serial.transact(data, opts) };
}

/** Raw write/read would interleave with other apps' transactions on a shared port: exclusive handles only. */
function requireExclusive(h: { handle: number; port: string; exclusive: boolean }, op: string): void {
  if (!h.exclusive)
    throw new EsdkError(
      'bad-request',
      `${op}: serial handle ${h.handle} (${h.port}) is a shared session, which allows only serial.transact; ` +
        'open the port with exclusive: true to write and read',
    );
}

async function serialClose(s: Session, p: Params) {
  await s.closeHandle(p.uint('handle'));
  return {};
}

// --- gpio ---

async function gpioRead(s: Session, p: Params) {
  const line = p.name('line');
  s.requireDevice('GPIO line', line, 'r', 'gpio.read');
  return { value: await s.backends.devices.gpio.read(line) };
}

async function gpioWrite(s: Session, p: Params) {
  const line = p.name('line');
  const value = p.level('value');
  s.requireDevice('GPIO line', line, 'rw', 'gpio.write');
  await s.backends.devices.gpio.write(line, s.ctx.app, value);
  return {};
}

async function gpioWatch(s: Session, p: Params, call: Call) {
  const line = p.name('line');
  const edge = p.edge();
  const debounceMs = p.optUint('debounceMs', 0, 60_000, 0);
  s.requireDevice('GPIO line', line, 'r', 'gpio.watch');
  let armed: Promise<void> | undefined;
  const result = s.subscribe(call, 'gpio', line, (emit) => {
    const stop = s.backends.devices.gpio.watch(line, edge, debounceMs, emit);
    armed = (stop as { ready?: Promise<void> }).ready;
    return stop;
  });
  // Answer once the line is watched (its starting level known): an edge right after the answer is not lost.
  try {
    await armed;
  } catch (e) {
    s.unsubscribe(result.sub);
    throw e;
  }
  return result;
}

// --- sensors ---

function sensorList(s: Session) {
  const granted = new Set(s.ctx.sensors);
  return { sensors: s.backends.devices.sensors.list().filter((x) => granted.has(x.name)) };
}

async function sensorRead(s: Session, p: Params) {
  const name = p.name('name');
  s.requireSensor(name, 'sensor.read');
  return await s.backends.devices.sensors.read(name);
}

function sensorSubscribe(s: Session, p: Params, call: Call) {
  const name = p.name('name');
  const intervalMs = p.optUint('intervalMs', MIN_SENSOR_INTERVAL_MS, 86_400_000, 1_000);
  s.requireSensor(name, 'sensor.subscribe');
  return s.subscribe(call, 'sensor', name, (emit) => s.backends.devices.sensors.subscribe(name, intervalMs, emit));
}

function unsubscribe(s: Session, p: Params) {
  s.unsubscribe(p.uint('sub'));
  return {};
}

// --- telemetry, config, health ---

async function telemetryPublish(s: Session, p: Params) {
  const stream = p.name('stream');
  // 9 is for the agent's own threshold alerts: an app's bulk data must not outrank (and at the disk cap, evict) them.
  const priority = p.optUint('priority', 0, 8);
  const ts = p.optTimestamp('ts');
  const now = Date.now();
  let samples: Array<{ value: unknown; ts: number }>;
  if (p.has('value') === p.has('samples')) p.fail('value', 'given, or samples given instead (exactly one of the two)');
  if (p.has('value')) samples = [{ value: p.get('value'), ts: ts ?? now }];
  else {
    const raw = p.get('samples');
    if (!Array.isArray(raw) || raw.length === 0 || raw.length > MAX_SAMPLES_PER_PUBLISH)
      p.fail('samples', `an array of 1..${MAX_SAMPLES_PER_PUBLISH} maps {value, ts?}`);
    samples = raw.map((x: unknown, i) => {
      if (typeof x !== 'object' || x === null || Array.isArray(x) || x instanceof Uint8Array || !('value' in x))
        p.fail(`samples[${i}]`, 'a map {value, ts?}');
      const sample = x as { value: unknown; ts?: unknown };
      if (sample.value === undefined) p.fail(`samples[${i}].value`, 'a value');
      if (sample.ts !== undefined && (typeof sample.ts !== 'number' || !Number.isFinite(sample.ts) || sample.ts < 0))
        p.fail(`samples[${i}].ts`, 'a timestamp (ms since the epoch, ≥ 0)');
      return { value: sample.value, ts: (sample.ts as number | undefined) ?? ts ?? now };
    });
  }
  try {
    await s.backends.telemetry.publish(s.ctx.app, stream, samples, priority === undefined ? {} : { priority });
  } catch (e) {
    if (e instanceof EsdkError) throw e;
    throw new EsdkError('unavailable', `telemetry for stream ${stream} was not committed: ${messageOf(e)}`, {
      cause: e,
    });
  }
  return {};
}

function configGet(s: Session) {
  return configEvent(s.ctx);
}

function configWatch(s: Session, _p: Params, call: Call) {
  // The first event is the current config, so a client (re)subscribing never misses a change.
  return s.subscribe(call, 'config', '', (emit) => {
    emit(configEvent(s.ctx));
    return () => {};
  });
}

function healthHeartbeat(s: Session, p: Params) {
  const status = p.oneOf('status', ['ok', 'degraded'] as const, 'ok');
  const detail = p.optText('detail', 1024);
  if (detail === undefined) s.backends.health.heartbeat(s.ctx.app, status);
  else s.backends.health.heartbeat(s.ctx.app, status, detail);
  return {};
}
