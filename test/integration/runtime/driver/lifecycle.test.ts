import { readFile } from 'node:fs/promises';
import * as assert from 'uvu/assert';
import { isGantryError } from '../../../../agent/src/errors.js';
import { hostSuite } from '../../../helpers/host-tools.js';
import { waitFor, withTimeout } from '../../../helpers/timeout.js';
import { alive, type Bench, conmonsOf, MiB, makeBench, sleep, TOOLS, teardown } from './fixtures.js';

const { test, paths } = hostSuite<{ b: Bench }>('driver: conmon + runc lifecycle, exec, stats', TOOLS);

test.before.each(async (ctx) => {
  ctx.b = await makeBench(paths.runc as string, paths.busybox as string);
});
test.after.each(async (ctx) => {
  await teardown(ctx.b);
});

const LOG = 4096 * 1024;

/** create + start; returns the id. */
async function running(b: Bench, script: string, opts: { memoryBytes?: number } = {}): Promise<string> {
  const id = b.id();
  const bundle = await b.bundle(id, ['sh', '-c', script], opts);
  await withTimeout(b.runtime.create(id, bundle, { logPath: b.logPath(id), logSizeMax: LOG }), 15_000, `create ${id}`);
  await withTimeout(b.runtime.start(id), 10_000, `start ${id}`);
  return id;
}

test('create, start, exit 3: waitExit and state report it; list and delete', async ({ b }) => {
  const id = b.id();
  const bundle = await b.bundle(id, ['sh', '-c', 'sleep 0.2; exit 3']);
  const t0 = performance.now();
  const created = await withTimeout(
    b.runtime.create(id, bundle, { logPath: b.logPath(id), logSizeMax: LOG }),
    15_000,
    'create',
  );
  const tCreated = performance.now();
  assert.is(created.status, 'created');
  assert.ok(created.pid > 0 && (await alive(created.pid)), 'the init process exists');
  assert.ok(created.conmonPid !== undefined && (await alive(created.conmonPid)), 'conmon is running');
  assert.is((await b.runtime.state(id))?.status, 'created');
  await withTimeout(b.runtime.start(id), 10_000, 'start');
  const tStarted = performance.now();
  const rss = /VmRSS:\s*(\d+ kB)/.exec(await readFile(`/proc/${created.conmonPid}/status`, 'utf8'))?.[1];
  process.stderr.write(
    `    [measure] create ${(tCreated - t0).toFixed(0)} ms, start ${(tStarted - tCreated).toFixed(0)} ms, conmon RSS ${rss}\n`,
  );
  const st = await b.runtime.state(id);
  assert.is(st?.status, 'running');
  assert.is(st?.pid, created.pid);
  assert.ok((await b.runtime.list()).includes(id));

  const exit = await withTimeout(b.runtime.waitExit(id), 10_000, 'waitExit');
  assert.is(exit.exitCode, 3);
  assert.is(exit.oomKilled, false);
  assert.ok(Math.abs(Date.parse(exit.finishedAt) - Date.now()) < 10_000, exit.finishedAt);
  const after = await b.runtime.state(id);
  assert.equal(
    { status: after?.status, pid: after?.pid, code: after?.exit?.exitCode },
    { status: 'stopped', pid: 0, code: 3 },
  );
  assert.equal(await b.runtime.waitExit(id), exit, 'an exited container resolves at once, the same');

  await b.runtime.delete(id);
  assert.is(await b.runtime.state(id), undefined);
  assert.not.ok((await b.runtime.list()).includes(id));
  await b.runtime.delete(id); // idempotent
  await waitFor(async () => (created.conmonPid !== undefined && (await alive(created.conmonPid)) ? undefined : true), {
    ms: 5000,
    what: 'conmon to be gone',
  });
});

