import { createHash } from 'node:crypto';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  type Action,
  advance,
  createRollout,
  type DeviceObservation,
  judge,
  type RolloutPolicy,
  type RolloutState,
  resume,
  rollbackDocument,
} from '../../../scripts/fleet/rollout-machine.js';
import { parseWaves } from '../../../scripts/fleet/rollout-plan.js';

const test = suite('fleet: the rollout state machine');

const N = 7;
const PREV = `${JSON.stringify({ revision: 6, apps: { web: { image: 'reg/web:1' } } }, null, 2)}\n`;
const sha = (t: string) => createHash('sha256').update(t).digest('hex');
const ids = (n: number) => Array.from({ length: n }, (_, i) => `gw-${String(i).padStart(2, '0')}`);

function rollout(devices: string[], policy: Partial<RolloutPolicy> = {}, waves = '1,10%,50%,100%'): RolloutState {
  return createRollout({
    id: 'r1',
    now: 0,
    revision: N,
    document: JSON.stringify({ revision: N, apps: { web: { image: 'reg/web:2' } } }),
    documentFile: 'web-2.json',
    kid: 'k1',
    keyFile: '/keys/k1.key',
    group: 'test',
    devices,
    waves: parseWaves(waves),
    policy: {
      waves,
      maxFailures: '5%',
      waveTimeoutMs: 60_000,
      healthyForMs: 1_000,
      rollbackOnHalt: false,
      ...policy,
    },
    previous: new Map(devices.map((id) => [id, PREV])),
    hash: sha,
  });
}

const online = (rev: number | undefined, extra: Partial<DeviceObservation> = {}): DeviceObservation => ({
  online: true,
  deployment: rev === undefined ? { applying: false } : { revision: rev, target: rev, highest: rev, applying: false },
  apps: [{ name: 'web', revision: N, state: 'running' }],
  events: [],
  ...extra,
});
const healthy = (rev: number) => online(rev);
const applying = (rev: number): DeviceObservation => ({
  online: true,
  deployment: { revision: 6, target: rev, highest: rev, applying: true },
  apps: [{ name: 'web', revision: N, state: 'created' }],
  events: [],
});
const rolledBack = (rev: number): DeviceObservation => ({
  online: true,
  deployment: {
    revision: 6,
    target: 6,
    highest: rev,
    applying: false,
    last: { revision: rev, status: 'rolled-back', reasons: ['web exited with code 1'] },
  },
  apps: [{ name: 'web', revision: N, state: 'running' }],
  events: [],
});

/** Drive the machine: each call sets observations and advances to `t`. */
function driver(start: RolloutState) {
  let state = start;
  const obs = new Map<string, DeviceObservation>();
  const actions: Action[] = [];
  return {
    obs,
    actions,
    get state() {
      return state;
    },
    at(t: number, input = {}) {
      const step = advance(state, obs, t, input);
      state = step.state;
      actions.push(...step.actions);
      return step;
    },
    set(idsToSet: string[], o: DeviceObservation) {
      for (const id of idsToSet) obs.set(id, o);
    },
  };
}

const count = (s: RolloutState, st: string) => Object.values(s.devices).filter((d) => d.state === st).length;
const targets = (actions: Action[]) =>
  actions.flatMap((a) => (a.kind === 'publish-target' ? a.devices : [])).sort() as string[];

test('waves go out one after another once each is healthy for the window', () => {
  const devices = ids(20);
  const d = driver(rollout(devices));
  assert.equal(
    d.state.waves.map((w) => w.devices.length),
    [1, 1, 8, 10],
  );
  d.at(0);
  assert.equal(targets(d.actions), ['gw-00'], 'the canary first');
  d.set(['gw-00'], applying(N));
  d.at(100);
  assert.is(d.state.devices['gw-00']?.state, 'applying');
  d.set(['gw-00'], healthy(N));
  d.at(200);
  assert.is(d.state.devices['gw-00']?.state, 'verifying');
  d.at(1_100);
  assert.is(d.state.devices['gw-00']?.state, 'verifying', 'not yet held for 1 s');
  d.at(1_200);
  assert.is(d.state.devices['gw-00']?.state, 'healthy');
  assert.is(d.state.currentWave, 1, 'the next wave started at once');
  assert.equal(targets(d.actions), ['gw-00', 'gw-01']);
  d.set(devices, healthy(N));
  for (let t = 1_300; d.state.phase === 'running' && t < 20_000; t += 600) d.at(t);
  assert.is(d.state.phase, 'completed');
  assert.is(count(d.state, 'healthy'), 20);
  assert.equal(targets(d.actions), devices, 'every gateway published to exactly once');
  assert.ok(d.state.waves.every((w) => w.finishedAt !== undefined));
});

