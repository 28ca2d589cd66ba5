/**
 * The SDK (sdk/src) against the real eSDK server on a unix socket, with fake
 * devices: typed calls, typed errors, streams, and reconnecting when the
 * agent's socket goes away and comes back on the same path.
 */
import net from 'node:net';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { encodeFrame, FrameDecoder } from '../../../agent/src/esdk/frame.js';
import { EsdkServer } from '../../../agent/src/esdk/server.js';
import {
  BadRequestError,
  ConnectionError,
  connect,
  DeniedError,
  type GantryClient,
  NotFoundError,
  ProtocolError,
  TimeoutError,
} from '../../../sdk/src/index.js';
import { type FakeBackends, fakeBackends, meterReader } from '../../helpers/fake-devices.js';
import { waitFor, withTimeout } from '../../helpers/timeout.js';
import { type TempDir, tempDir } from '../../helpers/tmp.js';

interface Ctx {
  dir: TempDir;
  backends: FakeBackends;
  server: EsdkServer;
  sock: string;
  clients: GantryClient[];
}
const test = suite<Ctx>('sdk client against the esdk server');

async function client(c: Ctx, opts: Parameters<typeof connect>[0] = {}): Promise<GantryClient> {
  const cl = await connect({ path: c.sock, clientName: 'sdk-test/1', ...opts });
  c.clients.push(cl);
  return cl;
}

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a rejection');
}

test.before.each(async (c) => {
  c.dir = await tempDir('gantry-sdk-');
  c.backends = fakeBackends();
  c.sock = path.join(c.dir.path, 'meter-reader', 'esdk.sock');
  c.server = new EsdkServer(c.backends, { socketPath: (app) => path.join(c.dir.path, app, 'esdk.sock') });
  await c.server.open(meterReader());
  c.clients = [];
});

test.after.each(async (c) => {
  for (const cl of c.clients) await withTimeout(cl.close(), 3_000, 'client close');
  await withTimeout(c.server.closeAll(), 5_000, 'closeAll');
  await c.dir.cleanup();
});

test('info, serial, gpio, sensors, telemetry, config, health through typed calls', async (c) => {
  const g = await client(c);
  assert.is(g.app, 'meter-reader');
  const info = await g.info();
  assert.is(info.revision, 7);
  assert.equal(info.sensors, ['cpu-temp']);

  const reply = await g.serial.transact('rs485-1', new Uint8Array([1, 2, 3]), { timeoutMs: 200 });
  assert.instance(reply, Uint8Array);
  assert.equal([...reply], [3, 2, 1]);
  const port = await g.serial.open('rs485-1', { exclusive: true, baudRate: 9600 });
  await port.write(new Uint8Array([5]));
  assert.equal([...(await port.read({ timeoutMs: 100 }))], [5]);
  await port.close();

  await g.gpio.write('do-1', true);
  assert.is(await g.gpio.read('do-1'), 1);

  assert.equal(
    (await g.sensors.list()).map((s) => s.name),
    ['cpu-temp'],
  );
  assert.is((await g.sensors.read('cpu-temp')).value, 42.5);

  await g.telemetry.publish('energy', 12.5, { priority: 5 });
  await g.telemetry.publishSamples('energy', [{ value: 1, ts: 10 }, { value: 2 }], { ts: 20 });
  assert.equal(
    c.backends.telemetry.published.map((p) => [p.stream, p.samples, p.priority]),
    [
      ['energy', [{ value: 12.5, ts: c.backends.telemetry.published[0]?.samples[0]?.ts }], 5],
      [
        'energy',
        [
          { value: 1, ts: 10 },
          { value: 2, ts: 20 },
        ],
        undefined,
      ],
    ],
  );

  assert.equal(await g.config.get(), { config: { pollSec: 5, meters: [1, 2] }, revision: 7 });
  await g.health.heartbeat('degraded', 'meter 2 silent');
  assert.equal(c.backends.health.beats, [{ app: 'meter-reader', status: 'degraded', detail: 'meter 2 silent' }]);
});

test('refusals are typed errors', async (c) => {
  const g = await client(c);
  const denied = await rejection(g.gpio.write('di-1', 1));
  assert.instance(denied, DeniedError);
  assert.is((denied as DeniedError).code, 'denied');
  assert.match(denied.message, 'read-only access to GPIO line di-1');
  assert.instance(await rejection(g.serial.open('rs485-2')), DeniedError);
  const port = await g.serial.open('rs485-1', { exclusive: true });
  assert.instance(await rejection(port.read({ timeoutMs: 20 })), TimeoutError);
  await port.close();
  assert.instance(await rejection(port.close()), NotFoundError);
  assert.instance(await rejection(g.sensors.subscribe('cpu-temp', { intervalMs: 1 })), BadRequestError);
});

