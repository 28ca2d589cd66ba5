import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { DeploymentStore } from '../../../agent/src/deploy/store.js';
import type { DeploymentDocument } from '../../../agent/src/deploy/types.js';
import { type Db, MetaStore, openDatabase } from '../../../agent/src/state/database.js';
import { type TempDir, tempDir } from '../../helpers/tmp.js';

interface Ctx {
  dir: TempDir;
  file: string;
  db: Db;
  store: DeploymentStore;
  /** The store's clock: one minute per call, so every timestamp differs. */
  ticks: number;
}

const test = suite<Ctx>('deploy: DeploymentStore (real SQLite)');

const T0 = Date.parse('2030-01-01T00:00:00.000Z');
const doc = (revision: number, image = 'reg.local/a:1'): DeploymentDocument => ({
  revision,
  apps: { web: { image } },
});

function open(ctx: Ctx, keep?: number): DeploymentStore {
  ctx.db = openDatabase(ctx.file);
  const now = () => new Date(T0 + 60_000 * ctx.ticks++);
  ctx.store = keep === undefined ? new DeploymentStore(ctx.db, now) : new DeploymentStore(ctx.db, now, keep);
  return ctx.store;
}

test.before.each(async (ctx) => {
  ctx.dir = await tempDir('gantry-deploy-store-');
  ctx.file = path.join(ctx.dir.path, 'state.db');
  ctx.ticks = 0;
  open(ctx);
});

test.after.each(async (ctx) => {
  if (ctx.db.open) ctx.db.close();
  await ctx.dir.cleanup();
});

const statuses = (store: DeploymentStore) =>
  Object.fromEntries(store.list().map((r) => [r.revision, r.status])) as Record<number, string>;

/** Everything the store holds, to compare before and after a transition that must not happen. */
const dump = (store: DeploymentStore) => ({ state: store.state(), history: store.list() });

test('a fresh store: no target, no last good, no history', ({ store }) => {
  assert.equal(store.state(), {});
  assert.is(store.highestRevision(), undefined);
  assert.is(store.get(1), undefined);
  assert.equal(store.list(), []);
  assert.is(store.previousGood(10), undefined);
});

test('begin: the revision is stored as applying and becomes the target; its document round-trips', ({ store }) => {
  const d: DeploymentDocument = {
    revision: 3,
    description: 'three',
    apps: { web: { image: 'reg.local/a:1', env: { A: '1' }, config: { nested: [1, { x: null }] } } },
    rollout: { healthyWithinSec: 5, rollbackOnFailure: false },
  };
  store.begin(d, 'cloud');
  assert.equal(store.state(), { targetRevision: 3 });
  const rec = store.get(3);
  assert.equal(rec, {
    revision: 3,
    document: d,
    source: 'cloud',
    status: 'applying',
    reasons: [],
    receivedAt: new Date(T0).toISOString(),
  });
  assert.is(store.highestRevision(), 3);
});

test('begin: one still applying is superseded, with the time it ended; a rollback in progress is dropped', ({
  store,
}) => {
  store.begin(doc(1), 'cli');
  store.markApplied(1);
  store.begin(doc(2), 'cli');
  store.beginRollback(2, ['web exited with code 3']);
  assert.equal(store.state(), { targetRevision: 1, rollingBackFrom: 2, lastGoodRevision: 1 });
  store.begin(doc(3), 'cloud');
  assert.equal(store.state(), { targetRevision: 3, lastGoodRevision: 1 });
  assert.equal(statuses(store), { 1: 'applied', 2: 'superseded', 3: 'applying' });
  assert.ok(store.get(2)?.finishedAt, 'a superseded revision has ended');
  assert.is(store.get(3)?.finishedAt, undefined);
});

test('begin of a revision the store has is refused and changes nothing (one transaction)', ({ store }) => {
  store.begin(doc(1), 'cli');
  store.markApplied(1);
  store.begin(doc(2), 'cli');
  const before = dump(store);
  assert.throws(() => store.begin(doc(2, 'reg.local/b:1'), 'cloud'));
  assert.throws(() => store.begin(doc(1), 'cloud'));
  assert.equal(dump(store), before, 'revision 2 is still the applying target');
});

test('markApplied: applied with no reasons, and the last good revision', ({ store }) => {
  store.begin(doc(1), 'cli');
  store.markApplied(1);
  assert.equal(store.state(), { targetRevision: 1, lastGoodRevision: 1 });
  const rec = store.get(1);
  assert.is(rec?.status, 'applied');
  assert.equal(rec?.reasons, []);
  assert.is(rec?.finishedAt, new Date(T0 + 60_000).toISOString());
});