test("a bundle runc refuses: the error names the container and carries runc's message; nothing is left", async ({
  b,
}) => {
  const id = b.id();
  const bundle = await b.bundle(id, ['/bin/no-such-program']);
  const err = await b.runtime.create(id, bundle, { logPath: b.logPath(id), logSizeMax: LOG }).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(isGantryError(err), String(err));
  assert.match(err.message, id);
  assert.match(err.message, /no-such-program/);
  assert.is(await b.runtime.state(id), undefined);
  assert.not.ok((await b.runtime.list()).includes(id));
  await waitFor(async () => ((await conmonsOf(id)).length === 0 ? true : undefined), { ms: 5000, what: 'no conmon' });
});

test('an existing id is refused; a running container is only deleted with force; unknown ids are not-found', async ({
  b,
}) => {
  const id = await running(b, 'while :; do sleep 1; done');
  const bundle = await b.bundle(`${id}-again`, ['true']);
  const dup = await b.runtime.create(id, bundle, { logPath: b.logPath(id), logSizeMax: LOG }).catch((e: unknown) => e);
  assert.ok(isGantryError(dup, 'already-exists'), String(dup));
  const refused = await b.runtime.delete(id).catch((e: unknown) => e);
  assert.ok(isGantryError(refused, 'failed-precondition'), String(refused));
  await withTimeout(b.runtime.delete(id, { force: true }), 15_000, 'force delete');
  assert.is(await b.runtime.state(id), undefined);
  const missing = await b.runtime.start('gantry-test-no-such').catch((e: unknown) => e);
  assert.ok(isGantryError(missing, 'not-found'), String(missing));
  const bad = await b.runtime.state('../etc').catch((e: unknown) => e);
  assert.ok(isGantryError(bad, 'invalid'), String(bad));
});

test('stop: a container that traps SIGTERM exits cleanly, well within the grace', async ({ b }) => {
  const id = await running(b, 'trap "exit 0" TERM; while :; do sleep 0.1; done');
  await sleep(100); // let sh install the trap
  const t0 = Date.now();
  const exit = await withTimeout(b.runtime.stop(id, 5000), 10_000, 'stop');
  assert.is(exit.exitCode, 0);
  assert.ok(Date.now() - t0 < 3000, `took ${Date.now() - t0} ms`);
  assert.is((await b.runtime.state(id))?.status, 'stopped');
});

test('stop: a container that ignores SIGTERM (pid 1 without a handler) is SIGKILLed after the grace: 137', async ({
  b,
}) => {
  const id = await running(b, 'while :; do sleep 1; done');
  const t0 = Date.now();
  const exit = await withTimeout(b.runtime.stop(id, 400), 15_000, 'stop');
  const took = Date.now() - t0;
  assert.is(exit.exitCode, 137);
  assert.ok(took >= 400 && took < 5000, `took ${took} ms`);
  assert.equal(await b.runtime.stop(id, 400), exit, 'stopping a stopped container returns its exit');
});

test('stop and force-delete also work on a created (never started) and a paused container', async ({ b }) => {
  const idle = b.id();
  await b.runtime.create(idle, await b.bundle(idle, ['true']), { logPath: b.logPath(idle), logSizeMax: LOG });
  const exit = await withTimeout(b.runtime.stop(idle, 1000), 15_000, 'stop of a created container');
  assert.is(exit.exitCode, 137, 'runc init, waiting to exec, gets SIGKILL');
  const paused = await running(b, 'while :; do sleep 1; done');
  const conmonPid = (await b.runtime.state(paused))?.conmonPid;
  await b.runtime.pause(paused);
  await withTimeout(b.runtime.delete(paused, { force: true }), 15_000, 'force delete of a paused container');
  assert.is(await b.runtime.state(paused), undefined);
  assert.ok(conmonPid !== undefined && !(await alive(conmonPid)), 'its conmon is gone too');
});

