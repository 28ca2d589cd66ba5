/**
 * The decoder and the dispatcher against 120,000 random and mutated frames,
 * in-process (the socket variant is in test/integration/esdk). Whatever comes
 * in: the decoder throws only EsdkError, dispatch never rejects, every answer
 * is a well-formed frame with a listed error code, and the devices see only
 * calls the grants allow.
 */
import fc from 'fast-check';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ERROR_CODES, EsdkError, encodeFrame, FrameDecoder } from '../../../agent/src/esdk/frame.js';
import { type SessionHarness, sessionHarness } from '../../helpers/esdk.js';
import { junkFrameArb, mutatedFrameArb, requestArb, ungrantedCalls } from '../../helpers/esdk-fuzz.js';

const test = suite('esdk fuzz (in-process)');
const SEED = Number(process.env.FUZZ_SEED ?? 20_240_601);
const BATCH = 2_000;

async function feed(h: SessionHarness, bytes: Buffer, what: string): Promise<void> {
  const decoder = new FrameDecoder(4096);
  const items: unknown[] = [];
  try {
    decoder.push(bytes, (item) => items.push(item));
  } catch (e) {
    if (!(e instanceof EsdkError)) throw new Error(`${what}: the decoder threw a non-protocol error: ${e}`);
  }
  for (const item of items) await h.session.handle(item);
}

function checkAnswers(h: SessionHarness, what: string): void {
  for (const r of h.responses) {
    if ('error' in r) {
      assert.ok((ERROR_CODES as readonly string[]).includes(r.error.code), `${what}: code ${r.error.code}`);
      assert.type(r.error.message, 'string');
    }
    encodeFrame(r); // every answer can go on the wire
  }
  for (const e of h.fatals) assert.ok((ERROR_CODES as readonly string[]).includes(e.code));
  for (const e of h.events) encodeFrame(e);
  const bad = ungrantedCalls(h.backends.devices.calls, h.app.ctx);
  assert.equal(bad, [], `${what}: devices saw ungranted calls`);
}

async function run(name: string, arb: fc.Arbitrary<Buffer>, total: number): Promise<void> {
  let done = 0;
  for (let batch = 0; done < total; batch++) {
    const inputs = fc.sample(arb, { numRuns: BATCH, seed: SEED + batch * 7919 + name.length });
    // One session per batch: state (handles, subscriptions) builds up as it would on a long connection.
    const h = sessionHarness();
    for (const [i, bytes] of inputs.entries()) {
      await feed(h, bytes, `${name} batch ${batch} #${i}`);
      if (i % 25 === 0) {
        // Events for whatever watches are open; part of the time the client is "slow" and they drop.
        h.accepting = i % 200 < 150;
        h.backends.devices.fireEdge('di-1', (i / 25) % 2 ? 1 : 0);
        h.backends.devices.emitReading('cpu-temp', i);
      }
    }
    checkAnswers(h, `${name} batch ${batch}`);
    await h.session.close();
    assert.equal(h.session.holdings(), { handles: 0, portSessions: 0, subscriptions: 0 });
    assert.is(h.backends.devices.openSessions.size, 0, 'every serial session closed');
    done += inputs.length;
  }
}

test('60,000 structured requests (real and bogus methods, hostile params)', async () => {
  await run(
    'requests',
    requestArb.map((r) => encodeFrame(r)),
    60_000,
  );
});

test('40,000 mutated frames', async () => {
  await run('mutated', mutatedFrameArb, 40_000);
});

test('20,000 junk byte strings', async () => {
  await run('junk', junkFrameArb, 20_000);
});

test.run();
