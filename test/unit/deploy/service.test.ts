import path from 'node:path';
import pino from 'pino';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Planner } from '../../../agent/src/deploy/apply.js';
import { checkDeployment } from '../../../agent/src/deploy/document.js';
import { plan } from '../../../agent/src/deploy/planner.js';
import { type ApplyResult, type DeployEvent, DeployService } from '../../../agent/src/deploy/service.js';
import { DeploymentStore } from '../../../agent/src/deploy/store.js';
import type { DeployedApp, DeploymentDocument } from '../../../agent/src/deploy/types.js';
import { isGantryError } from '../../../agent/src/errors.js';
import { type Db, openDatabase } from '../../../agent/src/state/database.js';
import { FakeClock, FakePorts } from '../../helpers/deploy-ports.js';
import { withTimeout } from '../../helpers/timeout.js';
import { type TempDir, tempDir } from '../../helpers/tmp.js';
import { DIGEST_A, DIGEST_B, ecIot } from './fixtures.js';

const profile = ecIot();
const IMG_A = 'reg.local/a:1';
const IMG_B = 'reg.local/b:1';
const IMG_C = 'reg.local/c:1';
const REGISTRY = new Map([
  [IMG_A, DIGEST_A],
  [IMG_B, DIGEST_B],
  [IMG_C, `sha256:${'c'.repeat(64)}`],
]);
const planner: Planner = (doc, current, images) => plan(doc, current, images, profile);

interface Ctx {
  dir: TempDir;
  db: Db;
  store: DeploymentStore;
  clock: FakeClock;
  /** The runtime: it outlives any one DeployService, as containers outlive the agent. */
  ports: FakePorts;
  service: DeployService;
}

const test = suite<Ctx>('deploy: DeployService (fake runtime, real SQLite)');

/** A service as the agent builds one, over the context's store and runtime (a restarted agent gets a new one). */
function newService(ctx: Ctx): DeployService {
  return new DeployService({
    store: ctx.store,
    ports: ctx.ports,
    plan: planner,
    validate: (input) =>
      checkDeployment('text' in input ? input.text : JSON.stringify(input.value, null, 2), input.source, profile),
    setAppRevision: ctx.ports.setAppRevision,
    log: pino({ level: 'silent' }),
    clock: ctx.clock,
    stableMs: 1_000,
  });
}

test.before.each(async (ctx) => {
  ctx.dir = await tempDir('gantry-deploy-service-');
  ctx.db = openDatabase(path.join(ctx.dir.path, 'state.db'));
  ctx.store = new DeploymentStore(ctx.db);
  ctx.clock = new FakeClock();
  ctx.ports = new FakePorts(REGISTRY, profile, ctx.clock, [[IMG_A, DIGEST_A]]);
  ctx.service = newService(ctx);
});

test.after.each(async (ctx) => {
  await ctx.service.close();
  ctx.db.close();
  await ctx.dir.cleanup();
});

const input = (d: DeploymentDocument) => ({ value: d, source: `rev-${d.revision}.json` });
const rollout = { healthyWithinSec: 10 };
const web: DeployedApp = { image: IMG_A };
const worker: DeployedApp = { image: IMG_A, dependsOn: ['web'] };
const v1: DeploymentDocument = { revision: 1, apps: { web, worker }, rollout };
/** web gets a new image; worker only new config (kept, not recreated). */
const v2: DeploymentDocument = {
  revision: 2,
  apps: { web: { image: IMG_B }, worker: { ...worker, config: { level: 2 } } },
  rollout,
};

/** A submit, bounded in time: a hang is a failure, not a stuck test run. */
const submit = (s: DeployService, d: DeploymentDocument, onEvent?: (e: DeployEvent) => void) =>
  withTimeout(s.submit(input(d), 'cli', onEvent), 5_000, `revision ${d.revision}`);

const applied = (revision: number): ApplyResult => ({ revision, outcome: 'applied', reasons: [] });

/** The runtime as revision 1 leaves it. */
const V1_RUNNING = [`web web@1 running ${IMG_A}`, `worker worker@1 running ${IMG_A}`];

function refusal(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a refusal');
}

