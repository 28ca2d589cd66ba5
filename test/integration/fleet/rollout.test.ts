import { readFile } from 'node:fs/promises';
import path from 'node:path';
import * as assert from 'uvu/assert';
import { loadPublicKey } from '../../../agent/src/cloud/keys.js';
import { type RolloutSummary, summarize } from '../../../scripts/fleet/progress.js';
import type { RolloutState } from '../../../scripts/fleet/rollout-machine.js';
import { type SimulatedFleet, startSimulatedFleet } from '../../../scripts/simulate/fleet.js';
import { simulatedDigest } from '../../../scripts/simulate/sim-ports.js';
import { fleetCli, image, jsonOf, spawnFleetCli, writeDeployment } from '../../helpers/fleet.js';
import { hostSuite } from '../../helpers/host-tools.js';
import { type Mosquitto, startMosquitto } from '../../helpers/mosquitto.js';
import { waitFor, withTimeout } from '../../helpers/timeout.js';
import { type TempDir, tempDir } from '../../helpers/tmp.js';

/**
 * The fleet CLI, as a child process, rolling deployments out through a real
 * mosquitto to simulated gateways running the agent's real cloud and deploy
 * code in this process.
 */
interface Ctx {
  broker: Mosquitto;
  dir: TempDir;
  key: string;
  kid: string;
  fleet: SimulatedFleet | undefined;
}

const { test } = hostSuite<Ctx>('fleet: rollouts to simulated gateways through mosquitto', ['mosquitto']);

const V1 = image('meter', '1');
const V2 = image('meter', '2');
const KID = 'fleet-test';

test.before.each(async (ctx) => {
  ctx.broker = await startMosquitto({ extraConfig: 'max_queued_messages 10000' });
  ctx.dir = await tempDir('gantry-fleet-');
  const keys = await fleetCli(['keys', 'generate', '--out', path.join(ctx.dir.path, 'keys'), '--kid', KID, '--json']);
  assert.is(keys.code, 0, keys.stderr);
  const made = jsonOf<{ kid: string; privateKeyFile: string; publicKeyFile: string }>(keys);
  ctx.key = made.privateKeyFile;
  ctx.kid = made.kid;
  ctx.fleet = undefined;
});

test.after.each(async (ctx) => {
  await ctx.fleet?.stop();
  await ctx.broker?.stop();
  await ctx.dir?.cleanup();
});

async function simulate(ctx: Ctx, count: number, extra: Partial<Parameters<typeof startSimulatedFleet>[0]> = {}) {
  ctx.fleet = await withTimeout(
    startSimulatedFleet({
      brokerUrl: ctx.broker.url,
      count,
      prefix: 'gw-',
      trustedKeys: new Map([[ctx.kid, await loadPublicKey(path.join(ctx.dir.path, 'keys', `${KID}.pub.pem`))]]),
      startDelayMs: 50,
      stableMs: 200,
      reportDebounceMs: 50,
      ...extra,
    }),
    20_000,
    `${count} simulated gateways online`,
  );
  return ctx.fleet;
}

/** `rollout FILE --json` with short windows; returns the exit code and the summary. */
async function rollout(ctx: Ctx, file: string, args: string[]) {
  const r = await fleetCli(
    [
      'rollout',
      file,
      '--broker',
      ctx.broker.url,
      '--key',
      ctx.key,
      '--kid',
      ctx.kid,
      '--healthy-for',
      '300ms',
      '--wave-timeout',
      '15s',
      '--json',
      ...args,
    ],
    { timeoutMs: 50_000 },
  );
  return { code: r.code, summary: jsonOf<RolloutSummary>(r), stderr: r.stderr };
}

/** The summary of the rollout as its state file has it now (what `status` prints), or undefined before it exists. */
async function savedSummary(file: string): Promise<RolloutSummary | undefined> {
  try {
    return summarize(JSON.parse(await readFile(file, 'utf8')) as RolloutState, new Map(), Date.now());
  } catch {
    return undefined;
  }
}

