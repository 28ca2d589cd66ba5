/**
 * The simulator's pure parts (scripts/lib/simulator): argv, the responder
 * script, the served app, sensor drift, stdin commands, the telemetry lines
 * and the banner. No I/O; they live here because the simulator's tests are
 * one area.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { FirmwareProfile } from '../../../agent/src/config/profile-types.js';
import { answer, readHoldingRegistersRequest } from '../../../agent/src/devices/sim/modbus-responder.js';
import { parseReadHoldingRegistersResponse } from '../../../agent/src/devices/sim/modbus-rtu.js';
import { isGantryError } from '../../../agent/src/errors.js';
import { formatBanner, readyLine } from '../../../scripts/lib/simulator/banner.js';
import { parseCommand } from '../../../scripts/lib/simulator/commands.js';
import { DEFAULT_PROFILE, parseSimulatorArgs } from '../../../scripts/lib/simulator/options.js';
import { linkName } from '../../../scripts/lib/simulator/pty-pairs.js';
import { parseResponderScript } from '../../../scripts/lib/simulator/responder-script.js';
import { rawFor, SensorDrift, valueFor } from '../../../scripts/lib/simulator/sensor-drift.js';
import { appFromDeployment, appFromProfile } from '../../../scripts/lib/simulator/simulated-app.js';
import { PrintingTelemetrySink, showValue } from '../../../scripts/lib/simulator/telemetry-printer.js';
import { deviceProfile } from '../../helpers/device-profile.js';

const test = suite('simulator: pure parts');

const profile: FirmwareProfile = deviceProfile({
  serialPorts: [
    { name: 'rs485-1', path: '/dev/ttyS1', kind: 'rs485', baudRates: [9600], defaultBaud: 9600 },
    { name: 'rs232-1', path: '/dev/ttyS3', kind: 'rs232', baudRates: [115200] },
  ],
  gpio: {
    lines: [
      { name: 'di-1', line: 0, direction: 'in' },
      { name: 'do-1', line: 8, direction: 'out' },
    ],
  },
  sensors: [
    { name: 'board-temp', kind: 'hwmon', path: 'class/hwmon/hwmon0/temp1_input', unit: '°C', scale: 0.001 },
    { name: 'zone', kind: 'thermal', path: '/class/thermal/thermal_zone0/temp', unit: 'K', scale: 0.1, offset: 273 },
    { name: 'cpu-load', kind: 'system', metric: 'cpu-load', unit: '%' },
  ],
});

const throwsKind = (fn: () => unknown, kind: 'invalid' | 'not-found', pattern: RegExp) => {
  try {
    fn();
  } catch (e) {
    assert.ok(isGantryError(e, kind), `expected a ${kind} GantryError, got ${String(e)}`);
    assert.match((e as Error).message, pattern);
    return;
  }
  assert.unreachable(`expected a ${kind} error matching ${pattern}`);
};

test('argv: defaults, every flag, and bad values named', () => {
  assert.equal(parseSimulatorArgs([]), {
    help: false,
    options: { profile: DEFAULT_PROFILE, driftMs: 1000, toggleDiMs: 0, verbose: false },
  });
  const all = parseSimulatorArgs(
    '--profile p.json --deployment d.json --app meter --socket /s --script r.json --dir /d --drift-ms 50 --toggle-di 2000 --verbose'.split(
      ' ',
    ),
  );
  assert.equal(all, {
    help: false,
    options: {
      profile: 'p.json',
      deployment: 'd.json',
      app: 'meter',
      socket: '/s',
      script: 'r.json',
      dir: '/d',
      driftMs: 50,
      toggleDiMs: 2000,
      verbose: true,
    },
  });
  assert.equal(parseSimulatorArgs(['-h']), { help: true });
  assert.is((parseSimulatorArgs(['--drift-ms', '0']) as { options: { driftMs: number } }).options.driftMs, 0);
  throwsKind(() => parseSimulatorArgs(['--drift-ms', '5']), 'invalid', /--drift-ms must be 0 \(off\).*"5"/);
  throwsKind(() => parseSimulatorArgs(['--toggle-di', 'soon']), 'invalid', /--toggle-di/);
  throwsKind(() => parseSimulatorArgs(['--bogus']), 'invalid', /bogus.*--help/);
  throwsKind(() => parseSimulatorArgs(['extra']), 'invalid', /extra/);
  throwsKind(() => parseSimulatorArgs(['--app', ' ']), 'invalid', /--app needs a value/);
});

/** What a slave of the plan answers to a read of one register: the value, or the exception code as a string. */
const ask = (script: ReturnType<typeof parseResponderScript>, port: string, slave: number, address: number) => {
  const bus = script.ports.find((p) => p.port === port)?.slaves ?? {};
  const reply = answer(readHoldingRegistersRequest(slave, address, 1), bus[slave]);
  if (!reply) return 'no answer';
  const parsed = parseReadHoldingRegistersResponse(reply);
  return parsed.ok ? parsed.registers[0] : `exception ${'exceptionCode' in parsed ? parsed.exceptionCode : '?'}`;
};

