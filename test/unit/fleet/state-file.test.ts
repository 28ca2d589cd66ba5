import { spawnSync } from 'node:child_process';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createRollout, type RolloutState } from '../../../scripts/fleet/rollout-machine.js';
import { parseWaves } from '../../../scripts/fleet/rollout-plan.js';
import {
  acquireLock,
  loadState,
  lockHolder,
  requestAbort,
  saveState,
  takeAbortRequest,
} from '../../../scripts/fleet/state-file.js';
import { type TempDir, tempDir } from '../../helpers/tmp.js';

const test = suite<{ dir: TempDir; file: string }>('fleet: the rollout state file, its lock and abort requests');

test.before.each(async (ctx) => {
  ctx.dir = await tempDir('gantry-fleet-state-');
  ctx.file = path.join(ctx.dir.path, 'rollout.json');
});
test.after.each(async (ctx) => {
  await ctx.dir.cleanup();
});

/** The message a promise rejects with (fails the test when it resolves). */
async function failure(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
  throw new Error('expected a rejection');
}

const state = (): RolloutState =>
  createRollout({
    id: 'r1-x',
    now: 1,
    revision: 1,
    document: '{"revision":1,"apps":{}}',
    documentFile: 'd.json',
    kid: 'k',
    keyFile: 'k.key',
    group: 'a,b',
    devices: ['a', 'b'],
    waves: parseWaves('1,100%'),
    policy: { waves: '1,100%', maxFailures: '0', waveTimeoutMs: 1000, healthyForMs: 0, rollbackOnHalt: false },
    previous: new Map(),
    hash: (t) => t,
  });

test('save replaces the file whole and leaves no temp file behind; load round-trips', async ({ dir, file }) => {
  const s = state();
  await saveState(file, s);
  await saveState(file, { ...s, seq: 5 });
  assert.equal(await readdir(dir.path), ['rollout.json']);
  assert.equal(await loadState(file), { ...s, seq: 5 });
});

test('load refuses what is not a rollout state, and says which file', async ({ file }) => {
  assert.match(await failure(loadState(file)), /rollout state file .*rollout\.json does not exist/);
  await writeFile(file, '{"hello":1}');
  assert.match(await failure(loadState(file)), /rollout\.json is not a gantry-fleet rollout state/);
  await writeFile(file, '{');
  assert.match(await failure(loadState(file)), /rollout\.json is not JSON/);
});

test('the lock: held by a live process it refuses; a dead process’s lock is taken over', async ({ file }) => {
  const release = await acquireLock(file);
  assert.is(await lockHolder(file), process.pid);
  await release();
  assert.is(await lockHolder(file), undefined);

  // A lock left behind by a process that is gone (a killed tool).
  const child = spawnSync(process.execPath, ['-e', 'console.log(process.pid)'], { encoding: 'utf8' });
  const deadPid = Number(child.stdout.trim());
  await writeFile(`${file}.lock`, `${deadPid}\n`);
  assert.is(await lockHolder(file), undefined, 'the child has exited: its lock is stale');
  const again = await acquireLock(file);
  assert.is((await readFile(`${file}.lock`, 'utf8')).trim(), String(process.pid));
  await again();

  await writeFile(`${file}.lock`, '1\n'); // pid 1 is always alive
  assert.match(await failure(acquireLock(file)), /being run by process 1/);
});

test('an abort request is taken once', async ({ file }) => {
  assert.is(await takeAbortRequest(file), undefined);
  await requestAbort(file, true);
  assert.equal(await takeAbortRequest(file), { rollback: true });
  assert.is(await takeAbortRequest(file), undefined);
});

test.run();