test('v1 then v2: applied; a kept app moves to the new revision without being recreated', async (ctx) => {
  assert.equal(await submit(ctx.service, v1), applied(1));
  assert.equal(ctx.ports.snapshot(), V1_RUNNING);
  ctx.ports.calls.length = 0;
  assert.equal(await submit(ctx.service, v2), applied(2));
  assert.equal(ctx.ports.snapshot(), [`web web@2 running ${IMG_B}`, `worker worker@2 running ${IMG_A}`]);
  assert.not.ok(
    ctx.ports.calls.some((c) => c.endsWith(' worker')),
    `worker untouched: ${ctx.ports.calls.join(', ')}`,
  );
  assert.equal(ctx.store.state(), { targetRevision: 2, lastGoodRevision: 2 });
  assert.equal(ctx.service.status(), { targetRevision: 2, lastGoodRevision: 2, applying: false });
  assert.equal(ctx.service.pinnedImages().sort(), [IMG_A, IMG_B]);
});

test('v2 failing its health gate is rolled back to v1, with the reasons; the device runs revision 1', async (ctx) => {
  await submit(ctx.service, v1);
  ctx.ports.behave(IMG_B, { exit: { code: 4, afterMs: 700 } });
  const r = await submit(ctx.service, v2);
  assert.equal(r, { revision: 2, outcome: 'rolled-back', reasons: ['web exited with code 4'], runningRevision: 1 });
  assert.equal(ctx.ports.snapshot(), V1_RUNNING);
  const rec = ctx.store.get(2);
  assert.is(rec?.status, 'rolled-back');
  assert.equal(rec?.reasons, ['web exited with code 4']);
  assert.equal(ctx.store.state(), { targetRevision: 1, lastGoodRevision: 1 });
  assert.is(ctx.service.highestRevision(), 2);
});

test('an unhealthy app rolls the revision back too', async (ctx) => {
  await submit(ctx.service, v1);
  ctx.ports.behave(IMG_B, { healthyAfterMs: Infinity, unhealthy: { afterMs: 2_000 } });
  const r = await submit(ctx.service, {
    ...v2,
    apps: { ...v2.apps, web: { image: IMG_B, healthCheck: { command: ['true'] } } },
  });
  assert.is(r.outcome, 'rolled-back');
  assert.equal(r.reasons, ['web is unhealthy (its health check failed)']);
  assert.equal(ctx.ports.snapshot(), V1_RUNNING);
});

test('a first deploy that fails is rolled back to no apps at all (revision 0)', async (ctx) => {
  ctx.ports.behave(IMG_A, { exit: { code: 1 } });
  const r = await submit(ctx.service, v1);
  assert.is(r.outcome, 'rolled-back');
  assert.is(r.runningRevision, 0);
  assert.equal(r.reasons, ['web exited with code 1 right after it started']);
  assert.equal(ctx.ports.snapshot(), []);
  assert.equal(ctx.store.state(), {});
  assert.is(ctx.store.get(1)?.status, 'rolled-back');
  // Revision 1 was accepted once: it is not accepted again; 2 is.
  assert.ok(
    isGantryError(
      refusal(() => ctx.service.check(input(v1))),
      'failed-precondition',
    ),
  );
  ctx.ports.behave(IMG_A, {});
  assert.equal(await submit(ctx.service, { ...v1, revision: 2 }), applied(2));
});

test('rollbackOnFailure false: failed, left as it is for the operator', async (ctx) => {
  await submit(ctx.service, v1);
  ctx.ports.behave(IMG_B, { exit: { code: 4, afterMs: 700 } });
  const r = await submit(ctx.service, { ...v2, rollout: { ...rollout, rollbackOnFailure: false } });
  assert.equal(r, { revision: 2, outcome: 'failed', reasons: ['web exited with code 4'] });
  assert.equal(ctx.ports.snapshot(), [`web web@2 stopped ${IMG_B}`, `worker worker@1 running ${IMG_A}`]);
  assert.is(ctx.store.get(2)?.status, 'failed');
  assert.equal(ctx.store.state(), { targetRevision: 2, lastGoodRevision: 1 });
  assert.equal(await ctx.service.resume(), undefined, 'nothing to resume: the revision is finished');
});