test('a break in health restarts the held-healthy window', () => {
  const d = driver(rollout(['a'], { healthyForMs: 1_000 }));
  d.set(['a'], healthy(N));
  d.at(0);
  d.at(900);
  assert.is(d.state.devices.a?.state, 'verifying');
  d.set(['a'], online(N, { apps: [{ name: 'web', revision: N, state: 'stopped' }] }));
  d.at(950);
  assert.is(d.state.devices.a?.state, 'applying');
  d.set(['a'], online(N, { apps: [{ name: 'web', revision: N, state: 'running', health: 'healthy' }] }));
  d.at(1_000);
  d.at(1_900);
  assert.is(d.state.devices.a?.state, 'verifying');
  d.at(2_000);
  assert.is(d.state.phase, 'completed');
});

test('failures over the budget halt the rollout; no more waves go out', () => {
  // 50 gateways in 3 waves (5, 15, 30); 3 of the second wave roll back: 3 of 20 published > 5% (1 allowed).
  const devices = ids(50);
  const d = driver(rollout(devices, { healthyForMs: 0 }, '5,20,100%'));
  d.set(devices, healthy(6));
  d.set(devices.slice(0, 5), healthy(N));
  d.at(0);
  assert.is(d.state.currentWave, 1);
  const wave2 = d.state.waves[1]?.devices ?? [];
  d.set(wave2, applying(N));
  d.at(100);
  d.set(wave2.slice(0, 12), healthy(N));
  d.set(wave2.slice(12, 13), rolledBack(N));
  d.at(200);
  assert.is(d.state.phase, 'running', 'one failure of 20 is within 5%');
  d.set(wave2.slice(13), rolledBack(N));
  d.at(300);
  assert.is(d.state.phase, 'halted');
  assert.match(d.state.haltReason ?? '', /3 of 20 gateways failed, over the budget of 5% \(1 allowed\)/);
  assert.is(count(d.state, 'rolled-back'), 3);
  assert.is(d.state.devices[wave2[14] as string]?.reason, 'web exited with code 1');
  assert.is(targets(d.actions).length, 20, 'the third wave never went out');
  const after = d.at(60_000);
  assert.equal(after.actions, [], 'a halted rollout does nothing more');
});

test('with rollbackOnHalt every gateway published to gets the previous document under a new, higher revision', () => {
  const devices = ids(10);
  const d = driver(rollout(devices, { healthyForMs: 0, rollbackOnHalt: true, maxFailures: '0' }, '2,100%'));
  d.set(devices, healthy(6));
  d.at(0);
  d.set(['gw-00'], healthy(N));
  // gw-01 already reports a rollback revision from an earlier attempt: the new one must be above it.
  d.set(['gw-01'], { ...rolledBack(N), deployment: { ...rolledBack(N).deployment, highest: 9 } });
  const step = d.at(100);
  assert.is(d.state.phase, 'rolling-back');
  const rb = step.actions.find((a) => a.kind === 'publish-rollback');
  assert.ok(rb && rb.kind === 'publish-rollback');
  assert.is(rb.revision, 10);
  assert.equal(
    rb.devices.map((x) => x.id),
    ['gw-00', 'gw-01'],
  );
  const doc = JSON.parse(rollbackDocument(d.state, rb.devices[0]?.previous ?? null, rb.revision));
  assert.equal(doc, { revision: 10, apps: { web: { image: 'reg/web:1' } } });
  assert.equal(JSON.parse(rollbackDocument(d.state, null, 10)), { revision: 10, apps: {} });

  d.set(['gw-00', 'gw-01'], healthy(10));
  d.at(200);
  assert.is(d.state.phase, 'rolled-back');
  assert.equal(
    ['gw-00', 'gw-01'].map((id) => d.state.devices[id]?.restore?.state),
    ['restored', 'restored'],
  );
  assert.is(d.state.devices['gw-05']?.restore, undefined, 'never published to, never rolled back');
});

