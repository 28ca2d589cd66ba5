/**
 * Hostile frames over real sockets (the in-process fuzzer does the volume):
 * 4,000 random, mutated and junk frames on many connections of one app, while
 * another app's SDK client keeps calling. The server must answer only with
 * well-formed frames, touch only granted devices, release everything, and the
 * other app must never notice.
 */
import path from 'node:path';
import fc from 'fast-check';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { encodeFrame, isUint } from '../../../agent/src/esdk/frame.js';
import { EsdkServer } from '../../../agent/src/esdk/server.js';
import { connect } from '../../../sdk/src/index.js';
import { RawClient } from '../../helpers/esdk-client.js';
import { junkFrameArb, mutatedFrameArb, requestArb, ungrantedCalls } from '../../helpers/esdk-fuzz.js';
import { fakeBackends, meterReader } from '../../helpers/fake-devices.js';
import { waitFor, withTimeout } from '../../helpers/timeout.js';
import { tempDir } from '../../helpers/tmp.js';

const test = suite('esdk fuzz over sockets');
const SEED = Number(process.env.FUZZ_SEED ?? 424_242);

test('4,000 hostile frames on one app; the other app keeps working', async () => {
  const dir = await tempDir('gantry-esdk-fuzz-');
  const backends = fakeBackends();
  const server = new EsdkServer(backends, {
    socketPath: (app) => path.join(dir.path, app, 'esdk.sock'),
    maxFrameBytes: 64 * 1024,
  });
  const target = meterReader();
  await server.open(target);
  await server.open(meterReader({ app: 'bystander', grants: [], sensors: [] }));
  const bystander = await connect({ path: path.join(dir.path, 'bystander', 'esdk.sock'), reconnect: false });
  let answered = 0;
  let failures = 0;
  let stop = false;
  const loop = (async () => {
    while (!stop) {
      try {
        if ((await bystander.info()).app === 'bystander') answered++;
      } catch {
        failures++;
      }
    }
  })();
  try {
    // Well-formed CBOR on long connections (100 each); broken frames on short ones (4 each), since the
    // first broken frame closes its connection.
    // Requests without a usable id are as fatal as broken frames: they go on short connections too.
    const all = fc.sample(requestArb, { numRuns: 2_000, seed: SEED });
    const answerable = (r: unknown) => isUint((r as { id?: unknown } | null)?.id);
    const requests = all.filter(answerable).map((r) => encodeFrame(r));
    const broken = [
      ...all.filter((r) => !answerable(r)).map((r) => encodeFrame(r)),
      ...fc.sample(fc.oneof(mutatedFrameArb, junkFrameArb), { numRuns: 2_000, seed: SEED + 1 }),
    ];
    const groups: Buffer[][] = [];
    for (let i = 0; i < requests.length; i += 100) groups.push(requests.slice(i, i + 100));
    for (let i = 0; i < broken.length; i += 4) groups.push(broken.slice(i, i + 4));
    let answersSeen = 0;
    for (const [g, mine] of groups.entries()) {
      const before = answered;
      const cl = await RawClient.connect(path.join(dir.path, 'meter-reader', 'esdk.sock'));
      for (const bytes of mine) cl.socket.write(bytes);
      // Half-close: the server finishes what it can decode and closes.
      cl.socket.end();
      await withTimeout(cl.closed, 5_000, `group ${g} connection closes`);
      answersSeen += cl.frames.length;
      for (const f of cl.frames) assert.ok('id' in f || 'sub' in f, 'every frame is a response or an event');
      if (g % 10 === 0)
        await waitFor(() => (answered > before ? true : undefined), {
          ms: 2_000,
          what: `bystander answered (group ${g})`,
        });
    }
    assert.ok(answersSeen > 2_000, `the server answered ${answersSeen} frames`);
    assert.equal(ungrantedCalls(backends.devices.calls, target), []);
    await waitFor(() => (server.stats('meter-reader')?.connections === 0 ? true : undefined), {
      ms: 2_000,
      what: 'all fuzz connections gone',
    });
    assert.is(backends.devices.openSessions.size, 0, 'every serial session released');
    const fresh = await RawClient.connect(path.join(dir.path, 'meter-reader', 'esdk.sock'));
    assert.is((await fresh.ok<{ app: string }>('app.info')).app, 'meter-reader');
    await fresh.close();
    assert.is(failures, 0, 'the bystander never saw an error');
  } finally {
    stop = true;
    await loop;
    await bystander.close();
    await withTimeout(server.closeAll(), 5_000, 'closeAll');
    await dir.cleanup();
  }
});

test.run();
