import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { type DeploymentSink, DesiredIntake } from '../../../agent/src/cloud/intake.js';
import { invalid } from '../../../agent/src/errors.js';
import { testSigner } from '../../helpers/envelope.js';

const test = suite('cloud: desired-state intake');
const signer = testSigner('fleet-a');
const trusted = new Map([[signer.kid, signer.keys.publicKey]]);

/** A sink that records what it was given and behaves like deployment apply. */
function fakeSink(start?: number, behave?: (doc: { revision: number }) => Promise<void> | void) {
  const calls: unknown[] = [];
  let current = start;
  const sink: DeploymentSink = {
    currentRevision: () => current,
    async apply(doc) {
      calls.push(doc);
      const d = doc as { revision: number; apps?: unknown };
      if (d.apps === undefined) throw invalid('deployment document: /apps is required');
      await behave?.(d);
      current = d.revision;
      return { revision: d.revision, outcome: 'applied', reasons: [] };
    },
  };
  return { sink, calls };
}

function setup(start?: number, behave?: (doc: { revision: number }) => Promise<void> | void) {
  const { sink, calls } = fakeSink(start, behave);
  const events: Array<Record<string, unknown>> = [];
  let applied = 0;
  const intake = new DesiredIntake({
    sink,
    trustedKeys: trusted,
    emit: async (e) => {
      events.push({ ...e });
    },
    afterApply: () => {
      applied++;
    },
  });
  return { intake, calls, events, applied: () => applied };
}

const doc = (revision: number, extra: Record<string, unknown> = {}) => ({ revision, apps: {}, ...extra });

test('a valid envelope goes to the sink and the outcome is an event', async () => {
  const { intake, calls, events, applied } = setup(3);
  const r = await intake.handle(signer.sign(doc(4)));
  assert.equal(r, { kind: 'handled', revision: 4, outcome: 'applied' });
  assert.equal(calls, [doc(4)]);
  assert.is(applied(), 1);
  assert.is(events.length, 1);
  const e = events[0] as Record<string, unknown>;
  assert.is(e.type, 'deployment');
  assert.is(e.revision, 4);
  assert.is(e.outcome, 'applied');
  assert.is(e.kid, 'fleet-a');
  assert.type(e.at, 'string');
});

test('tampered, unknown-key and malformed envelopes are rejected and never reach the sink', async () => {
  const { intake, calls, events } = setup(3);
  const stranger = testSigner('not-trusted');
  const results = [
    await intake.handle(signer.tampered(doc(5))),
    await intake.handle(stranger.sign(doc(5))),
    await intake.handle(Buffer.from('not cbor at all')),
  ];
  assert.equal(
    results.map((r) => (r.kind === 'rejected' ? r.reason : r.kind)),
    ['bad-signature', 'unknown-key', 'malformed'],
  );
  assert.is(calls.length, 0);
  assert.equal(
    events.map((e) => [e.type, e.reason, e.kid]),
    [
      ['rejected', 'bad-signature', 'fleet-a'],
      ['rejected', 'unknown-key', 'not-trusted'],
      ['rejected', 'malformed', undefined],
    ],
  );
  for (const e of events) assert.type(e.detail, 'string');
});

test('an older revision is a replay; the current one re-delivered is a silent no-op', async () => {
  const { intake, calls, events } = setup(5);
  const same = await intake.handle(signer.sign(doc(5)));
  assert.is(same.kind, 'ignored');
  const old = await intake.handle(signer.sign(doc(4)));
  assert.equal(old.kind === 'rejected' && old.reason, 'replay');
  assert.is(calls.length, 0);
  assert.equal(
    events.map((e) => [e.type, e.reason, e.revision]),
    [['rejected', 'replay', 4]],
  );
});

test('a revision handed to the sink is not applied again on re-delivery, even if it failed', async () => {
  const { intake, calls } = setup(1, (d) => {
    if (d.revision === 2) throw new Error('image pull failed');
  });
  const first = await intake.handle(signer.sign(doc(2)));
  assert.equal(first, { kind: 'handled', revision: 2, outcome: 'failed' });
  const again = await intake.handle(signer.sign(doc(2)));
  assert.is(again.kind, 'ignored');
  assert.is(calls.length, 1);
  // same revision, different signed content: a replay, not a silent no-op
  const different = await intake.handle(signer.sign(doc(2, { description: 'other' })));
  assert.equal(different.kind === 'rejected' && different.reason, 'replay');
  // revision 1 (still current on the device) is now older than what was handled
  const back = await intake.handle(signer.sign(doc(1)));
  assert.equal(back.kind === 'rejected' && back.reason, 'replay');
  assert.is(calls.length, 1);
});

test('a document without an integer revision, or that apply finds invalid, is rejected as invalid', async () => {
  const { intake, calls, events } = setup(undefined);
  const noRev = await intake.handle(signer.sign({ apps: {} }));
  assert.equal(noRev.kind === 'rejected' && noRev.reason, 'invalid');
  const frac = await intake.handle(signer.sign({ revision: 1.5, apps: {} }));
  assert.equal(frac.kind === 'rejected' && frac.reason, 'invalid');
  const bad = await intake.handle(signer.sign({ revision: 1 }));
  assert.equal(bad.kind === 'rejected' && bad.reason, 'invalid');
  assert.is(calls.length, 1, 'apply is where the document is validated');
  assert.match(String((events[2] as Record<string, unknown>).detail), /apps is required/);
  assert.is((events[2] as Record<string, unknown>).revision, 1);
});

test('an empty retained message (the cloud clearing desired) is ignored', async () => {
  const { intake, events } = setup(1);
  assert.equal(await intake.handle(new Uint8Array()), { kind: 'ignored', why: 'retained desired cleared' });
  assert.is(events.length, 0);
});

test('documents reach the sink in arrival order; a newer one does not wait for the previous apply', async () => {
  const order: number[] = [];
  let release!: () => void;
  const gate = new Promise<void>((r) => {
    release = r;
  });
  const { intake } = setup(0, async (d) => {
    order.push(d.revision);
    if (d.revision === 1) await gate;
  });
  const a = intake.handle(signer.sign(doc(1)));
  const b = intake.handle(signer.sign(doc(2)));
  // Revision 1 is still applying (its health window, say): revision 2 is handed over anyway, to supersede it.
  await Promise.race([
    b,
    new Promise((_, reject) => setTimeout(() => reject(new Error('revision 2 waited for revision 1')), 2000)),
  ]);
  assert.equal(order, [1, 2]);
  release();
  await a;
});

test.run();