test('a failed pull: failed, "nothing was changed", the last good revision is the target again', async (ctx) => {
  await submit(ctx.service, v1);
  ctx.ports.calls.length = 0;
  ctx.ports.failPull(IMG_B, 'manifest unknown');
  const r = await submit(ctx.service, v2);
  assert.is(r.outcome, 'failed');
  assert.equal(r.reasons, [
    `pull ${IMG_B} for web failed: manifest unknown`,
    'nothing was changed: pulls run before any app is stopped',
  ]);
  assert.equal(ctx.ports.calls, [`pull ${IMG_B}`]);
  assert.equal(ctx.ports.snapshot(), V1_RUNNING);
  assert.equal(ctx.store.state(), { targetRevision: 1, lastGoodRevision: 1 });
  assert.is(ctx.store.get(2)?.status, 'failed');
  assert.equal(ctx.service.pinnedImages(), [IMG_A]);
});

test('a replayed or older revision is refused, by check() and submit(), and nothing is stored', async (ctx) => {
  await submit(ctx.service, v1);
  await submit(ctx.service, { ...v1, revision: 5 });
  for (const rev of [5, 4, 1]) {
    const e = refusal(() => ctx.service.submit(input({ ...v1, revision: rev }), 'cloud'));
    assert.ok(isGantryError(e, 'failed-precondition'), String(e));
    assert.match(e.message, `revision ${rev} is not newer than revision 5`);
    assert.throws(() => ctx.service.check(input({ ...v1, revision: rev })), /not newer/);
  }
  assert.equal(
    ctx.service.list().map((d) => d.revision),
    [5, 1],
  );
});

test('an invalid document is refused with the validator’s error and never stored', (ctx) => {
  const e = refusal(() => ctx.service.submit({ value: { revision: 1, apps: { web: {} } }, source: 'bad.json' }, 'cli'));
  assert.ok(isGantryError(e, 'invalid'), String(e));
  assert.match(e.message, /bad\.json/);
  assert.equal(ctx.service.list(), []);
});

test('dryRun: the plan against what runs now, and nothing done', async (ctx) => {
  await submit(ctx.service, v1);
  ctx.ports.calls.length = 0;
  const { revision, steps } = await ctx.service.dryRun(input(v2));
  assert.is(revision, 2);
  assert.equal(
    steps.map((s) => `${s.kind} ${'container' in s ? s.container : s.image}`),
    // The plan's start after a create is the planner's; the runtime's create already starts the container.
    [`pull ${IMG_B}`, 'stop web', 'remove web', 'create web', 'start web', 'keep worker'],
  );
  assert.equal(ctx.ports.calls, []);
  assert.is(ctx.service.highestRevision(), 1, 'a dry run is not accepted');
});

test('a newer submit while one is in a slow pull: the first is superseded, the second applied', async (ctx) => {
  await submit(ctx.service, v1);
  ctx.ports.calls.length = 0;
  const held = ctx.ports.holdPull(IMG_B);
  const first = submit(ctx.service, v2);
  await withTimeout(held.reached, 5_000, 'the pull of revision 2');
  assert.equal(ctx.service.status(), { targetRevision: 2, lastGoodRevision: 1, applying: true });
  const v3: DeploymentDocument = { revision: 3, apps: { web: { image: IMG_C }, worker }, rollout };
  const second = submit(ctx.service, v3);
  assert.equal(await first, { revision: 2, outcome: 'superseded', reasons: ['a newer revision took over'] });
  assert.equal(await second, applied(3));
  assert.equal(ctx.ports.snapshot(), [`web web@3 running ${IMG_C}`, `worker worker@3 running ${IMG_A}`]);
  assert.equal(ctx.ports.calls, [`pull ${IMG_B}`, `pull ${IMG_C}`, 'stop web', 'remove web', 'create web']);
  assert.equal(
    ctx.service.list().map((d) => `${d.revision} ${d.status}`),
    ['3 applied', '2 superseded', '1 applied'],
  );
});

