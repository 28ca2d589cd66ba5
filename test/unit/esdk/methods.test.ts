import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { GantryError } from '../../../agent/src/errors.js';
import { sessionHarness } from '../../helpers/esdk.js';
import { meterReader } from '../../helpers/fake-devices.js';

const test = suite('esdk methods (in-process session)');

test('hello: protocol 1 answers with the agent and the app; other versions and a second hello are refused', async () => {
  const h = sessionHarness();
  assert.equal(await h.ok('hello', { protocol: 1, client: 'test/1' }), {
    protocol: 1,
    agent: '0.1.0-test',
    app: 'meter-reader',
  });
  assert.is((await h.fail('hello', { protocol: 1 })).code, 'bad-request');
  const other = sessionHarness();
  const e = await other.fail('hello', { protocol: 2 });
  assert.is(e.code, 'bad-request');
  assert.equal(e.data, { protocol: [1] });
});

test('app.info lists the grants, sensors and revision', async () => {
  const h = sessionHarness();
  const info = await h.ok('app.info');
  assert.equal(info, {
    app: 'meter-reader',
    revision: 7,
    agent: '0.1.0-test',
    protocol: 1,
    devices: meterReader().grants,
    sensors: ['cpu-temp'],
  });
});

test('unknown methods, including Object.prototype names, are unknown-method', async () => {
  const h = sessionHarness();
  for (const m of ['nope', 'constructor', '__proto__', 'toString', 'hasOwnProperty'])
    assert.is((await h.fail(m)).code, 'unknown-method', m);
});

test('denied device calls reach nothing', async () => {
  const h = sessionHarness();
  const denied: Array<[string, Record<string, unknown>]> = [
    ['serial.open', { port: 'rs485-9' }],
    ['serial.open', { port: 'rs485-2' }], // passthrough
    ['serial.transact', { port: 'rs232-1', data: new Uint8Array([1]) }], // read-only
    ['serial.transact', { port: 'rs485-2', data: new Uint8Array([1]) }],
    ['gpio.read', { line: 'do-9' }],
    ['gpio.write', { line: 'di-1', value: 1 }], // read-only
    ['gpio.watch', { line: 'do-9' }],
    ['sensor.read', { name: 'board-temp' }],
    ['sensor.subscribe', { name: 'board-temp' }],
  ];
  for (const [method, params] of denied) {
    const e = await h.fail(method, params);
    assert.is(e.code, 'denied', `${method} ${JSON.stringify(params)}`);
    assert.match(e.message, 'meter-reader');
  }
  assert.equal(h.backends.devices.calls, [], 'the fake devices saw no call');
});

test('a read-only serial handle refuses write and transact without touching the port', async () => {
  const h = sessionHarness();
  const { handle } = await h.ok<{ handle: number }>('serial.open', { port: 'rs232-1', exclusive: true });
  const before = h.backends.devices.calls.length;
  assert.is((await h.fail('serial.write', { handle, data: new Uint8Array([1]) })).code, 'denied');
  assert.is((await h.fail('serial.transact', { handle, data: new Uint8Array([1]) })).code, 'denied');
  assert.is(h.backends.devices.calls.length, before);
});

test('serial: open in broker mode by default, exclusive on request; write/read/transact/close', async () => {
  const h = sessionHarness();
  const { handle } = await h.ok<{ handle: number }>('serial.open', {
    port: 'rs485-1',
    baudRate: 9600,
    parity: 'even',
    framing: { kind: 'interbyte', gapMs: 4 },
  });
  assert.equal(h.backends.devices.calls[0], {
    op: 'serial.open',
    args: [
      'rs485-1',
      'meter-reader',
      'broker',
      { baudRate: 9600, parity: 'even', framing: { kind: 'interbyte', gapMs: 4 } },
    ],
  });
  const t = await h.ok<{ data: Uint8Array }>('serial.transact', {
    handle,
    data: new Uint8Array([1, 2, 3]),
    timeoutMs: 200,
  });
  assert.equal([...t.data], [3, 2, 1]);
  const ex = await h.ok<{ handle: number }>('serial.open', { port: 'rs232-1', exclusive: true });
  assert.is(h.backends.devices.calls.at(-1)?.args[2], 'exclusive');
  const { handle: w } = await h.ok<{ handle: number }>('serial.open', { port: 'rs485-1', exclusive: true });
  await h.ok('serial.write', { handle: w, data: new Uint8Array([7, 7]) });
  assert.equal([...(await h.ok<{ data: Uint8Array }>('serial.read', { handle: w, timeoutMs: 50 })).data], [7, 7]);
  const timeout = await h.fail('serial.read', { handle: w, timeoutMs: 50 });
  assert.is(timeout.code, 'timeout');
  await h.ok('serial.close', { handle: ex.handle });
  assert.is((await h.fail('serial.close', { handle: ex.handle })).code, 'not-found');
  assert.is((await h.fail('serial.read', { handle: 999 })).code, 'not-found');
});