test('a rollback that does not take is reported per gateway: failed or timed out', () => {
  const devices = ids(3);
  const d = driver(rollout(devices, { healthyForMs: 0, rollbackOnHalt: true, maxFailures: '0' }, '100%'));
  d.at(0);
  d.set(['gw-00'], rolledBack(N));
  d.at(100);
  assert.is(d.state.rollback?.revision, N + 1);
  d.set(['gw-00'], healthy(N + 1));
  d.set(['gw-01'], {
    ...healthy(6),
    events: [{ type: 'rejected', reason: 'bad-signature', detail: 'nope', receivedAt: 150 }],
  });
  d.at(200);
  assert.is(d.state.devices['gw-01']?.restore?.state, 'failed');
  assert.match(d.state.devices['gw-01']?.restore?.reason ?? '', /bad-signature/);
  assert.is(d.state.phase, 'rolling-back', 'gw-02 is still pending');
  d.at(100 + 60_000);
  assert.is(d.state.devices['gw-02']?.restore?.state, 'timed-out');
  assert.is(d.state.phase, 'rolled-back');
});

test('offline gateways are pending until the wave timeout, then timed out (failures)', () => {
  const devices = ids(10);
  const d = driver(rollout(devices, { healthyForMs: 0, maxFailures: '2', waveTimeoutMs: 5_000 }, '100%'));
  d.set(devices.slice(0, 8), healthy(N));
  d.set(['gw-08', 'gw-09'], { online: false, events: [] });
  d.at(0);
  d.at(4_999);
  assert.is(d.state.devices['gw-08']?.state, 'pending');
  assert.is(d.state.phase, 'running');
  d.at(5_000);
  assert.is(d.state.devices['gw-08']?.state, 'timed-out');
  assert.match(d.state.devices['gw-08']?.reason ?? '', /offline for the whole wave timeout \(5s\)/);
  assert.is(d.state.phase, 'completed', 'two timed out is within a budget of 2');

  const strict = driver(rollout(devices, { healthyForMs: 0, maxFailures: '1', waveTimeoutMs: 5_000 }, '100%'));
  strict.set(devices.slice(0, 8), healthy(N));
  strict.at(0);
  strict.at(5_000);
  assert.is(strict.state.phase, 'halted');
  assert.is(count(strict.state, 'timed-out'), 2, 'never seen at all: timed out as well');
});

test('judge: events, refusals and reports', () => {
  const base = healthy(6);
  assert.equal(judge(undefined, N), { kind: 'pending' });
  assert.equal(judge(base, N), { kind: 'pending' });
  // A rejected event without a revision counts only after our publish.
  const rej = (receivedAt: number, revision?: number): DeviceObservation => ({
    ...base,
    events: [
      { type: 'rejected', reason: 'unknown-key', detail: 'key k9', receivedAt, ...(revision ? { revision } : {}) },
    ],
  });
  assert.is(judge(rej(5), N, 10).kind, 'pending');
  assert.equal(judge(rej(15), N, 10), { kind: 'failed', reason: 'rejected (unknown-key): key k9' });
  assert.is(judge(rej(5, N), N, 10).kind, 'failed');
  assert.is(judge(rej(15, N - 1), N, 10).kind, 'pending', 'a refusal of another revision is not ours');
  const event = (outcome: string): DeviceObservation => ({
    ...base,
    events: [{ type: 'deployment', revision: N, outcome, reasons: ['x'], receivedAt: 1 }],
  });
  assert.is(judge(event('rolled-back'), N).kind, 'rolled-back');
  assert.is(judge(event('failed'), N).kind, 'failed');
  assert.is(judge(event('refused'), N).kind, 'failed');
  assert.is(judge(event('applied'), N).kind, 'pending', 'applied is not healthy until the report says so');
  assert.equal(judge(online(12), N), {
    kind: 'failed',
    reason: 'the gateway already accepted revision 12, above 7',
  });
  assert.is(
    judge(online(N, { apps: [{ name: 'web', revision: N, state: 'running', health: 'unhealthy' }] }), N).kind,
    'applying',
  );
  assert.is(judge(online(N, { apps: [] }), N).kind, 'healthy', 'a deployment of no apps is healthy when it runs');
});