const running = (fleet: SimulatedFleet, id: string) =>
  fleet
    .gateway(id)
    .ports.apps()
    .filter((a) => a.state === 'running')
    .map((a) => `${a.name}@${a.imageDigest}`);

test('a rollout to 50 gateways in 3 waves succeeds; devices, status, logs and restart work', async (ctx) => {
  const fleet = await simulate(ctx, 50);
  const doc = await writeDeployment(ctx.dir.path, 1, { meter: { image: V1 } });
  const state = path.join(ctx.dir.path, 'r1.json');
  const r = await rollout(ctx, doc, ['--group', 'id=gw-*', '--waves', '5,20,100%', '--state', state]);
  assert.is(r.code, 0, r.stderr);
  assert.is(r.summary.phase, 'completed');
  assert.equal(
    r.summary.waves.map((w) => [w.size, w.counts.healthy]),
    [
      [5, 5],
      [15, 15],
      [30, 30],
    ],
  );
  for (const id of fleet.ids) {
    assert.is(fleet.gateway(id).deploy.status().lastGoodRevision, 1, id);
    assert.equal(running(fleet, id), [`meter@${simulatedDigest(V1)}`], id);
  }

  const devices = await fleetCli(['devices', '--broker', ctx.broker.url, '--group', 'revision=1', '--json']);
  const list = jsonOf<Array<{ id: string; status: string; model: string }>>(devices);
  assert.is(list.length, 50);
  assert.ok(list.every((d) => d.status === 'online' && d.model === 'ec-iot-arm'));

  const status = jsonOf<RolloutSummary & { runningPid: number | null }>(await fleetCli(['status', state, '--json']));
  assert.is(status.phase, 'completed');
  assert.is(status.runningPid, null);

  const logs = await fleetCli(['logs', 'gw-07', 'meter', '--tail', '2', '--broker', ctx.broker.url]);
  assert.is(logs.code, 0, logs.stderr);
  assert.equal(logs.stdout.trim().split('\n'), [
    'gw-07 meter: simulated log line 1',
    'gw-07 meter: simulated log line 2',
  ]);
  const restart = await fleetCli(['restart', 'gw-07', 'meter', '--broker', ctx.broker.url]);
  assert.is(restart.code, 0, restart.stderr);
  assert.is(fleet.gateway('gw-07').ports.apps()[0]?.restarts, 1);
  const missing = await fleetCli(['logs', 'gw-07', 'nope', '--broker', ctx.broker.url]);
  assert.is(missing.code, 1);
  assert.match(missing.stderr, /app nope does not run on gw-07/);
});

test('20% of the second wave failing health halts it; --rollback-on-halt brings the updated gateways back', async (ctx) => {
  // Waves of 5, 15 and 30: 3 of the second wave's 15 run v2 into its health gate and roll back.
  const failing = ['gw-07', 'gw-11', 'gw-16'];
  const fleet = await simulate(ctx, 50, { failDevices: failing, failImages: [V2] });
  const group = fleet.ids.join(',');
  const base = await rollout(ctx, await writeDeployment(ctx.dir.path, 1, { meter: { image: V1 } }), [
    '--group',
    group,
    '--waves',
    '100%',
    '--state',
    path.join(ctx.dir.path, 'r1.json'),
  ]);
  assert.is(base.code, 0, base.stderr);

  const doc2 = await writeDeployment(ctx.dir.path, 2, { meter: { image: V2, env: { MODE: 'new' } } });
  const r = await rollout(ctx, doc2, [
    '--group',
    group,
    '--waves',
    '5,20,100%',
    '--max-failures',
    '5%',
    '--rollback-on-halt',
    '--state',
    path.join(ctx.dir.path, 'r2.json'),
  ]);
  assert.is(r.code, 1, 'a halted rollout exits 1');
  assert.is(r.summary.phase, 'rolled-back', r.stderr);
  assert.match(r.summary.haltReason ?? '', /of 20 gateways failed, over the budget of 5% \(1 allowed\)/);
  assert.ok(r.summary.failures.length >= 2);
  for (const f of r.summary.failures) {
    assert.ok(failing.includes(f.device), `${f.device} failed: ${f.reason}`);
    assert.is(f.wave, 2);
    assert.match(f.reason, /meter exited with code 1/);
  }
  assert.is(r.summary.waves[2]?.state, 'waiting', 'the third wave never went out');
  const rb = r.summary.rollback;
  assert.ok(rb);
  assert.is(rb.revision, 3, 'a new revision above the failed one');
  assert.is(rb.counts.restored, 20);

  const updated = fleet.ids.slice(0, 20);
  for (const id of fleet.ids) {
    const st = fleet.gateway(id).deploy.status();
    assert.equal(running(fleet, id), [`meter@${simulatedDigest(V1)}`], `${id} runs v1 again`);
    if (updated.includes(id)) assert.is(st.lastGoodRevision, 3, `${id} runs the rollback revision`);
    else assert.is(fleet.gateway(id).deploy.highestRevision(), 1, `${id} never saw revision 2`);
  }
  // The rollback document is revision 1's document under revision 3.
  assert.equal(fleet.gateway('gw-00').deploy.get(3).document.apps, { meter: { image: V1 } });
});