test('write and read on a shared (broker) handle are refused before the port', async () => {
  const h = sessionHarness();
  const { handle } = await h.ok<{ handle: number }>('serial.open', { port: 'rs485-1' });
  const before = h.backends.devices.calls.length;
  const w = await h.fail('serial.write', { handle, data: new Uint8Array([1]) });
  assert.is(w.code, 'bad-request');
  assert.match(w.message, 'exclusive: true');
  assert.is((await h.fail('serial.read', { handle })).code, 'bad-request');
  assert.is(h.backends.devices.calls.length, before);
});

test('serial.transact by port keeps one broker session per connection; close releases it', async () => {
  const h = sessionHarness();
  for (let i = 0; i < 3; i++) await h.ok('serial.transact', { port: 'rs485-1', data: new Uint8Array([i]) });
  assert.is(h.backends.devices.calls.filter((c) => c.op === 'serial.open').length, 1);
  assert.is(h.backends.devices.openSessions.size, 1);
  await h.session.close();
  assert.is(h.backends.devices.openSessions.size, 0);
});

test('bad params are bad-request with the field named', async () => {
  const h = sessionHarness();
  const cases: Array<[string, Record<string, unknown>, string]> = [
    ['serial.open', {}, 'port'],
    ['serial.open', { port: 'rs485-1', baudRate: -1 }, 'baudRate'],
    ['serial.open', { port: 'rs485-1', framing: { kind: 'delimiter' } }, 'delimiter'],
    ['serial.open', { port: 'rs485-1', framing: 'raw' }, 'framing'],
    ['serial.transact', { data: new Uint8Array(1) }, 'handle'],
    ['serial.transact', { port: 'rs485-1', data: 'text' }, 'data'],
    ['serial.transact', { port: 'rs485-1', data: new Uint8Array(1), timeoutMs: 0 }, 'timeoutMs'],
    ['gpio.write', { line: 'do-1', value: 2 }, 'value'],
    ['gpio.watch', { line: 'di-1', edge: 'up' }, 'edge'],
    ['sensor.subscribe', { name: 'cpu-temp', intervalMs: 1 }, 'intervalMs'],
    ['telemetry.publish', { stream: 's' }, 'value'],
    ['telemetry.publish', { stream: 's', value: 1, samples: [] }, 'value'],
    ['telemetry.publish', { stream: 's', samples: [] }, 'samples'],
    ['telemetry.publish', { stream: 's', samples: [{ v: 1 }] }, 'samples[0]'],
    ['telemetry.publish', { stream: 's', samples: [{ value: 1, ts: 'now' }] }, 'samples[0].ts'],
    ['telemetry.publish', { stream: '', value: 1 }, 'stream'],
    ['telemetry.publish', { stream: 's', value: 1, priority: 10 }, 'priority'],
    ['health.heartbeat', { status: 'sad' }, 'status'],
    ['unsubscribe', { sub: 'x' }, 'sub'],
  ];
  for (const [method, params, field] of cases) {
    const e = await h.fail(method, params);
    assert.is(e.code, 'bad-request', `${method} ${field}`);
    assert.match(e.message, method);
    assert.match(e.message, field);
  }
  assert.equal(h.backends.devices.calls, []);
  assert.equal(h.backends.telemetry.published, []);
});

test('gpio: read, write, watch with events after the response, unsubscribe stops the watch', async () => {
  const h = sessionHarness();
  assert.equal(await h.ok('gpio.read', { line: 'di-1' }), { value: 0 });
  await h.ok('gpio.write', { line: 'do-1', value: true });
  assert.equal(h.backends.devices.calls.at(-1), { op: 'gpio.write', args: ['do-1', 'meter-reader', 1] });
  const { sub } = await h.ok<{ sub: number }>('gpio.watch', { line: 'di-1', edge: 'rising', debounceMs: 20 });
  assert.equal(h.backends.devices.calls.at(-1), { op: 'gpio.watch', args: ['di-1', 'rising', 20] });
  h.backends.devices.fireEdge('di-1', 1);
  assert.is(h.events.length, 1);
  assert.is(h.events[0]?.sub, sub);
  assert.equal((h.events[0] as { event: { value: number } }).event.value, 1);
  await h.ok('unsubscribe', { sub });
  assert.is(h.backends.devices.watcherCount('di-1'), 0);
  h.backends.devices.fireEdge('di-1', 0);
  assert.is(h.events.length, 1);
  assert.is((await h.fail('unsubscribe', { sub })).code, 'not-found');
});