test('a newer submit during the health gate: superseded, no rollback, the newer one applied', async (ctx) => {
  await submit(ctx.service, v1);
  ctx.ports.behave(IMG_B, { healthyAfterMs: Infinity });
  const v2Checked = { ...v2, apps: { ...v2.apps, web: { image: IMG_B, healthCheck: { command: ['true'] } } } };
  let second: Promise<ApplyResult> | undefined;
  const events: DeployEvent[] = [];
  const first = submit(ctx.service, v2Checked, (e) => {
    events.push(e);
    if (e.type === 'health' && e.state === 'waiting' && !second)
      second = submit(ctx.service, { revision: 3, apps: { web, worker }, rollout });
  });
  assert.is((await first).outcome, 'superseded');
  assert.ok(second);
  assert.equal(await second, applied(3));
  assert.not.ok(events.some((e) => e.type === 'phase' && e.phase === 'rolling-back'));
  assert.equal(ctx.ports.snapshot(), [`web web@3 running ${IMG_A}`, `worker worker@3 running ${IMG_A}`]);
});

/** v1 → v2 with several kinds of step: a changed image, an app removed, an app added, a start-then-stop switch. */
const bigV1: DeploymentDocument = {
  revision: 1,
  apps: { web, worker, old: { image: IMG_A }, api: { image: IMG_A, update: 'start-then-stop' } },
  rollout,
};
const bigV2: DeploymentDocument = {
  revision: 2,
  apps: {
    web: { image: IMG_B },
    worker: { ...worker, env: { LEVEL: '2' } },
    api: { image: IMG_B, update: 'start-then-stop' },
    extra: { image: IMG_B },
  },
  rollout,
};

test('resume() after a crash at every step of an apply converges to the revision', async (ctx) => {
  // The reference: v2 applied without a crash, on its own runtime.
  await submit(ctx.service, bigV1);
  await submit(ctx.service, bigV2);
  const want = ctx.ports.snapshot();
  const steps = ctx.ports.calls.length - 4; // the v1 creates before
  assert.ok(steps >= 8, `a plan with enough steps to cut (${steps})`);

  for (let cut = 1; cut < steps; cut++) {
    const clock = new FakeClock();
    const round: Ctx = { ...ctx, clock, ports: new FakePorts(REGISTRY, profile, clock, [[IMG_A, DIGEST_A]]) };
    const db = openDatabase(path.join(ctx.dir.path, `crash-${cut}.db`));
    round.store = new DeploymentStore(db);
    try {
      const before = newService(round);
      await submit(before, bigV1);
      let done = 0;
      // close() is the agent dying between two steps: the store still says "applying", the containers stay.
      const crashed = await submit(before, bigV2, (e) => {
        if (e.type === 'step' && e.state === 'done' && ++done === cut) void before.close();
      });
      assert.is(crashed.outcome, 'superseded', `cut ${cut}`);
      assert.is(round.store.get(2)?.status, 'applying', `cut ${cut}: still applying in the store`);
      assert.is(round.ports.calls.length, 4 + cut, `cut ${cut}: stopped right after step ${cut}`);

      const after = newService(round);
      assert.equal(
        await withTimeout(
          after.resume().then((r) => r),
          5_000,
          'resume',
        ),
        applied(2),
        `cut ${cut}`,
      );
      assert.equal(round.ports.snapshot(), want, `cut ${cut}: the runtime is revision 2's`);
      assert.equal(round.store.state(), { targetRevision: 2, lastGoodRevision: 2 });
      await after.close();
    } finally {
      db.close();
    }
  }
});

test('resume() during a rollback finishes the rollback', async (ctx) => {
  await submit(ctx.service, bigV1);
  const v1Running = ctx.ports.snapshot();
  ctx.ports.behave(IMG_B, { exit: { code: 2, afterMs: 300 } });
  let rollingBack = false;
  const crashed = await submit(ctx.service, bigV2, (e) => {
    if (e.type === 'phase' && e.phase === 'rolling-back') rollingBack = true;
    else if (rollingBack && e.type === 'step' && e.state === 'done') void ctx.service.close();
  });
  assert.is(crashed.outcome, 'superseded');
  assert.equal(ctx.store.state(), { targetRevision: 1, rollingBackFrom: 2, lastGoodRevision: 1 });
  assert.not.equal(ctx.ports.snapshot(), v1Running, 'the rollback was cut half-way');
  assert.equal(ctx.service.status().applying, true);

  ctx.service = newService(ctx);
  const r = await withTimeout(
    ctx.service.resume().then((x) => x),
    5_000,
    'resume',
  );
  assert.is(r?.outcome, 'rolled-back');
  assert.is(r?.runningRevision, 1);
  assert.is(r?.revision, 2);
  assert.match(r?.reasons.join('\n') ?? '', /exited with code 2/);
  assert.equal(ctx.ports.snapshot(), v1Running);
  assert.equal(ctx.store.state(), { targetRevision: 1, lastGoodRevision: 1 });
  assert.is(ctx.store.get(2)?.status, 'rolled-back');
});