test('pause freezes the container (cpu time stands still), resume thaws it', async ({ b }) => {
  const { layout } = b;
  const id = await running(b, 'while :; do :; done');
  await waitFor(async () => ((await b.runtime.stats(id)).cpuUsageNs > 0 ? true : undefined), {
    ms: 5000,
    what: 'cpu use',
  });
  await b.runtime.pause(id);
  const st = await b.runtime.state(id);
  assert.is(st?.status, 'paused');
  if (layout.version !== 'v2' && layout.v1Controllers.freezer !== undefined) {
    const line = (await readFile(`/proc/${st?.pid}/cgroup`, 'utf8')).split('\n').find((l) => /:freezer:/.test(l));
    const cg = line?.split(':')[2] ?? '';
    const state = await readFile(`${layout.v1Controllers.freezer}${cg}/freezer.state`, 'utf8');
    assert.is(state.trim(), 'FROZEN');
  }
  const frozen1 = (await b.runtime.stats(id)).cpuUsageNs;
  await sleep(300);
  const frozen2 = (await b.runtime.stats(id)).cpuUsageNs;
  assert.is(frozen2, frozen1, 'no cpu time while frozen');
  await b.runtime.resume(id);
  assert.is((await b.runtime.state(id))?.status, 'running');
  await sleep(200);
  assert.ok((await b.runtime.stats(id)).cpuUsageNs > frozen2, 'runs again');
  const exit = await withTimeout(b.runtime.stop(id, 200), 15_000, 'stop');
  assert.is(exit.exitCode, 137);
});

test('exec: output and exit code; a hung command is killed at its timeout, leaving nothing behind', async ({ b }) => {
  const id = await running(b, 'while :; do sleep 1; done');
  const res = await withTimeout(
    b.runtime.exec(id, ['sh', '-c', 'echo out; echo err >&2; exit 4'], 5000),
    10_000,
    'exec',
  );
  assert.is(res.exitCode, 4);
  assert.is(res.timedOut, false);
  assert.match(res.output, /out/);
  assert.match(res.output, /err/);

  const t0 = Date.now();
  const hung = await withTimeout(b.runtime.exec(id, ['sh', '-c', 'sleep 30; echo never'], 300), 10_000, 'hung exec');
  assert.is(hung.timedOut, true);
  assert.is(hung.exitCode, 137);
  assert.ok(Date.now() - t0 < 3000, `took ${Date.now() - t0} ms`);
  await waitFor(
    async () => {
      const ps = await b.runtime.exec(id, ['ps', '-o', 'pid,args'], 5000);
      return ps.output.includes('sleep 30') ? undefined : ps.output;
    },
    { ms: 5000, what: 'the timed-out exec to be gone from the container' },
  );
  const noProgram = await b.runtime.exec(id, ['no-such-program'], 5000).catch((e: unknown) => e);
  assert.ok(isGantryError(noProgram), String(noProgram));
  assert.match(noProgram.message, /no-such-program/);
  const notRunning = await b.runtime.exec('gantry-test-no-such', ['true'], 1000).catch((e: unknown) => e);
  assert.ok(isGantryError(notRunning, 'not-found'), String(notRunning));
});

test('stats: memory use and limit, cpu time increasing, pids', async ({ b }) => {
  const id = await running(b, 'head -c 8388608 /dev/zero > /dev/shm/fill; while :; do :; done', {
    memoryBytes: 48 * MiB,
  });
  const s1 = await waitFor(
    async () => {
      const s = await b.runtime.stats(id);
      return s.memoryBytes >= 8 * MiB ? s : undefined;
    },
    { ms: 5000, what: '8 MiB in /dev/shm to show as memory use' },
  );
  assert.is(s1.memoryLimitBytes, 48 * MiB);
  assert.ok(s1.pids >= 1, `pids ${s1.pids}`);
  assert.ok((s1.memoryPeakBytes ?? s1.memoryBytes) >= s1.memoryBytes);
  assert.is(s1.oomKills ?? 0, 0);
  await sleep(300);
  const s2 = await b.runtime.stats(id);
  assert.ok(s2.cpuUsageNs > s1.cpuUsageNs, `cpu ${s1.cpuUsageNs} -> ${s2.cpuUsageNs}`);
  process.stderr.write(`    [measure] stats: ${JSON.stringify(s2)}\n`);
});

test.run();