test('a dropped event is counted and reported with the next delivered one', async () => {
  const h = sessionHarness();
  const { sub } = await h.ok<{ sub: number }>('sensor.subscribe', { name: 'cpu-temp', intervalMs: 100 });
  h.accepting = false;
  h.backends.devices.emitReading('cpu-temp', 1);
  h.backends.devices.emitReading('cpu-temp', 2);
  h.accepting = true;
  h.backends.devices.emitReading('cpu-temp', 3);
  assert.equal(
    h.events.map((e) => ({
      sub: e.sub,
      value: (e as { event: { value: number } }).event.value,
      dropped: (e as { dropped?: number }).dropped,
    })),
    [{ sub, value: 3, dropped: 2 }],
  );
  assert.is(h.session.droppedEvents, 2);
});

test('sensor.list shows only granted sensors; sensor.read reads', async () => {
  const h = sessionHarness();
  assert.equal(await h.ok('sensor.list'), { sensors: [{ name: 'cpu-temp', kind: 'thermal', unit: '°C' }] });
  assert.equal(await h.ok('sensor.read', { name: 'cpu-temp' }), {
    sensor: 'cpu-temp',
    value: 42.5,
    unit: '°C',
    ts: 1_700_000_000_000,
  });
});

test('telemetry.publish answers only after the sink resolves; samples get timestamps', async () => {
  const h = sessionHarness();
  h.backends.telemetry.hold();
  let answered = false;
  const pending = h.call('telemetry.publish', { stream: 'energy', value: 12.5, priority: 7, ts: 1000 }).then((r) => {
    answered = true;
    return r;
  });
  await new Promise((r) => setTimeout(r, 20));
  assert.not.ok(answered, 'no answer while the sink holds');
  h.backends.telemetry.release();
  assert.equal(await pending, { id: 1, result: {} });
  await h.ok('telemetry.publish', { stream: 'energy', samples: [{ value: 1, ts: 5 }, { value: 2 }], ts: 9 });
  assert.equal(h.backends.telemetry.published, [
    { app: 'meter-reader', stream: 'energy', samples: [{ value: 12.5, ts: 1000 }], priority: 7 },
    {
      app: 'meter-reader',
      stream: 'energy',
      samples: [
        { value: 1, ts: 5 },
        { value: 2, ts: 9 },
      ],
    },
  ]);
});

test('a failing sink is unavailable, with the stream named', async () => {
  const h = sessionHarness();
  h.backends.telemetry.failWith = new Error('disk full');
  const e = await h.fail('telemetry.publish', { stream: 'energy', value: 1 });
  assert.is(e.code, 'unavailable');
  assert.match(e.message, 'energy');
  assert.match(e.message, 'disk full');
});

test('device errors map to codes: GantryError kinds, timeouts, anything else internal', async () => {
  const h = sessionHarness();
  const errors: Array<[unknown, string]> = [
    [new GantryError('failed-precondition', 'held by app other'), 'busy'],
    [new GantryError('not-found', 'no port'), 'not-found'],
    [new GantryError('unavailable', 'gone', { details: { reason: 'timeout' } }), 'timeout'],
    [Object.assign(new Error('slow'), { code: 'ETIMEDOUT' }), 'timeout'],
    [new TypeError('x is undefined'), 'internal'],
  ];
  for (const [err, code] of errors) {
    h.backends.devices.responder = () => {
      throw err;
    };
    assert.is((await h.fail('serial.transact', { port: 'rs485-1', data: new Uint8Array([1]) })).code, code);
  }
});

