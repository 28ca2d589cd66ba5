/**
 * The planner's contract with apply, over generated cases: executing any
 * prefix of a plan and planning again gives the rest of the plan; repeating
 * plan-then-first-step reaches exactly the desired state; start-then-stop apps
 * never stop serving; dependencies start first; input order does not matter.
 */
import fc from 'fast-check';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { plan } from '../../../agent/src/deploy/planner.js';
import { specHash } from '../../../agent/src/deploy/spec-hash.js';
import type { CurrentContainer, DeployedApp, DeploymentDocument, Step } from '../../../agent/src/deploy/types.js';
import { SimRuntime, type SimState } from '../../helpers/deploy-sim.js';
import { ecIot } from './fixtures.js';

const test = suite('deploy: planner properties');

const profile = ecIot();
const NAMES = ['api', 'db', 'edge', 'meter'] as const;
const IMAGES = ['reg.local/a:1', 'reg.local/b:1', 'reg.local/c:2'] as const;
const digest = (c: string) => `sha256:${c.repeat(64)}`;
const registry = new Map<string, string>([
  [IMAGES[0], digest('a')],
  [IMAGES[1], digest('b')],
  [IMAGES[2], digest('c')],
]);
/** What an image was before its tag moved: containers made from it are out of date. */
const OLD_DIGEST = digest('0');
const sim = new SimRuntime(registry, profile);

const strip = <T extends object>(o: T): T =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;

/** An app; it may depend only on names after its own, so documents are acyclic but not in name order. */
const appArb = (name: string): fc.Arbitrary<DeployedApp> =>
  fc
    .record({
      image: fc.constantFrom(...IMAGES),
      env: fc.option(fc.constantFrom({ LEVEL: 'info' }, { LEVEL: 'debug' }), { nil: undefined }),
      resources: fc.option(fc.constantFrom({ memoryMiB: 16 }, { memoryMiB: 32, cpus: 0.1 }), { nil: undefined }),
      config: fc.option(fc.constantFrom({ v: 1 }, { v: 2 }), { nil: undefined }),
      telemetry: fc.option(fc.constantFrom({ t: { deadband: 1 } }, { t: { deadband: 2 } }), { nil: undefined }),
      update: fc.constantFrom(undefined, 'stop-then-start' as const, 'start-then-stop' as const),
      dependsOn: fc.subarray(NAMES.slice(NAMES.indexOf(name as (typeof NAMES)[number]) + 1) as string[]),
    })
    .map(strip);

/** What changed since the container was made; 'absent' = the app had no container. */
const CHANGES = ['same', 'same', 'config', 'env', 'image', 'limits', 'tag-moved', 'absent'] as const;
const STATUSES = ['running', 'running', 'running', 'stopped', 'created', 'paused', 'missing'] as const;

interface Case {
  desired: DeploymentDocument;
  start: SimState;
}

const caseArb: fc.Arbitrary<Case> = fc
  .record({
    chosen: fc.subarray([...NAMES]),
    apps: fc.record(Object.fromEntries(NAMES.map((n) => [n, appArb(n)])) as Record<string, fc.Arbitrary<DeployedApp>>),
    history: fc.array(
      fc.record({
        change: fc.constantFrom(...CHANGES),
        status: fc.constantFrom(...STATUSES),
        slotB: fc.boolean(),
        sameRevision: fc.boolean(),
        /** A second container in the other slot: an interrupted start-then-stop. */
        leftover: fc.option(fc.record({ status: fc.constantFrom(...STATUSES), current: fc.boolean() }), {
          nil: undefined,
        }),
      }),
      { minLength: NAMES.length, maxLength: NAMES.length },
    ),
    local: fc.subarray([...IMAGES]),
  })
  .map(({ chosen, apps, history, local }) => {
    const revision = 5;
    const desiredApps: Record<string, DeployedApp> = {};
    for (const n of chosen) {
      const app = apps[n] as DeployedApp;
      desiredApps[n] = { ...app, dependsOn: (app.dependsOn ?? []).filter((d) => chosen.includes(d as never)) };
    }
    const containers: CurrentContainer[] = [];
    NAMES.forEach((n, i) => {
      const h = history[i] as (typeof history)[number];
      if (h.change === 'absent') return;
      // Removed apps (not chosen) had some container too.
      const now = desiredApps[n] ?? (apps[n] as DeployedApp);
      const before: DeployedApp = {
        ...now,
        ...(h.change === 'config' ? { config: { v: 99 } } : {}),
        ...(h.change === 'env' ? { env: { LEVEL: 'trace' } } : {}),
        ...(h.change === 'image' ? { image: now.image === IMAGES[0] ? IMAGES[1] : IMAGES[0] } : {}),
        ...(h.change === 'limits' ? { resources: { memoryMiB: 8 } } : {}),
      };
      const made = h.change === 'tag-moved' ? OLD_DIGEST : (registry.get(before.image) as string);
      const name = h.slotB ? `${n}--b` : n;
      containers.push({
        container: name,
        app: n,
        revision: h.sameRevision ? revision : revision - 1,
        specHash: specHash(before, made, profile),
        status: h.status,
      });
      if (h.leftover) {
        const other = h.slotB ? n : `${n}--b`;
        const leftoverHash = h.leftover.current ? specHash(now, registry.get(now.image) as string, profile) : 'x';
        containers.push({ container: other, app: n, revision, specHash: leftoverHash, status: h.leftover.status });
      }
    });
    const start: SimState = {
      containers,
      local: new Map(local.map((ref) => [ref, registry.get(ref) as string])),
    };
    return { desired: { revision, apps: desiredApps }, start };
  });