test('markApplied: `also` runs in the same transaction; when it throws nothing changes, its own writes included', ({
  store,
  db,
}) => {
  const meta = new MetaStore(db);
  store.begin(doc(1), 'cli');
  store.markApplied(1);
  store.begin(doc(2), 'cli');
  const before = dump(store);
  assert.throws(
    () =>
      store.markApplied(2, () => {
        meta.set('claimed', 'yes');
        throw new Error('the runtime records refused the revision bump');
      }),
    /refused the revision bump/,
  );
  assert.equal(dump(store), before);
  assert.is(store.get(2)?.status, 'applying');
  assert.is(meta.get('claimed'), undefined, 'the callback’s write was rolled back with the rest');

  let ran = false;
  store.markApplied(2, () => {
    meta.set('claimed', 'yes');
    ran = true;
  });
  assert.ok(ran);
  assert.is(meta.get('claimed'), 'yes');
  assert.equal(store.state(), { targetRevision: 2, lastGoodRevision: 2 });
});

test('beginRollback: reasons stored, the failed revision stays applying, the target is the last good one', ({
  store,
}) => {
  store.begin(doc(1), 'cli');
  store.markApplied(1);
  store.begin(doc(2), 'cli');
  store.beginRollback(2, ['web exited with code 3', 'worker restarted']);
  assert.equal(store.state(), { targetRevision: 1, rollingBackFrom: 2, lastGoodRevision: 1 });
  assert.is(store.get(2)?.status, 'applying', 'not finished until the rollback is');
  assert.equal(store.get(2)?.reasons, ['web exited with code 3', 'worker restarted']);
  assert.is(store.get(2)?.finishedAt, undefined);
});

test('beginRollback with no last good revision: the target is nothing at all', ({ store }) => {
  store.begin(doc(1), 'cli');
  store.beginRollback(1, ['web exited with code 1']);
  assert.equal(store.state(), { rollingBackFrom: 1 });
});

test('markRolledBack: rolled-back keeping the reasons; the rollback is over; the last good stays', ({ store }) => {
  store.begin(doc(1), 'cli');
  store.markApplied(1);
  store.begin(doc(2), 'cli');
  store.beginRollback(2, ['web is unhealthy']);
  store.markRolledBack(2);
  assert.equal(store.state(), { targetRevision: 1, lastGoodRevision: 1 });
  assert.is(store.get(2)?.status, 'rolled-back');
  assert.equal(store.get(2)?.reasons, ['web is unhealthy']);
  assert.ok(store.get(2)?.finishedAt);
  assert.is(store.get(1)?.status, 'applied');
});

test('markRolledBack: when `also` throws the rollback is still in progress', ({ store }) => {
  store.begin(doc(1), 'cli');
  store.markApplied(1);
  store.begin(doc(2), 'cli');
  store.beginRollback(2, ['web is unhealthy']);
  const before = dump(store);
  assert.throws(() =>
    store.markRolledBack(2, () => {
      throw new Error('boom');
    }),
  );
  assert.equal(dump(store), before);
});

test('markFailed: failed with the reasons, the rollback (if any) is over, the target is left as it is', ({ store }) => {
  store.begin(doc(1), 'cli');
  store.markApplied(1);
  store.begin(doc(2), 'cli');
  store.markFailed(2, ['web exited with code 3']);
  assert.equal(store.state(), { targetRevision: 2, lastGoodRevision: 1 });
  assert.is(store.get(2)?.status, 'failed');
  assert.equal(store.get(2)?.reasons, ['web exited with code 3']);

  store.begin(doc(3), 'cli');
  store.beginRollback(3, ['worker restarted']);
  store.markFailed(3, ['worker restarted', 'rollback to revision 1 failed: web is gone']);
  assert.equal(store.state(), { targetRevision: 1, lastGoodRevision: 1 });
  assert.is(store.get(3)?.status, 'failed');
});

test('abandon: failed with the reasons; the last good revision is the target again (or nothing)', ({ store }) => {
  store.begin(doc(1), 'cli');
  store.abandon(1, ['pull reg.local/a:1 failed', 'nothing was changed']);
  assert.equal(store.state(), {}, 'no last good: no target');
  assert.is(store.get(1)?.status, 'failed');
  assert.equal(store.get(1)?.reasons, ['pull reg.local/a:1 failed', 'nothing was changed']);

  store.begin(doc(2), 'cli');
  store.markApplied(2);
  store.begin(doc(3), 'cli');
  store.abandon(3, ['pull failed']);
  assert.equal(store.state(), { targetRevision: 2, lastGoodRevision: 2 });
  assert.is(store.highestRevision(), 3, 'a failed revision still bounds replays');
});