test('offline gateways are pending, then time out at the wave timeout', async (ctx) => {
  const fleet = await simulate(ctx, 10);
  const group = fleet.ids.join(',');
  const base = await rollout(ctx, await writeDeployment(ctx.dir.path, 1, { meter: { image: V1 } }), [
    '--group',
    group,
    '--waves',
    '100%',
    '--state',
    path.join(ctx.dir.path, 'r1.json'),
  ]);
  assert.is(base.code, 0, base.stderr);
  await fleet.goOffline('gw-3');
  await fleet.goOffline('gw-8');

  const state = path.join(ctx.dir.path, 'r2.json');
  const doc2 = await writeDeployment(ctx.dir.path, 2, { meter: { image: V2 } });
  const started = Date.now();
  const tool = spawnFleetCli([
    'rollout',
    doc2,
    '--broker',
    ctx.broker.url,
    '--key',
    ctx.key,
    '--kid',
    ctx.kid,
    '--group',
    group,
    '--waves',
    '100%',
    '--healthy-for',
    '300ms',
    '--wave-timeout',
    '4s',
    '--max-failures',
    '2',
    '--state',
    state,
    '--json',
  ]);
  // While the wave runs, the two offline gateways are pending (not failed) and the rest turn healthy.
  const mid = await waitFor(
    async () => {
      const s = await savedSummary(state);
      return s?.totals.healthy === 8 ? s : undefined;
    },
    { ms: 15_000, what: 'eight healthy gateways', intervalMs: 200 },
  );
  assert.is(mid.phase, 'running');
  assert.is(mid.totals['timed-out'] + mid.totals.failed, 0, 'offline is not failed before the timeout');
  assert.is(await withTimeout(tool.exited, 20_000, 'the rollout to finish'), 0, tool.output());
  assert.ok(Date.now() - started >= 4000, 'it waited for the wave timeout');
  const final = jsonOf<RolloutSummary>({ code: 0, signal: null, stdout: tool.output(), stderr: '' });
  assert.is(final.phase, 'completed', 'two timed out is within --max-failures 2');
  assert.equal(
    final.failures.map((f) => [f.device, f.state]),
    [
      ['gw-3', 'timed-out'],
      ['gw-8', 'timed-out'],
    ],
  );
  assert.match(final.failures[0]?.reason ?? '', /offline for the whole wave timeout \(4s\)/);
  // Back online, they find revision 2 retained on their desired topic and apply it.
  await fleet.goOnline('gw-3');
  await waitFor(() => (fleet.gateway('gw-3').deploy.status().lastGoodRevision === 2 ? true : undefined), {
    ms: 10_000,
    what: 'gw-3 on revision 2 after reconnecting',
  });
});