test('responder script: the default bus, listed registers, exceptions, silence, a port of its own', () => {
  const ports = ['rs485-1', 'rs232-1'];
  const dflt = parseResponderScript(undefined, 'default', ports);
  assert.equal(
    dflt.ports.map((p) => [p.port, p.ids]),
    [
      ['rs485-1', [1, 2, 3]],
      ['rs232-1', [1, 2, 3]],
    ],
  );
  assert.is(ask(dflt, 'rs485-1', 2, 7), 2007);
  assert.is(ask(dflt, 'rs485-1', 4, 0), 'no answer', 'slave 4 is not on the default bus');

  const script = parseResponderScript(
    JSON.stringify({
      slaves: {
        1: { registers: { 0: 4321, 5: 0 }, delayMs: 1 },
        2: { registers: { 1: 7 }, unlisted: 'exception' },
        9: { silent: true },
      },
      ports: { 'rs232-1': { slaves: { 5: {} } } },
    }),
    'r.json',
    ports,
  );
  assert.is(ask(script, 'rs485-1', 1, 0), 4321);
  assert.is(ask(script, 'rs485-1', 1, 5), 0, 'a listed 0 is 0, not the formula');
  assert.is(ask(script, 'rs485-1', 1, 6), 1006, 'unlisted: the formula');
  assert.is(ask(script, 'rs485-1', 2, 1), 7);
  assert.is(ask(script, 'rs485-1', 2, 2), 'exception 2');
  assert.is(ask(script, 'rs485-1', 9, 0), 'no answer');
  assert.is(ask(script, 'rs232-1', 1, 0), 'no answer', 'rs232-1 has its own bus');
  assert.is(ask(script, 'rs232-1', 5, 3), 5003);
  assert.is(script.ports[0]?.slaves[1]?.delayMs, 1);
});

test('responder script: errors name the file and the pointer', () => {
  const ports = ['rs485-1'];
  const bad = (doc: unknown, pattern: RegExp) =>
    throwsKind(() => parseResponderScript(JSON.stringify(doc), 'r.json', ports), 'invalid', pattern);
  throwsKind(() => parseResponderScript('{', 'r.json', ports), 'invalid', /responder script r\.json is not JSON/);
  bad([], /r\.json: \/: must be an object/);
  bad({ slave: {} }, /\/slave: unknown key \(allowed: slaves, ports\)/);
  bad({ slaves: { 0: {} } }, /\/slaves\/0: a slave id must be 1\.\.247/);
  bad({ slaves: { x: {} } }, /\/slaves\/x: a slave id/);
  bad({ slaves: { 1: { registers: { 0: 70000 } } } }, /\/slaves\/1\/registers\/0: a register value must be .*70000/);
  bad({ slaves: { 1: { registers: { '-1': 1 } } } }, /\/slaves\/1\/registers\/-1: a register address/);
  bad({ slaves: { 1: { unlisted: 'zero' } } }, /\/slaves\/1\/unlisted: must be "formula"/);
  bad({ slaves: { 1: { delayMs: -1 } } }, /\/slaves\/1\/delayMs/);
  bad({ slaves: { 1: { silent: 'yes' } } }, /\/slaves\/1\/silent: must be true or false/);
  bad({ ports: { 'rs485-9': {} } }, /\/ports\/rs485-9: the profile has no serial port rs485-9 \(it has: rs485-1\)/);
});

test('the served app: everything of the profile, or one app of a document', () => {
  const all = appFromProfile(profile);
  assert.is(all.ctx.app, 'sim-app');
  assert.equal(
    all.ctx.grants.map((g) => `${g.device}:${g.access}:${g.mode}`),
    ['rs485-1:rw:broker', 'rs232-1:rw:broker', 'di-1:rw:broker', 'do-1:rw:broker'],
  );
  assert.equal(all.ctx.sensors, ['board-temp', 'zone', 'cpu-load']);
  assert.equal(all.ctx.config, {});
  assert.equal(all.telemetryRules, {});
  assert.is(appFromProfile(profile, 'meter').ctx.app, 'meter');

  const meter = {
    image: 'meter:1',
    devices: [{ device: 'rs485-1', access: 'r' as const, mode: 'broker' as const }],
    sensors: ['board-temp'],
    config: { every: 5 },
    telemetry: { power: { deadband: 2 } },
  };
  const one = appFromDeployment({ revision: 4, apps: { meter } }, 'd.json', undefined);
  assert.equal(one.ctx, {
    app: 'meter',
    revision: 4,
    grants: meter.devices,
    sensors: ['board-temp'],
    config: { every: 5 },
  });
  assert.equal(one.telemetryRules, { power: { deadband: 2 } });
  const two = { revision: 1, apps: { meter, other: { image: 'o:1' } } };
  throwsKind(
    () => appFromDeployment(two, 'd.json', undefined),
    'invalid',
    /2 apps \(meter, other\): say which with --app/,
  );
  throwsKind(() => appFromDeployment(two, 'd.json', 'nope'), 'not-found', /no app nope \(it has: meter, other\)/);
  const bare = appFromDeployment(two, 'd.json', 'other');
  assert.equal([bare.ctx.grants, bare.ctx.sensors, bare.ctx.config], [[], [], null]);
});