test('resume publishes the current wave again and restarts held-healthy windows', () => {
  const devices = ids(4);
  const d = driver(rollout(devices, { healthyForMs: 1_000 }, '1,100%'));
  d.set(devices, healthy(N));
  d.at(0);
  d.at(1_000);
  assert.is(d.state.currentWave, 1);
  d.set(['gw-01'], applying(N));
  d.at(1_500);
  const saved = JSON.parse(JSON.stringify(d.state)) as RolloutState; // through JSON, as the state file
  assert.is(saved.devices['gw-02']?.state, 'verifying');

  const resumed = resume(saved, 10_000);
  assert.equal(resumed.actions, [{ kind: 'publish-target', devices: ['gw-01', 'gw-02', 'gw-03'] }]);
  assert.is(resumed.state.devices['gw-02']?.state, 'applying', 'the window starts over');
  assert.is(resumed.state.devices['gw-00']?.state, 'healthy', 'finished gateways stay finished');

  const r = driver(resumed.state);
  r.set(devices, healthy(N));
  r.at(10_000);
  assert.is(r.state.phase, 'running');
  r.at(11_000);
  assert.is(r.state.phase, 'completed');
  assert.equal(r.actions, [], 'nothing published twice after the resume');
});

test('resume after a long gap: the wave timeout starts again, healthy gateways are not timed out', () => {
  const devices = ids(4);
  const d = driver(rollout(devices, { healthyForMs: 2_000, waveTimeoutMs: 10_000 }, '100%'));
  d.set(devices, healthy(N));
  d.at(0);
  d.at(500);
  const saved = JSON.parse(JSON.stringify(d.state)) as RolloutState;
  // The tool was away for far longer than the wave timeout.
  const resumed = resume(saved, 60_000);
  const r = driver(resumed.state);
  r.set(devices, healthy(N));
  r.at(60_000);
  assert.is(r.state.phase, 'running', 'nothing timed out at the first tick');
  r.at(62_000);
  assert.is(r.state.phase, 'completed');
});

test('resume while rolling back publishes the rollback again to those not back yet', () => {
  const devices = ids(3);
  const d = driver(rollout(devices, { healthyForMs: 0, rollbackOnHalt: true, maxFailures: '0' }, '100%'));
  d.at(0);
  d.set(['gw-00'], rolledBack(N));
  d.at(10);
  d.set(['gw-00'], healthy(N + 1));
  d.at(20);
  const { actions } = resume(JSON.parse(JSON.stringify(d.state)) as RolloutState, 30);
  assert.equal(actions, [
    {
      kind: 'publish-rollback',
      revision: N + 1,
      devices: [
        { id: 'gw-01', previous: sha(PREV) },
        { id: 'gw-02', previous: sha(PREV) },
      ],
    },
  ]);
});

test('abort: stops where it is, or rolls back what went out when asked', () => {
  const devices = ids(5);
  const a = driver(rollout(devices, {}, '1,100%'));
  a.at(0);
  a.at(10, { abort: { rollback: false } });
  assert.is(a.state.phase, 'aborted');
  assert.is(a.state.haltReason, 'aborted by the operator');

  const b = driver(rollout(devices, {}, '1,100%'));
  b.at(0);
  const step = b.at(10, { abort: { rollback: true } });
  assert.is(b.state.phase, 'rolling-back');
  assert.equal(
    step.actions.map((x) => x.kind),
    ['publish-rollback'],
  );

  const c = driver(rollout(devices, {}, '1,100%'));
  c.at(0, { abort: { rollback: true } });
  assert.is(c.state.phase, 'aborted', 'nothing went out: nothing to roll back');
});

test('advance never mutates its input, and seq moves only on a change', () => {
  const start = rollout(ids(3), {}, '100%');
  const frozen = JSON.stringify(start);
  const obs = new Map([['gw-00', healthy(N)]]);
  const s1 = advance(start, obs, 0);
  assert.is(JSON.stringify(start), frozen);
  assert.is(s1.state.seq, 1);
  const s2 = advance(s1.state, obs, 1);
  assert.is(s2.state.seq, 1, 'nothing changed');
  const s3 = advance(s2.state, obs, 2_000);
  assert.is(s3.state.seq, 2);
});

test('an empty group completes at once', () => {
  const s = rollout([]);
  assert.is(s.phase, 'completed');
  assert.equal(advance(s, new Map(), 0).actions, []);
});

test.run();