test('a rollout whose tool is killed mid-wave resumes from its state file and completes', async (ctx) => {
  const fleet = await simulate(ctx, 30, { startDelayMs: 300 });
  const state = path.join(ctx.dir.path, 'r1.json');
  const doc = await writeDeployment(ctx.dir.path, 1, { meter: { image: V1 } });
  const args = [
    'rollout',
    doc,
    '--broker',
    ctx.broker.url,
    '--key',
    ctx.key,
    '--kid',
    ctx.kid,
    '--group',
    'id=gw-*',
    '--waves',
    '1,50%,100%',
    '--healthy-for',
    '1s',
    '--wave-timeout',
    '15s',
    '--state',
    state,
    '--json',
  ];
  const first = spawnFleetCli(args);
  const seen = await waitFor(
    async () => {
      try {
        const s = JSON.parse(await readFile(state, 'utf8')) as RolloutState;
        return s.currentWave === 1 && s.waves[1]?.startedAt !== undefined ? s : undefined;
      } catch {
        return undefined; // not written yet
      }
    },
    { ms: 20_000, what: 'the second wave to start', intervalMs: 50 },
  );
  first.child.kill('SIGKILL');
  await withTimeout(first.exited, 5000, 'the killed tool to exit');
  assert.is(seen.phase, 'running');
  const killed = JSON.parse(await readFile(state, 'utf8')) as RolloutState;
  assert.is(killed.phase, 'running', 'the state file says the rollout was running when the tool died');

  // The same command again picks it up (the stale lock of the killed tool is taken over).
  const again = await fleetCli(args, { timeoutMs: 40_000 });
  assert.is(again.code, 0, again.stderr);
  const summary = jsonOf<RolloutSummary>(again);
  assert.is(summary.id, killed.id, 'the same rollout, not a new one');
  assert.is(summary.phase, 'completed');
  assert.is(summary.totals.healthy, 30);
  for (const id of fleet.ids) assert.is(fleet.gateway(id).deploy.status().lastGoodRevision, 1, id);
  // Revision 1 was applied once per gateway: the resumed run's publishes of the same bytes are no-ops.
  for (const id of fleet.ids) assert.is(fleet.gateway(id).deploy.list().length, 1, id);
});

test('abort --rollback while the tool runs: it stops and rolls back what went out', async (ctx) => {
  const fleet = await simulate(ctx, 12);
  const group = fleet.ids.join(',');
  const base = await rollout(ctx, await writeDeployment(ctx.dir.path, 1, { meter: { image: V1 } }), [
    '--group',
    group,
    '--waves',
    '100%',
    '--state',
    path.join(ctx.dir.path, 'r1.json'),
  ]);
  assert.is(base.code, 0, base.stderr);
  const state = path.join(ctx.dir.path, 'r2.json');
  const doc2 = await writeDeployment(ctx.dir.path, 2, { meter: { image: V2 } });
  const tool = spawnFleetCli([
    'rollout',
    doc2,
    '--broker',
    ctx.broker.url,
    '--key',
    ctx.key,
    '--group',
    group,
    '--waves',
    '2,100%',
    '--healthy-for',
    '6s', // long enough to abort while the first wave is still verifying
    '--state',
    state,
    '--json',
  ]);
  await waitFor(async () => ((await savedSummary(state))?.waves[0]?.counts.verifying === 2 ? true : undefined), {
    ms: 15_000,
    what: 'the first wave verifying',
    intervalMs: 100,
  });
  const abort = await fleetCli(['abort', state, '--rollback']);
  assert.is(abort.code, 0, abort.stderr);
  assert.is(await withTimeout(tool.exited, 25_000, 'the aborted rollout to finish'), 1, tool.output());
  const s = jsonOf<RolloutSummary>({ code: 1, signal: null, stdout: tool.output(), stderr: '' });
  assert.is(s.phase, 'rolled-back');
  assert.is(s.haltReason, 'aborted by the operator');
  assert.is(s.rollback?.counts.restored, 2);
  for (const id of ['gw-00', 'gw-01']) {
    assert.is(fleet.gateway(id).deploy.status().lastGoodRevision, 3, id);
    assert.equal(running(fleet, id), [`meter@${simulatedDigest(V1)}`], id);
  }
  assert.is(fleet.gateway('gw-05').deploy.highestRevision(), 1, 'the second wave never went out');
});

test.run();