// Converge on resume finds nothing left to do; the revision's own containers must still pass the gate.
test('resume() after a crash during the health gate still gates the revision', async (ctx) => {
  await submit(ctx.service, v1);
  ctx.ports.behave(IMG_B, { healthyAfterMs: Infinity, unhealthy: { afterMs: 2_000 } });
  const v2Checked = { ...v2, apps: { ...v2.apps, web: { image: IMG_B, healthCheck: { command: ['true'] } } } };
  const crashed = await submit(ctx.service, v2Checked, (e) => {
    if (e.type === 'phase' && e.phase === 'health-gate') void ctx.service.close();
  });
  assert.is(crashed.outcome, 'superseded');
  assert.is(ctx.store.get(2)?.status, 'applying');
  ctx.service = newService(ctx);
  const r = await withTimeout(
    ctx.service.resume().then((x) => x),
    5_000,
    'resume',
  );
  assert.is(r?.outcome, 'rolled-back', 'web never became healthy: revision 2 must not count as applied');
  assert.equal(ctx.ports.snapshot(), V1_RUNNING);
});

// A pull failure changed nothing of the new revision, but the runtime may be half-way through the
// revision it superseded: that must be rolled back, not abandoned.
test('a failed pull after superseding a half-applied revision leaves the last good revision running', async (ctx) => {
  await submit(ctx.service, v1);
  ctx.ports.failPull(IMG_C, 'manifest unknown');
  let third: Promise<ApplyResult> | undefined;
  const second = submit(ctx.service, v2, (e) => {
    if (e.type === 'step' && e.state === 'done' && e.step.kind === 'stop' && !third)
      third = submit(ctx.service, { revision: 3, apps: { web: { image: IMG_C }, worker }, rollout });
  });
  assert.is((await second).outcome, 'superseded');
  assert.ok(third);
  const r = await third;
  // 'failed' or 'rolled-back' (to 1) both say it; what matters is where the device ends up.
  assert.ok(r.outcome === 'failed' || r.outcome === 'rolled-back', r.outcome);
  assert.match(r.reasons.join('\n'), `pull ${IMG_C} for web failed: manifest unknown`);
  assert.equal(ctx.store.state(), { targetRevision: 1, lastGoodRevision: 1 });
  assert.equal(ctx.ports.snapshot(), V1_RUNNING, 'web, stopped by revision 2, runs again');
});

test('resume() with nothing unfinished does nothing', async (ctx) => {
  assert.is(await ctx.service.resume(), undefined);
  await submit(ctx.service, v1);
  ctx.ports.calls.length = 0;
  assert.is(await newService(ctx).resume(), undefined);
  assert.equal(ctx.ports.calls, []);
});

test('a rollback that fails too: failed, with both reasons', async (ctx) => {
  await submit(ctx.service, v1);
  ctx.ports.behave(IMG_B, { exit: { code: 4, afterMs: 500 } });
  // By the time the rollback starts web from the old image, that image crashes too.
  const r = await submit(ctx.service, v2, (e) => {
    if (e.type === 'phase' && e.phase === 'rolling-back') ctx.ports.behave(IMG_A, { exit: { code: 5 } });
  });
  assert.is(r.outcome, 'failed');
  assert.equal(r.reasons, [
    'web exited with code 4',
    'rollback to revision 1 failed: web exited with code 5 right after it started',
  ]);
  assert.is(ctx.store.get(2)?.status, 'failed');
  assert.equal(ctx.store.state(), { targetRevision: 1, lastGoodRevision: 1 });
  assert.is(await ctx.service.resume(), undefined);
});