test('sensor drift: stays in its band, moves, pins and unpins; raw values use scale and offset', () => {
  assert.is(rawFor({ scale: 0.001 }, 42.5), 42_500);
  assert.is(rawFor({ scale: 0.1, offset: 273 }, 300), 270);
  assert.is(valueFor({ scale: 0.1, offset: 273 }, 270), 300);
  assert.is(rawFor({}, 7.4), 7);

  // A fixed sequence, so the walk is the same every run.
  let seed = 1;
  const random = () => {
    seed = (seed * 16807) % 2147483647;
    return seed / 2147483647;
  };
  const drift = new SensorDrift(profile.sensors ?? [], (name) => (name === 'zone' ? 3000 : 42_000), random);
  assert.equal(drift.names(), ['board-temp', 'zone'], 'system sensors are the host’s own');
  const seen = new Set<number>();
  for (let i = 0; i < 5000; i++) {
    const step = drift.step();
    assert.equal(
      step.map((s) => s.path),
      ['class/hwmon/hwmon0/temp1_input', 'class/thermal/thermal_zone0/temp'],
    );
    const temp = step[0];
    assert.ok(temp && temp.value >= 42 * 0.95 - 1e-9 && temp.value <= 42 * 1.05 + 1e-9, `in band: ${temp?.value}`);
    assert.is(temp.raw, rawFor({ scale: 0.001 }, temp.value));
    seen.add(temp.raw);
  }
  assert.ok(seen.size > 100, `the value moves (${seen.size} distinct)`);

  const pinned = drift.pin('board-temp', 55.5);
  assert.equal(pinned, { sensor: 'board-temp', path: 'class/hwmon/hwmon0/temp1_input', raw: 55_500, value: 55.5 });
  assert.equal(
    drift.step().map((s) => s.sensor),
    ['zone'],
    'a pinned sensor is not written',
  );
  drift.unpin('board-temp');
  const after = drift.step().find((s) => s.sensor === 'board-temp');
  assert.ok(after && Math.abs(after.value - 55.5) < 55.5 * 0.05 + 1e-9, 'drifts around where it was pinned');
  throwsKind(() => drift.pin('cpu-load', 3), 'not-found', /cpu-load is not a simulated file sensor.*board-temp, zone/);
  throwsKind(() => drift.pin('board-temp', Number.NaN), 'invalid', /not a number/);
});

test('stdin commands', () => {
  assert.equal(parseCommand('di di-1 1'), { kind: 'di', line: 'di-1', value: 1 });
  assert.equal(parseCommand('  DI  di-2   0 '), { kind: 'di', line: 'di-2', value: 0 });
  assert.equal(parseCommand('temp board-temp -3.5'), { kind: 'temp', sensor: 'board-temp', value: -3.5 });
  assert.equal(parseCommand('sensor board-temp 40'), { kind: 'temp', sensor: 'board-temp', value: 40 });
  assert.equal(parseCommand('temp board-temp drift'), { kind: 'drift', sensor: 'board-temp' });
  assert.equal(parseCommand('quit'), { kind: 'quit' });
  assert.equal(parseCommand('exit'), { kind: 'quit' });
  assert.equal(parseCommand('help'), { kind: 'help' });
  assert.equal(parseCommand(''), { kind: 'nothing' });
  assert.equal(parseCommand('# a comment'), { kind: 'nothing' });
  const error = (line: string) => {
    const c = parseCommand(line);
    return c.kind === 'error' ? c.message : `not an error: ${c.kind}`;
  };
  assert.match(error('di di-1 2'), /di di-1: the level must be 0 or 1, got 2/);
  assert.match(error('di di-1'), /usage: di <line> 0\|1/);
  assert.match(error('temp board-temp hot'), /"hot" is neither a number nor "drift"/);
  assert.match(error('temp'), /usage: temp <sensor> <value>/);
  assert.match(error('quit now'), /usage: quit/);
  assert.match(error('jump'), /unknown command "jump"; commands:\n {2}di /);
});

