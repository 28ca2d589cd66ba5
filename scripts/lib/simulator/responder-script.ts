/**
 * The simulator's Modbus responder script, pure: JSON text -> the slave bus
 * each serial port of the profile gets on the far end of its pty pair.
 *
 *   {
 *     "slaves": {                        // the bus on every port (default: slaves 1, 2, 3)
 *       "1": { "registers": { "0": 1234, "1": 42 }, "delayMs": 5 },
 *       "2": { "unlisted": "exception" },  // only listed registers; others answer exception 2
 *       "7": { "silent": true }            // a dead meter: no answer, the app times out
 *     },
 *     "ports": { "rs232-1": { "slaves": {} } }   // this port's bus instead (here: nobody answers)
 *   }
 *
 * A register not listed answers slave*1000 + address unless "unlisted" is
 * "exception". Errors name the file and the JSON pointer of what is wrong.
 */

import { defaultRegister, type ModbusSlaveScript } from '../../../agent/src/devices/sim/modbus-responder.js';
import { invalid } from '../../../agent/src/errors.js';

/** Slave id -> its script, for one port. */
export type SlaveBus = Record<number, ModbusSlaveScript>;

export interface ResponderPlan {
  /** Every port of the profile, in profile order, with its bus. */
  ports: Array<{ port: string; slaves: SlaveBus; ids: number[] }>;
}

/** The default bus: slaves 1..3, every register answering slave*1000 + address. */
export function defaultBus(): SlaveBus {
  return { 1: {}, 2: {}, 3: {} };
}

/** `text` undefined: the default bus on every port. */
export function parseResponderScript(text: string | undefined, source: string, portNames: string[]): ResponderPlan {
  if (text === undefined) return planFor(portNames, defaultBus(), {});
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw invalid(`responder script ${source} is not JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
  const fail = (pointer: string, message: string) =>
    invalid(`responder script ${source}: ${pointer || '/'}: ${message}`);
  const obj = asObject(doc, '', fail);
  onlyKeys(obj, '', ['slaves', 'ports'], fail);
  const common = obj.slaves === undefined ? defaultBus() : parseBus(obj.slaves, '/slaves', fail);
  const perPort: Record<string, SlaveBus> = {};
  if (obj.ports !== undefined) {
    const ports = asObject(obj.ports, '/ports', fail);
    for (const [name, value] of Object.entries(ports)) {
      const at = `/ports/${name}`;
      if (!portNames.includes(name)) {
        throw fail(at, `the profile has no serial port ${name} (it has: ${portNames.join(', ') || 'none'})`);
      }
      const port = asObject(value, at, fail);
      onlyKeys(port, at, ['slaves'], fail);
      perPort[name] = parseBus(port.slaves ?? {}, `${at}/slaves`, fail);
    }
  }
  return planFor(portNames, common, perPort);
}

function planFor(portNames: string[], common: SlaveBus, perPort: Record<string, SlaveBus>): ResponderPlan {
  return {
    ports: portNames.map((port) => {
      const slaves = perPort[port] ?? common;
      return { port, slaves, ids: Object.keys(slaves).map(Number) };
    }),
  };
}

type Fail = (pointer: string, message: string) => Error;

function parseBus(value: unknown, at: string, fail: Fail): SlaveBus {
  const bus: SlaveBus = {};
  for (const [key, raw] of Object.entries(asObject(value, at, fail))) {
    const where = `${at}/${key}`;
    const id = Number(key);
    if (!/^\d+$/.test(key) || id < 1 || id > 247) throw fail(where, 'a slave id must be 1..247');
    bus[id] = parseSlave(id, raw, where, fail);
  }
  return bus;
}

function parseSlave(id: number, value: unknown, at: string, fail: Fail): ModbusSlaveScript {
  const o = asObject(value, at, fail);
  onlyKeys(o, at, ['registers', 'unlisted', 'delayMs', 'silent'], fail);
  const listed = new Map<number, number>();
  for (const [key, raw] of Object.entries(asObject(o.registers ?? {}, `${at}/registers`, fail))) {
    const where = `${at}/registers/${key}`;
    const address = Number(key);
    if (!/^\d+$/.test(key) || address > 0xffff) throw fail(where, 'a register address must be 0..65535');
    if (typeof raw !== 'number' || !Number.isInteger(raw) || raw < 0 || raw > 0xffff) {
      throw fail(where, `a register value must be a whole number 0..65535, got ${JSON.stringify(raw)}`);
    }
    listed.set(address, raw);
  }
  if (o.unlisted !== undefined && o.unlisted !== 'formula' && o.unlisted !== 'exception') {
    throw fail(
      `${at}/unlisted`,
      `must be "formula" (slave*1000+address) or "exception", got ${JSON.stringify(o.unlisted)}`,
    );
  }
  const formula = o.unlisted === 'exception' ? () => undefined : defaultRegister(id);
  const script: ModbusSlaveScript = { register: (address) => listed.get(address) ?? formula(address) };
  if (o.delayMs !== undefined) {
    if (typeof o.delayMs !== 'number' || !Number.isFinite(o.delayMs) || o.delayMs < 0 || o.delayMs > 10_000) {
      throw fail(`${at}/delayMs`, `must be a number of milliseconds 0..10000, got ${JSON.stringify(o.delayMs)}`);
    }
    script.delayMs = o.delayMs;
  }
  if (o.silent !== undefined) {
    if (typeof o.silent !== 'boolean') throw fail(`${at}/silent`, 'must be true or false');
    script.silent = o.silent;
  }
  return script;
}

function asObject(v: unknown, at: string, fail: Fail): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw fail(at, 'must be an object');
  return v as Record<string, unknown>;
}

function onlyKeys(o: Record<string, unknown>, at: string, allowed: string[], fail: Fail): void {
  for (const key of Object.keys(o)) {
    if (!allowed.includes(key)) throw fail(`${at}/${key}`, `unknown key (allowed: ${allowed.join(', ')})`);
  }
}