test('reapply: an earlier revision is the applying target again with a note; one applying is superseded', ({
  store,
}) => {
  store.begin(doc(1), 'cli');
  store.markApplied(1);
  store.begin(doc(2), 'cli');
  store.markApplied(2);
  store.begin(doc(3), 'cli');
  store.reapply(1, 're-applied by gantry rollback from revision 3');
  assert.equal(store.state(), { targetRevision: 1, lastGoodRevision: 2 });
  assert.equal(statuses(store), { 1: 'applying', 2: 'applied', 3: 'superseded' });
  assert.equal(store.get(1)?.reasons, ['re-applied by gantry rollback from revision 3']);
  assert.is(store.get(1)?.finishedAt, undefined);
  store.markApplied(1);
  assert.equal(store.state(), { targetRevision: 1, lastGoodRevision: 1 });
  assert.equal(store.get(1)?.reasons, []);
  assert.is(store.highestRevision(), 3);
});

test('previousGood: the newest applied revision below the given one, skipping every other outcome', ({ store }) => {
  store.begin(doc(1), 'cli');
  store.markApplied(1);
  store.begin(doc(2), 'cli');
  store.beginRollback(2, ['x']);
  store.markRolledBack(2);
  store.begin(doc(3), 'cli');
  store.abandon(3, ['y']);
  store.begin(doc(4), 'cli');
  store.markApplied(4);
  store.begin(doc(5), 'cli');
  store.begin(doc(6), 'cli');
  store.markFailed(6, ['z']);
  assert.is(store.previousGood(7)?.revision, 4);
  assert.is(store.previousGood(4)?.revision, 1);
  assert.is(store.previousGood(2)?.revision, 1);
  assert.is(store.previousGood(1), undefined);
  assert.equal(statuses(store), {
    1: 'applied',
    2: 'rolled-back',
    3: 'failed',
    4: 'applied',
    5: 'superseded',
    6: 'failed',
  });
});

test('trim: keeps the newest `keep` plus the target and the last good; the replay bound survives', (ctx) => {
  ctx.db.close();
  const store = open(ctx, 2);
  store.begin(doc(1), 'cli');
  store.markApplied(1);
  for (let r = 2; r <= 6; r++) {
    store.begin(doc(r), 'cli');
    store.abandon(r, ['pull failed']);
  }
  // Target and last good are both 1 (abandon went back to it); newest two are 5 and 6.
  assert.equal(
    store.list().map((r) => r.revision),
    [6, 5, 1],
  );
  assert.is(store.highestRevision(), 6);
  store.begin(doc(7), 'cli');
  store.beginRollback(7, ['bad']);
  store.markRolledBack(7);
  store.begin(doc(8), 'cli');
  assert.equal(
    store.list().map((r) => r.revision),
    [8, 7, 1],
    'the target (8) and the last good (1) are kept with the newest two',
  );
  store.markApplied(8);
  store.begin(doc(9), 'cli');
  store.begin(doc(10), 'cli');
  assert.equal(
    store.list().map((r) => r.revision),
    [10, 9, 8],
  );
  assert.is(store.highestRevision(), 10);
  assert.is(store.previousGood(10)?.revision, 8);
});

test('trim with keep 0: only the target and the last good remain', (ctx) => {
  ctx.db.close();
  const store = open(ctx, 0);
  store.begin(doc(1), 'cli');
  store.markApplied(1);
  store.begin(doc(2), 'cli');
  store.markApplied(2);
  store.reapply(1, 'rollback');
  store.markApplied(1);
  store.begin(doc(3), 'cli');
  assert.equal(
    store.list().map((r) => r.revision),
    [3, 1],
    '2 is neither the target nor the last good any more',
  );
  assert.is(store.highestRevision(), 3);
  assert.is(store.previousGood(3)?.revision, 1);
});

test('list: newest first, limited; every transition is on disk (reopen sees it)', (ctx) => {
  const { store } = ctx;
  store.begin(doc(1), 'cli');
  store.markApplied(1);
  store.begin(doc(2), 'cloud');
  store.beginRollback(2, ['web restarted']);
  assert.equal(
    store.list(1).map((r) => r.revision),
    [2],
  );
  const before = dump(store);
  ctx.db.close();
  const reopened = open(ctx);
  assert.equal(dump(reopened), before);
  assert.equal(reopened.state(), { targetRevision: 1, rollingBackFrom: 2, lastGoodRevision: 1 });
});

test.run();