test('streams: gpio watch, sensor subscribe, config watch; break closes the subscription', async (c) => {
  const g = await client(c);
  const edges = await g.gpio.watch('di-1', { edge: 'both' });
  const readings = await g.sensors.subscribe('cpu-temp', { intervalMs: 100 });
  const configs = await g.config.watch<{ pollSec: number }>();
  c.backends.devices.fireEdge('di-1', 1);
  c.backends.devices.emitReading('cpu-temp', 60);
  const e = await withTimeout(edges.next(), 2_000, 'edge');
  assert.equal([e.value?.line, e.value?.value, e.value?.edge], ['di-1', 1, 'rising']);
  assert.is((await withTimeout(readings.next(), 2_000, 'reading')).value?.value, 60);
  assert.is((await withTimeout(configs.next(), 2_000, 'config')).value?.config.pollSec, 5);
  await c.server.update('meter-reader', meterReader({ revision: 8, config: { pollSec: 2 } }));
  assert.equal((await withTimeout(configs.next(), 2_000, 'new config')).value, { config: { pollSec: 2 }, revision: 8 });
  c.backends.devices.fireEdge('di-1', 0);
  for await (const edge of edges) {
    assert.is(edge.value, 0);
    break;
  }
  assert.ok(edges.ended);
  await waitFor(() => (c.backends.devices.watcherCount('di-1') === 0 ? true : undefined), {
    ms: 2_000,
    what: 'unwatch after break',
  });
  await readings.close();
  await waitFor(() => (c.backends.devices.sensorSubs.get('cpu-temp')?.size === 0 ? true : undefined), {
    ms: 2_000,
    what: 'unsubscribe after close',
  });
  await configs.close();
});

test('reconnect: streams are resubscribed, calls made meanwhile wait, serial handles fail clearly', async (c) => {
  const g = await client(c, { backoffMaxMs: 100 });
  const edges = await g.gpio.watch('di-1');
  const configs = await g.config.watch();
  await withTimeout(configs.next(), 2_000, 'first config');
  const port = await g.serial.open('rs485-1');

  await c.server.close('meter-reader');
  await waitFor(() => (g.connected ? undefined : true), { ms: 2_000, what: 'client sees the loss' });
  const during = g.info(); // waits for the reconnect
  await new Promise((r) => setTimeout(r, 150));
  await c.server.open(meterReader({ revision: 9, config: { pollSec: 9 } }));

  assert.is((await withTimeout(during, 5_000, 'call made during the outage')).revision, 9);
  await waitFor(() => (c.backends.devices.watcherCount('di-1') === 1 ? true : undefined), {
    ms: 5_000,
    what: 'gpio watch made again',
  });
  c.backends.devices.fireEdge('di-1', 1);
  assert.is((await withTimeout(edges.next(), 2_000, 'edge after reconnect')).value?.value, 1);
  assert.equal((await withTimeout(configs.next(), 2_000, 'config after reconnect')).value, {
    config: { pollSec: 9 },
    revision: 9,
  });
  const stale = await rejection(port.transact(new Uint8Array([1])));
  assert.instance(stale, ConnectionError);
  assert.match(stale.message, 'open the port again');
  const again = await g.serial.open('rs485-1');
  assert.equal([...(await again.transact(new Uint8Array([1, 2])))], [2, 1]);
});

test('without reconnect, a lost connection fails calls and ends streams with ConnectionError', async (c) => {
  const g = await client(c, { reconnect: false });
  const edges = await g.gpio.watch('di-1');
  const waiting = rejection(edges.next());
  await c.server.close('meter-reader');
  assert.instance(await waiting, ConnectionError);
  assert.instance(await rejection(g.info()), ConnectionError);
});

test('a request the agent does not answer in time is a TimeoutError', async (c) => {
  const g = await client(c, { requestTimeoutMs: 100 });
  c.backends.telemetry.hold();
  assert.instance(await rejection(g.telemetry.publish('s', 1)), TimeoutError);
  c.backends.telemetry.release();
  assert.ok(await g.info());
});

test('connect fails with ConnectionError when there is no socket; ProtocolError when hello is refused', async (c) => {
  const missing = await rejection(connect({ path: path.join(c.dir.path, 'none.sock'), reconnect: false }));
  assert.instance(missing, ConnectionError);
  const gone = await rejection(connect({ path: path.join(c.dir.path, 'none.sock'), connectTimeoutMs: 200 }));
  assert.instance(gone, ConnectionError);

  // An agent of another protocol version refuses hello.
  const other = path.join(c.dir.path, 'v2.sock');
  const server = net.createServer((s) => {
    const d = new FrameDecoder();
    s.on('data', (chunk: Buffer) =>
      d.push(chunk, (item) => {
        const { id } = item as { id: number };
        s.write(
          encodeFrame({ id, error: { code: 'bad-request', message: 'protocol 2 only', data: { protocol: [2] } } }),
        );
      }),
    );
  });
  await new Promise<void>((r) => server.listen(other, r));
  try {
    const refused = await rejection(connect({ path: other }));
    assert.instance(refused, ProtocolError);
    assert.equal((refused as ProtocolError).data, { protocol: [2] });
  } finally {
    server.close();
  }
});

test.run();