const planFor = (desired: DeploymentDocument, s: SimState) => plan(desired, s.containers, sim.resolver(s), profile);

/** A create's reason may read 'new' once the old container is gone: the rest is equal. */
const normal = (steps: Step[]) => steps.map((s) => (s.kind === 'create' ? { ...s, reason: 'any' } : s));

function afterPulls(desired: DeploymentDocument, start: SimState): SimState {
  let state = start;
  for (const s of planFor(desired, start).filter((x) => x.kind === 'pull')) state = sim.apply(state, s, desired);
  return state;
}

/** Apply plan-then-first-step until the plan is empty; every state on the way. */
function converge(desired: DeploymentDocument, start: SimState): SimState[] {
  const states = [start];
  for (let i = 0; i < 60; i++) {
    const state = states[states.length - 1] as SimState;
    const steps = planFor(desired, state);
    const firstOther = steps.findIndex((s) => s.kind !== 'pull');
    assert.ok(
      steps.slice(firstOther === -1 ? steps.length : firstOther).every((s) => s.kind !== 'pull'),
      'pulls come first',
    );
    const step = steps[0];
    if (!step) return states;
    states.push(sim.apply(state, step, desired));
  }
  assert.unreachable('no convergence in 60 steps');
  return states;
}

function assertDesired(desired: DeploymentDocument, start: SimState, end: SimState) {
  const byApp = new Map<string, CurrentContainer[]>();
  for (const c of end.containers) byApp.set(c.app, [...(byApp.get(c.app) ?? []), c]);
  assert.equal([...byApp.keys()].sort(), Object.keys(desired.apps).sort(), 'exactly the desired apps');
  for (const [name, app] of Object.entries(desired.apps)) {
    const cs = byApp.get(name) ?? [];
    assert.is(cs.length, 1, `${name}: one container`);
    const c = cs[0] as CurrentContainer;
    assert.is(c.specHash, specHash(app, registry.get(app.image) as string, profile), `${name}: made from the document`);
    assert.is(c.revision, desired.revision, `${name}: at the new revision`);
    const wasPaused = start.containers.some((s) => s.container === c.container && s.status === 'paused');
    assert.ok(c.status === 'running' || (c.status === 'paused' && wasPaused), `${name}: running (is ${c.status})`);
  }
}

const RUNS = { numRuns: 400, seed: 20261123 };

test('repeating plan-then-one-step reaches exactly the desired state', () => {
  fc.assert(
    fc.property(caseArb, ({ desired, start }) => {
      const states = converge(desired, start);
      assertDesired(desired, start, states[states.length - 1] as SimState);
    }),
    RUNS,
  );
});

test('after any prefix of a plan, planning again gives the rest of it', () => {
  fc.assert(
    fc.property(caseArb, ({ desired, start }) => {
      // Pulls add knowledge (digests), so the exact property holds from the state after them.
      let state = afterPulls(desired, start);
      const steps = planFor(desired, state);
      assert.ok(
        steps.every((s) => s.kind !== 'pull'),
        'nothing left to pull',
      );
      for (let k = 0; k <= steps.length; k++) {
        assert.equal(normal(planFor(desired, state)), normal(steps.slice(k)), `re-plan after ${k} steps`);
        const next = steps[k];
        if (next) state = sim.apply(state, next, desired);
      }
      assertDesired(desired, start, state);
    }),
    RUNS,
  );
});

test('start-then-stop apps keep serving; at most one extra app runs twice; dependencies start first', () => {
  fc.assert(
    fc.property(caseArb, ({ desired, start }) => {
      const serving = (s: SimState, app: string) =>
        s.containers.some((c) => c.app === app && (c.status === 'running' || c.status === 'paused'));
      const doubled = (s: SimState) =>
        new Set(
          s.containers
            .filter((c) => c.status === 'running' || c.status === 'paused' || c.status === 'created')
            .map((c) => c.app)
            .filter((a, i, all) => all.indexOf(a) !== i),
        ).size;
      const states = converge(desired, start);
      const watched = Object.entries(desired.apps)
        .filter(([name, app]) => app.update === 'start-then-stop' && serving(start, name))
        .map(([name]) => name);
      for (const s of states) {
        for (const name of watched) assert.ok(serving(s, name), `${name} kept serving`);
        assert.ok(doubled(s) <= doubled(start) + 1, 'one switch at a time');
      }
      const steps = planFor(desired, afterPulls(desired, start));
      const startAt = (app: string) => steps.findIndex((s) => s.kind === 'start' && s.app === app);
      for (const [name, app] of Object.entries(desired.apps)) {
        for (const dep of app.dependsOn ?? []) {
          if (startAt(name) >= 0 && startAt(dep) >= 0) assert.ok(startAt(dep) < startAt(name), `${dep} before ${name}`);
        }
      }
    }),
    RUNS,
  );
});

test('the order of the current containers does not change the plan', () => {
  fc.assert(
    fc.property(caseArb, fc.nat(), ({ desired, start }, seed) => {
      const rotated = start.containers.map((_, i, all) => all[(i + seed) % all.length] as CurrentContainer).reverse();
      assert.equal(planFor(desired, { ...start, containers: rotated }), planFor(desired, start));
    }),
    RUNS,
  );
});

test.run();