test('rollback(): back to the previous applied revision', async (ctx) => {
  await submit(ctx.service, v1);
  await submit(ctx.service, v2);
  assert.equal(ctx.service.rollbackTarget(), { from: 2, to: 1 });
  const events: DeployEvent[] = [];
  const r = await withTimeout(
    ctx.service.rollback((e) => events.push(e)),
    5_000,
    'rollback',
  );
  assert.equal(r, applied(1));
  assert.equal(ctx.ports.snapshot(), V1_RUNNING);
  assert.equal(ctx.store.state(), { targetRevision: 1, lastGoodRevision: 1 });
  assert.equal(events.at(-1), { type: 'result', result: applied(1) });
  assert.is(ctx.store.highestRevision(), 2, 'a rollback does not lower the replay bound');
  assert.throws(() => ctx.service.check(input({ ...v2, revision: 2 })), /not newer/);
});

test('rollback(): refused when there is nothing to go back to', async (ctx) => {
  let e = refusal(() => ctx.service.rollback());
  assert.ok(isGantryError(e, 'failed-precondition'));
  assert.match(e.message, 'nothing is deployed; there is no revision to roll back from');
  await submit(ctx.service, v1);
  e = refusal(() => ctx.service.rollback());
  assert.ok(isGantryError(e, 'failed-precondition'));
  assert.match(e.message, 'revision 1 has no earlier applied revision to roll back to');
  // A failed (pull) revision is not one to go back to either.
  ctx.ports.failPull(IMG_B);
  await submit(ctx.service, v2);
  assert.throws(() => ctx.service.rollback(), /revision 1 has no earlier applied revision/);
});

/** The event stream in short: "phase converging 2", "step done create web", "health failed web", "result rolled-back". */
function show(e: DeployEvent): string {
  switch (e.type) {
    case 'phase':
      return `phase ${e.phase} ${e.revision}${e.target !== undefined ? `→${e.target}` : ''}`;
    case 'step':
      return `step ${e.state} ${e.step.kind} ${e.step.kind === 'pull' ? e.step.image : e.step.container}`;
    case 'pull':
      return `pull ${e.event.type}`;
    case 'health':
      return `health ${e.state} ${e.container}`;
    case 'result':
      return `result ${e.result.outcome} ${e.result.revision}`;
  }
}

test('events: phases, steps, pulls, health and the result, in order, to onEvent and to subscribers', async (ctx) => {
  await submit(ctx.service, v1);
  ctx.ports.behave(IMG_B, { exit: { code: 4, afterMs: 700 } });
  const seen: string[] = [];
  const subscribed: string[] = [];
  const unsubscribe = ctx.service.subscribe((e) => subscribed.push(show(e)));
  await submit(ctx.service, v2, (e) => seen.push(show(e)));
  unsubscribe();
  assert.equal(seen, [
    'phase converging 2',
    `step started pull ${IMG_B}`,
    'pull resolved',
    `step done pull ${IMG_B}`,
    'step started stop web',
    'step done stop web',
    'step started remove web',
    'step done remove web',
    'step started create web',
    'step done create web',
    'phase health-gate 2',
    'health waiting web',
    'health failed web',
    'phase rolling-back 2→1',
    // web exited: nothing to stop.
    'step started remove web',
    'step done remove web',
    'step started create web',
    'step done create web',
    'phase health-gate 1',
    'health waiting web',
    'health healthy web',
    'result rolled-back 2',
  ]);
  assert.equal(subscribed, seen);
  await submit(ctx.service, { ...v1, revision: 3 });
  assert.is(subscribed.length, seen.length, 'an unsubscribed listener hears nothing more');
});

test('appOf and get: the document entry an app runs under; an unknown revision is not found', async (ctx) => {
  await submit(ctx.service, v1);
  assert.equal(ctx.service.appOf('worker', 1), worker);
  assert.is(ctx.service.appOf('nope', 1), undefined);
  assert.is(ctx.service.get(1).status, 'applied');
  assert.ok(
    isGantryError(
      refusal(() => ctx.service.get(9)),
      'not-found',
    ),
  );
});

test.run();