test('config.get, config.watch: the current config first, a changed one after a redeploy, none when unchanged', async () => {
  const h = sessionHarness();
  assert.equal(await h.ok('config.get'), { config: { pollSec: 5, meters: [1, 2] }, revision: 7 });
  const { sub } = await h.ok<{ sub: number }>('config.watch');
  assert.equal(h.events, [{ sub, event: { config: { pollSec: 5, meters: [1, 2] }, revision: 7 } }]);
  const previous = h.app.ctx;
  h.app.ctx = meterReader({ revision: 8, config: { pollSec: 1 } });
  await h.session.revise(previous);
  assert.equal(h.events.at(-1), { sub, event: { config: { pollSec: 1 }, revision: 8 } });
  const again = h.app.ctx;
  h.app.ctx = meterReader({ revision: 9, config: { pollSec: 1 } });
  await h.session.revise(again);
  assert.is(h.events.length, 2, 'an unchanged config is not sent again');
});

test('a redeploy that takes a grant away closes its handles and ends its watches with denied', async () => {
  const h = sessionHarness();
  const { handle } = await h.ok<{ handle: number }>('serial.open', { port: 'rs485-1' });
  await h.ok('serial.transact', { port: 'rs485-1', data: new Uint8Array([1]) });
  const { sub } = await h.ok<{ sub: number }>('gpio.watch', { line: 'di-1' });
  const s2 = await h.ok<{ sub: number }>('sensor.subscribe', { name: 'cpu-temp' });
  const previous = h.app.ctx;
  h.app.ctx = meterReader({ grants: [{ device: 'do-1', access: 'rw', mode: 'broker' }], sensors: [] });
  await h.session.revise(previous);
  assert.is(h.backends.devices.openSessions.size, 0);
  assert.is(h.backends.devices.watcherCount('di-1'), 0);
  const ends = h.events.filter((e) => 'end' in e);
  assert.equal(
    ends.map((e) => [e.sub, (e as { end: { code: string } }).end.code]),
    [
      [sub, 'denied'],
      [s2.sub, 'denied'],
    ],
  );
  const e = await h.fail('serial.transact', { handle, data: new Uint8Array([1]) });
  assert.is(e.code, 'denied');
  assert.match(e.message, `serial handle ${handle} was closed`);
});

test('close releases handles, port sessions and subscriptions; a call after close is unavailable', async () => {
  const h = sessionHarness();
  await h.ok('serial.open', { port: 'rs485-1' });
  await h.ok('serial.transact', { port: 'rs485-1', data: new Uint8Array([1]) });
  await h.ok('gpio.watch', { line: 'di-1' });
  await h.ok('sensor.subscribe', { name: 'cpu-temp' });
  await h.ok('config.watch');
  assert.equal(h.session.holdings(), { handles: 1, portSessions: 1, subscriptions: 3 });
  await h.session.close();
  assert.equal(h.session.holdings(), { handles: 0, portSessions: 0, subscriptions: 0 });
  assert.is(h.backends.devices.openSessions.size, 0);
  assert.is(h.backends.devices.watcherCount('di-1'), 0);
  assert.is(h.backends.devices.sensorSubs.get('cpu-temp')?.size, 0);
  assert.is((await h.fail('app.info')).code, 'unavailable');
});

test('a port that finishes opening after the connection closed is closed at once', async () => {
  const h = sessionHarness();
  let finish: () => void = () => {};
  const gate = new Promise<void>((r) => {
    finish = r;
  });
  const open = h.backends.devices.serial.open;
  h.backends.devices.serial.open = async (...args) => {
    await gate;
    return open(...args);
  };
  const pending = h.call('serial.open', { port: 'rs485-1' });
  await h.session.close();
  finish();
  const r = await pending;
  assert.ok('error' in r);
  assert.is(h.backends.devices.openSessions.size, 0);
});

test('health.heartbeat reaches the health sink', async () => {
  const h = sessionHarness();
  await h.ok('health.heartbeat');
  await h.ok('health.heartbeat', { status: 'degraded', detail: 'meter 2 silent' });
  assert.equal(h.backends.health.beats, [
    { app: 'meter-reader', status: 'ok' },
    { app: 'meter-reader', status: 'degraded', detail: 'meter 2 silent' },
  ]);
});

test('a frame without a usable id is fatal; one with an id gets an error response', async () => {
  const h = sessionHarness();
  await h.session.handle([1, 2, 3]);
  await h.session.handle({ method: 'app.info' });
  assert.is(h.fatals.length, 2);
  await h.session.handle({ id: 9, method: 5 });
  assert.equal(
    h.responses.map((r) => [r.id, 'error' in r ? r.error.code : 'ok']),
    [[9, 'bad-request']],
  );
});

test.run();