test('telemetry lines: every sample, and what the rules would send upstream', () => {
  const lines: string[] = [];
  let now = 10_000;
  const sink = new PrintingTelemetrySink({
    print: (l) => lines.push(l),
    rules: {
      meter: { power: { deadband: 5 }, energy: { windowSec: 10 } },
      plain: {},
    },
    clock: () => now,
    tickMs: 0,
  });
  const pub = (app: string, stream: string, values: unknown[]) =>
    sink.publish(
      app,
      stream,
      values.map((value) => ({ value, ts: now })),
      {},
    );
  return (async () => {
    await pub('meter', 'power', [100, 102, 110]);
    assert.equal(lines.splice(0), [
      'telemetry meter power 100',
      'telemetry meter power 102',
      'telemetry meter power 110',
      'upstream meter power sample p3 {"kind":"sample","ts":10000,"value":100}',
      'upstream meter power sample p3 {"kind":"sample","ts":10000,"value":110}',
    ]);
    await pub('meter', 'status', ['ok']);
    assert.equal(lines.splice(0), [
      'telemetry meter status "ok"',
      'upstream meter status sample p3 {"kind":"sample","ts":10000,"value":"ok"}',
    ]);
    await pub('meter', 'energy', [1, 3]);
    assert.equal(lines.splice(0), ['telemetry meter energy 1', 'telemetry meter energy 3'], 'held in the window');
    now = 20_000;
    sink.tick();
    assert.is(lines.length, 1);
    assert.match(
      lines[0] ?? '',
      /^upstream meter energy window p3 \{"kind":"window","from":10000,"to":20000,"count":2,.*"mean":2,/,
    );
    lines.length = 0;
    await pub('plain', 's', [{ a: 1 }]);
    await pub('other', 's', [Uint8Array.of(1, 255)]);
    assert.equal(lines.splice(0), ['telemetry plain s {"a":1}', 'telemetry other s "0x01ff"'], 'no rules: no upstream');
    await pub('meter', 'energy', [9]);
    lines.length = 0;
    sink.close();
    assert.match(lines.join('\n'), /^upstream meter energy window/, 'close flushes the open window');
  })();
});

test('showValue: JSON, with bytes and bigints readable', () => {
  assert.is(showValue({ n: 1, s: 'x', l: [true, null] }), '{"n":1,"s":"x","l":[true,null]}');
  assert.is(showValue(Buffer.from([0xde, 0xad])), '"0xdead"');
  assert.is(showValue({ big: 2n ** 70n }), '{"big":"1180591620717411303424"}');
  assert.is(showValue(undefined), 'null');
});

test('banner: how to run an app, what is served, and the ready line last', () => {
  const app = appFromDeployment(
    {
      revision: 2,
      apps: {
        meter: {
          image: 'm:1',
          devices: [
            { device: 'rs485-1', access: 'rw', mode: 'broker' },
            { device: 'rs232-1', access: 'rw', mode: 'passthrough' },
          ],
          sensors: ['board-temp'],
          telemetry: { power: { deadband: 1 } },
        },
      },
    },
    'd.json',
    'meter',
  );
  const lines = formatBanner({
    profile,
    app,
    socketPath: '/tmp/s/esdk.sock',
    sysfsRoot: '/tmp/s/sys',
    dir: '/tmp/s',
    temporary: true,
    links: [
      { port: 'rs485-1', appPath: '/tmp/s/tty/rs485-1', farPath: '/tmp/s/tty/rs485-1.far', pid: 11 },
      { port: 'rs232-1', appPath: '/tmp/s/tty/rs232-1', farPath: '/tmp/s/tty/rs232-1.far', pid: 12 },
    ],
    responder: parseResponderScript(undefined, 'default', ['rs485-1', 'rs232-1']),
  });
  const text = lines.join('\n');
  assert.ok(lines.includes('  GANTRY_ESDK_SOCKET=/tmp/s/esdk.sock node your-app.js'));
  assert.is(lines[lines.length - 1], readyLine('/tmp/s/esdk.sock'));
  assert.is(readyLine('/x'), 'ready GANTRY_ESDK_SOCKET=/x');
  assert.match(text, /dir \/tmp\/s \(removed at exit\)/);
  assert.match(text, /serial rs485-1 .*Modbus slaves 1,2,3.*socat pid 11.*\[broker rw\]/);
  assert.match(text, /serial rs232-1 .*\[passthrough rw: the app opens \/tmp\/s\/tty\/rs232-1 itself\]/);
  assert.match(text, /gpio {3}di-1 in \(stdin: di di-1 0\|1\) \[not granted\]/);
  assert.match(text, /sensor board-temp hwmon °C .*\[granted\]/);
  assert.match(text, /sensor cpu-load system % .*\[not granted\]/);
  assert.match(text, /Telemetry rules for power/);
  assert.match(text, /Config: null/);
  assert.is(linkName('rs485-1'), 'rs485-1');
  assert.is(linkName('../x y'), '.._x_y');
});

test.run();
