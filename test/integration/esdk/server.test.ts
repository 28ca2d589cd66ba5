/**
 * The eSDK server over real unix sockets in a temp dir, with fake devices and
 * sink: what a client in a container sees, frame by frame.
 */
import { lstat, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { AppContext } from '../../../agent/src/esdk/backends.js';
import { EsdkServer, type EsdkServerOptions } from '../../../agent/src/esdk/server.js';
import { RawClient } from '../../helpers/esdk-client.js';
import { type FakeBackends, fakeBackends, meterReader } from '../../helpers/fake-devices.js';
import { waitFor, withTimeout } from '../../helpers/timeout.js';
import { type TempDir, tempDir } from '../../helpers/tmp.js';

interface Ctx {
  dir: TempDir;
  backends: FakeBackends;
  server: EsdkServer;
  clients: RawClient[];
}
const test = suite<Ctx>('esdk server over a unix socket');

const sockOf = (c: Ctx, app: string) => path.join(c.dir.path, 'apps', app, 'esdk.sock');

async function start(c: Ctx, opts: Partial<EsdkServerOptions> = {}, ...apps: AppContext[]): Promise<void> {
  c.server = new EsdkServer(c.backends, { socketPath: (app) => sockOf(c, app), ...opts });
  for (const a of apps.length ? apps : [meterReader()]) await c.server.open(a);
}

async function client(c: Ctx, app = 'meter-reader'): Promise<RawClient> {
  const cl = await RawClient.connect(sockOf(c, app));
  c.clients.push(cl);
  return cl;
}

test.before.each(async (c) => {
  c.dir = await tempDir('gantry-esdk-');
  c.backends = fakeBackends();
  c.clients = [];
});

test.after.each(async (c) => {
  for (const cl of c.clients) cl.socket.destroy();
  await withTimeout(c.server.closeAll(), 5_000, 'closeAll');
  await c.dir.cleanup();
});

test('socket file is 0666 in the app dir; hello and app.info answer', async (c) => {
  await start(c);
  const st = await lstat(sockOf(c, 'meter-reader'));
  assert.ok(st.isSocket());
  assert.is(st.mode & 0o777, 0o666);
  const cl = await client(c);
  assert.equal(await cl.ok('hello', { protocol: 1, client: 'raw/1' }), {
    protocol: 1,
    agent: '0.1.0-test',
    app: 'meter-reader',
  });
  const info = await cl.ok<{ app: string; devices: unknown[] }>('app.info');
  assert.is(info.app, 'meter-reader');
  assert.is(info.devices.length, 5);
});

test('the byte-level example of PROTOCOL.md gets its answer', async (c) => {
  await start(c);
  const cl = await client(c);
  // {"id": 1, "method": "app.info"} exactly as the spec shows it.
  cl.socket.write(Buffer.from('00000015a262696401666d6574686f64686170702e696e666f', 'hex'));
  const r = await cl.next((f) => f.id === 1);
  assert.is((r.result as { app: string }).app, 'meter-reader');
});

test('a stale socket is replaced; a non-socket at the path is left alone and refused', async (c) => {
  await start(c);
  await c.server.closeAll();
  // A socket file left behind by a killed agent:
  await start(c);
  const cl = await client(c);
  assert.ok(await cl.ok('app.info'));
  const other = meterReader({ app: 'squatter' });
  await mkdir(path.dirname(sockOf(c, 'squatter')), { recursive: true });
  await writeFile(sockOf(c, 'squatter'), 'not a socket');
  try {
    await c.server.open(other);
    assert.unreachable();
  } catch (e) {
    assert.match((e as Error).message, 'is not a socket');
  }
});

test('denied calls answer denied and reach no device', async (c) => {
  await start(c);
  const cl = await client(c);
  const r = await cl.request('serial.transact', { port: 'rs232-1', data: new Uint8Array([1]) });
  assert.equal((r.error as { code: string }).code, 'denied');
  assert.match((r.error as { message: string }).message, 'rs232-1');
  assert.match((r.error as { message: string }).message, 'meter-reader');
  const g = await cl.request('gpio.write', { line: 'do-9', value: 1 });
  assert.equal((g.error as { code: string }).code, 'denied');
  assert.equal(c.backends.devices.calls, []);
});

test('gpio.watch: the response comes first, then pushed edge events', async (c) => {
  await start(c);
  const cl = await client(c);
  cl.send({ id: 5, method: 'gpio.watch', params: { line: 'di-1', edge: 'both' } });
  await waitFor(() => (c.backends.devices.watcherCount('di-1') === 1 ? true : undefined), { ms: 2_000, what: 'watch' });
  c.backends.devices.fireEdge('di-1', 1);
  c.backends.devices.fireEdge('di-1', 0);
  await waitFor(() => (cl.frames.length >= 3 ? true : undefined), { ms: 2_000, what: 'three frames' });
  const [resp, e1, e2] = cl.frames as Array<{
    id?: number;
    result?: { sub: number };
    sub?: number;
    event?: { value: number };
  }>;
  const sub = resp?.result?.sub;
  assert.is(resp?.id, 5);
  assert.equal(
    [e1, e2].map((e) => [e?.sub, e?.event?.value]),
    [
      [sub, 1],
      [sub, 0],
    ],
  );
});

test('sensor.subscribe pushes readings; unsubscribe stops them', async (c) => {
  await start(c);
  const cl = await client(c);
  const { sub } = await cl.ok<{ sub: number }>('sensor.subscribe', { name: 'cpu-temp', intervalMs: 50 });
  c.backends.devices.emitReading('cpu-temp', 51.5);
  const ev = await cl.next((f) => f.sub === sub);
  assert.equal((ev.event as { value: number }).value, 51.5);
  await cl.ok('unsubscribe', { sub });
  assert.is(c.backends.devices.sensorSubs.get('cpu-temp')?.size, 0);
});

test('config.watch gets the new config after update(); a dropped grant ends its watch', async (c) => {
  await start(c);
  const cl = await client(c);
  const { sub } = await cl.ok<{ sub: number }>('config.watch');
  const w = await cl.ok<{ sub: number }>('gpio.watch', { line: 'di-1' });
  const first = await cl.next((f) => f.sub === sub);
  assert.equal(first.event, { config: { pollSec: 5, meters: [1, 2] }, revision: 7 });
  await c.server.update('meter-reader', meterReader({ revision: 8, config: { pollSec: 1 }, grants: [] }));
  const second = await cl.next((f) => f.sub === sub);
  assert.equal(second.event, { config: { pollSec: 1 }, revision: 8 });
  const end = await cl.next((f) => f.sub === w.sub);
  assert.is((end.end as { code: string }).code, 'denied');
  assert.equal((await cl.ok('app.info')).revision, 8);
});

test('telemetry.publish is answered only after the sink resolves', async (c) => {
  await start(c);
  const cl = await client(c);
  c.backends.telemetry.hold();
  cl.send({ id: 1, method: 'telemetry.publish', params: { stream: 'energy', value: 3.25 } });
  // The info request after it is answered while the publish waits: requests are served concurrently.
  assert.ok(await cl.ok('app.info'));
  assert.not.ok(
    cl.frames.some((f) => f.id === 1),
    'no answer to the publish yet',
  );
  assert.equal(c.backends.telemetry.published, []);
  c.backends.telemetry.release();
  const r = await cl.next((f) => f.id === 1);
  assert.equal(r.result, {});
  assert.is(c.backends.telemetry.published.length, 1);
});

test('a malformed frame closes only its connection, after an error frame', async (c) => {
  await start(c);
  const bad = await client(c);
  const good = await client(c);
  bad.socket.write(Buffer.from('00000002ffff', 'hex'));
  const err = await bad.next((f) => f.id === null);
  assert.is((err.error as { code: string }).code, 'bad-request');
  await withTimeout(bad.closed, 3_000, 'the bad connection closes');
  assert.ok(await good.ok('app.info'));
});

test('an oversized frame is refused from its length alone and closes the connection', async (c) => {
  await start(c, { maxFrameBytes: 4096 });
  const cl = await client(c);
  const prefix = Buffer.alloc(4);
  prefix.writeUInt32BE(1 << 30);
  cl.socket.write(prefix);
  const err = await cl.next((f) => f.id === null);
  assert.is((err.error as { code: string }).code, 'too-large');
  await withTimeout(cl.closed, 3_000, 'closed');
});

test('a frame begun and never finished closes its connection after the deadline', async (c) => {
  await start(c, { frameDeadlineMs: 200 });
  const cl = await client(c);
  const good = await client(c);
  const prefix = Buffer.alloc(4);
  prefix.writeUInt32BE(1000);
  cl.socket.write(Buffer.concat([prefix, Buffer.alloc(10)]));
  const err = await cl.next((f) => f.id === null);
  assert.match((err.error as { message: string }).message, /not completed within 200 ms/);
  await withTimeout(cl.closed, 3_000, 'closed');
  assert.ok(await good.ok('app.info'));
});

test('an app holds a bounded number of connections; the rest are refused', async (c) => {
  await start(c, { maxConnectionsPerApp: 3 });
  const held = [await client(c), await client(c), await client(c)];
  const extra = await client(c);
  await withTimeout(extra.closed, 3_000, 'the fourth connection is closed');
  for (const h of held) assert.ok(await h.ok('app.info'));
});

test('a response over the frame limit becomes a too-large error; the connection lives on', async (c) => {
  await start(c, { maxFrameBytes: 4096 }, meterReader({ config: { blob: 'x'.repeat(10_000) } }));
  const cl = await client(c);
  const r = await cl.request('config.get');
  assert.is((r.error as { code: string }).code, 'too-large');
  assert.ok(await cl.ok('app.info'));
});

test('closing a connection releases its serial sessions and watches', async (c) => {
  await start(c);
  const cl = await client(c);
  await cl.ok('serial.open', { port: 'rs485-1' });
  await cl.ok('gpio.watch', { line: 'di-1' });
  assert.is(c.backends.devices.openSessions.size, 1);
  await cl.close();
  await waitFor(
    () =>
      c.backends.devices.openSessions.size === 0 && c.backends.devices.watcherCount('di-1') === 0 ? true : undefined,
    { ms: 2_000, what: 'release on close' },
  );
  assert.equal(c.server.stats('meter-reader'), { connections: 0, droppedEvents: 0 });
});

test('close(app) closes its connections, removes the socket and releases the app', async (c) => {
  await start(c);
  const cl = await client(c);
  await cl.ok('app.info');
  await c.server.close('meter-reader');
  await withTimeout(cl.closed, 2_000, 'client closed');
  await lstat(sockOf(c, 'meter-reader')).then(
    () => assert.unreachable('socket removed'),
    () => {},
  );
  assert.equal(c.backends.devices.calls.at(-1), { op: 'release', args: ['meter-reader'] });
  assert.equal(c.server.openApps(), []);
});

test('apps are apart: each socket is its app', async (c) => {
  await start(
    c,
    {},
    meterReader(),
    meterReader({ app: 'other', grants: [{ device: 'do-9', access: 'rw', mode: 'broker' }], sensors: [] }),
  );
  const a = await client(c, 'meter-reader');
  const b = await client(c, 'other');
  assert.is((await a.ok<{ app: string }>('app.info')).app, 'meter-reader');
  assert.is((await b.ok<{ app: string }>('app.info')).app, 'other');
  const r = await b.request('gpio.read', { line: 'di-1' });
  assert.is((r.error as { code: string; message: string }).code, 'denied');
  assert.match((r.error as { message: string }).message, 'app other');
});

test('a slow reader: events are dropped and counted, reading pauses, nothing is lost of the responses', async (c) => {
  await start(c, { highWaterBytes: 4096 });
  const cl = await client(c);
  const { sub } = await cl.ok<{ sub: number }>('sensor.subscribe', { name: 'cpu-temp', intervalMs: 50 });
  cl.socket.pause(); // the client stops reading
  for (let i = 0; i < 20_000; i++) c.backends.devices.emitReading('cpu-temp', i);
  const stats = c.server.stats('meter-reader');
  assert.ok((stats?.droppedEvents ?? 0) > 10_000, `dropped ${stats?.droppedEvents}`);
  // Requests keep coming while the client does not read: the server stops reading them.
  const n = 30_000;
  const burst = Buffer.concat(
    Array.from({ length: n }, (_, i) => Buffer.from(encodeRequest(1000 + i, 'health.heartbeat'))),
  );
  cl.socket.write(burst);
  await new Promise((r) => setTimeout(r, 300));
  assert.ok(cl.socket.writableLength > 0, 'the server is not reading: the client cannot flush its requests');
  assert.ok(c.backends.health.beats.length < n / 2, `served ${c.backends.health.beats.length} of ${n} while unread`);
  cl.socket.resume();
  await waitFor(() => (cl.frames.filter((f) => typeof f.id === 'number').length >= n ? true : undefined), {
    ms: 20_000,
    what: 'every response',
  });
  assert.is(c.backends.health.beats.length, n);
  // The next delivered event says how many were lost before it.
  c.backends.devices.emitReading('cpu-temp', -1);
  const ev = await cl.next((f) => f.sub === sub && (f.event as { value: number }).value === -1);
  assert.is(ev.dropped, stats?.droppedEvents);
});

function encodeRequest(id: number, method: string): Uint8Array {
  // A fixed small frame: {id, method} without the codec, as a C client would write it.
  const m = Buffer.from(method);
  const body = Buffer.concat([
    Buffer.from([0xa2, 0x62, 0x69, 0x64, 0x1a]),
    Buffer.from([(id >>> 24) & 255, (id >>> 16) & 255, (id >>> 8) & 255, id & 255]),
    Buffer.from([0x66, ...Buffer.from('method'), 0x60 + m.length]),
    m,
  ]);
  const out = Buffer.alloc(4 + body.length);
  out.writeUInt32BE(body.length);
  body.copy(out, 4);
  return out;
}

test.run();
