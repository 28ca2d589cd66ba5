import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { PENDING_SPEC_HASH, plan } from '../../../agent/src/deploy/planner.js';
import { specHash } from '../../../agent/src/deploy/spec-hash.js';
import type { CurrentContainer, DeployedApp, DeploymentDocument, Step } from '../../../agent/src/deploy/types.js';
import { DIGEST_A, DIGEST_B, ecIot } from './fixtures.js';

const test = suite('deploy: planner');

const profile = ecIot();
const IMG_A = 'reg.local/a:1';
const IMG_B = 'reg.local/b:1';
const everything = (ref: string) => ({ [IMG_A]: DIGEST_A, [IMG_B]: DIGEST_B })[ref];
const doc = (apps: Record<string, DeployedApp>, revision = 2): DeploymentDocument => ({ revision, apps });
const hash = (app: DeployedApp) => specHash(app, everything(app.image) as string, profile);
/** A container made from `spec` at revision 1; its app is its name without the slot suffix. */
const container = (name: string, spec: DeployedApp, over: Partial<CurrentContainer> = {}): CurrentContainer => ({
  container: name,
  app: name.replace(/--b$/, ''),
  revision: 1,
  specHash: hash(spec),
  status: 'running',
  ...over,
});
const run = (d: DeploymentDocument, current: CurrentContainer[], images = everything): Step[] =>
  plan(d, current, images, profile);

/** Steps in a compact form that reads like the plan: "create web--b (changed)". */
const show = (steps: Step[]) =>
  steps.map((s) => {
    if (s.kind === 'pull') return `pull ${s.image} (${s.app})`;
    const why = 'reason' in s ? ` (${s.reason})` : '';
    return `${s.kind} ${s.container}${why}`;
  });

const web: DeployedApp = { image: IMG_A, env: { MODE: 'a' } };
const db: DeployedApp = { image: IMG_B };

test('new apps: created and started, dependencies first', () => {
  const d = doc({ web: { ...web, dependsOn: ['db'] }, db, api: { image: IMG_A } });
  assert.equal(show(run(d, [])), [
    'create api (new)',
    'start api',
    'create db (new)',
    'start db',
    'create web (new)',
    'start web',
  ]);
  const create = run(d, []).find((s) => s.kind === 'create' && s.app === 'db');
  assert.equal(create, { kind: 'create', app: 'db', container: 'db', specHash: hash(db), reason: 'new' });
});

test('apps no longer in the document are stopped (when live) and removed', () => {
  const steps = run(doc({}), [
    container('old', web),
    container('idle', web, { status: 'stopped' }),
    container('fresh', web, { status: 'created' }),
    container('paused', web, { status: 'paused' }),
    container('lost', web, { status: 'missing' }),
  ]);
  assert.equal(show(steps), [
    'stop paused (removed)',
    'remove paused (removed)',
    'stop old (removed)',
    'remove old (removed)',
    'remove lost (removed)',
    'remove idle (removed)',
    'stop fresh (removed)',
    'remove fresh (removed)',
  ]);
});

test('unchanged: nothing at the same revision, keep at a new one, also when only config-like fields change', () => {
  assert.equal(run(doc({ web }, 1), [container('web', web)]), []);
  assert.equal(run(doc({ web }, 2), [container('web', web)]), [{ kind: 'keep', app: 'web', container: 'web' }]);
  const sameContainer: DeployedApp = {
    ...web,
    config: { anything: [1, 2] },
    telemetry: { t: { deadband: 1 } },
    dependsOn: [],
    update: 'start-then-stop',
    sensors: ['board-temp'],
    devices: [{ device: 'rs485-1', access: 'rw', mode: 'broker' }],
    resources: { memoryMiB: profile.appBudget.defaults.memoryMiB },
    image: `reg.local/a@${DIGEST_A}`,
  };
  const images = (ref: string) => (ref.includes(DIGEST_A) ? DIGEST_A : everything(ref));
  assert.equal(show(run(doc({ web: sameContainer }), [container('web', web)], images)), ['keep web']);
  // A paused container stays paused: the operator paused it, the document did not change it.
  assert.equal(show(run(doc({ web }), [container('web', web, { status: 'paused' })])), ['keep web']);
});

test('unchanged but stopped or only created: started', () => {
  assert.equal(show(run(doc({ web }), [container('web', web, { status: 'stopped' })])), ['start web', 'keep web']);
  assert.equal(show(run(doc({ web }, 1), [container('web', web, { status: 'created' })])), ['start web']);
});

test('a container the runtime lost is removed and made again', () => {
  assert.equal(show(run(doc({ web }), [container('web', web, { status: 'missing' })])), [
    'remove web (changed)',
    'create web (missing)',
    'start web',
  ]);
});

test('changed with stop-then-start: old out first; env, limits, image and passthrough grants are changes', () => {
  const changes: DeployedApp[] = [
    { ...web, env: { MODE: 'b' } },
    { ...web, resources: { memoryMiB: 32 } },
    { ...web, image: IMG_B },
    { ...web, devices: [{ device: 'rs485-1', access: 'rw', mode: 'passthrough' }] },
    { ...web, restart: { policy: 'always' } },
  ];
  for (const changed of changes) {
    assert.equal(
      show(run(doc({ web: changed }), [container('web', web)])),
      ['stop web (changed)', 'remove web (changed)', 'create web (changed)', 'start web'],
      JSON.stringify(changed),
    );
  }
});

test('changed with start-then-stop: new container in the other slot, then the old one goes; slots alternate', () => {
  const next: DeployedApp = { ...web, env: { MODE: 'b' }, update: 'start-then-stop' };
  assert.equal(show(run(doc({ web: next }), [container('web', web)])), [
    'create web--b (changed)',
    'start web--b',
    'stop web (changed)',
    'remove web (changed)',
  ]);
  const third: DeployedApp = { ...next, env: { MODE: 'c' } };
  assert.equal(show(run(doc({ web: third }, 3), [container('web--b', next, { revision: 2 })])), [
    'create web (changed)',
    'start web',
    'stop web--b (changed)',
    'remove web--b (changed)',
  ]);
  // Interrupted after the create: go on from there.
  const midway = [container('web', web), container('web--b', next, { status: 'created', revision: 2 })];
  assert.equal(show(run(doc({ web: next }), midway)), ['start web--b', 'stop web (changed)', 'remove web (changed)']);
});

test('images not in the store: pulled first, once per image by any spelling, before anything stops', () => {
  const d = doc({
    web: { ...web, image: 'busybox' },
    db: { image: 'docker.io/library/busybox:latest' },
    api: { image: IMG_A },
  });
  const none = () => undefined;
  const steps = run(d, [container('web', web)], none);
  assert.equal(show(steps), [
    'pull reg.local/a:1 (api)',
    'pull docker.io/library/busybox:latest (db)',
    'stop web (changed)',
    'remove web (changed)',
    'create api (new)',
    'start api',
    'create db (new)',
    'start db',
    'create web (changed)',
    'start web',
  ]);
  assert.ok(
    steps.every((s) => s.kind !== 'create' || s.specHash === PENDING_SPEC_HASH),
    'creates wait for the digest',
  );
});

test('order: removed apps, then changed apps stop dependents first, then creates dependencies first', () => {
  const d = doc({
    db: { ...db, env: { V: '2' } },
    web: { ...web, env: { V: '2' }, dependsOn: ['db'] },
    edge: { image: IMG_A, dependsOn: ['web'] },
  });
  const current = [container('db', db), container('web', web), container('legacy', web)];
  assert.equal(show(run(d, current)), [
    'stop legacy (removed)',
    'remove legacy (removed)',
    'stop web (changed)',
    'remove web (changed)',
    'stop db (changed)',
    'remove db (changed)',
    'create db (changed)',
    'start db',
    'create web (changed)',
    'start web',
    'create edge (new)',
    'start edge',
  ]);
});

test('the same inputs give the same plan, whatever the order of the containers', () => {
  const d = doc({ a: web, b: { ...db, update: 'start-then-stop', env: { X: '1' } }, c: web });
  const current = [
    container('b', db),
    container('x', web),
    container('a', web, { status: 'stopped' }),
    container('c', db, { status: 'missing' }),
    container('y', web, { status: 'created' }),
  ];
  const first = run(d, current);
  for (let i = 0; i < 10; i++) {
    const shuffled = [...current].sort(() => (i % 2 === 0 ? 1 : -1) * (Math.random() - 0.5));
    assert.equal(run(d, shuffled), first);
  }
});

test('a dependency cycle (refused by validation) still gives a complete, stable plan', () => {
  const d = doc({
    a: { ...web, dependsOn: ['b'] },
    b: { ...db, dependsOn: ['a', 'ghost'] },
    c: { ...web, dependsOn: ['a'] },
  });
  assert.equal(show(run(d, [])), [
    'create a (new)',
    'start a',
    'create b (new)',
    'start b',
    'create c (new)',
    'start c',
  ]);
});

test('spec hash: only what the container is made of', () => {
  const h = (a: DeployedApp, digest = DIGEST_A) => specHash(a, digest, profile);
  assert.is(h({ image: 'x' }), h({ image: 'y' }), 'the digest counts, not the reference');
  assert.is.not(h({ image: 'x' }), h({ image: 'x' }, DIGEST_B));
  assert.is(h({ image: 'x', env: { A: '1', B: '2' } }), h({ image: 'x', env: { B: '2', A: '1' } }));
  assert.is(h({ image: 'x', env: {} }), h({ image: 'x' }));
  assert.is(h({ image: 'x', resources: {} }), h({ image: 'x', resources: { cpus: profile.appBudget.defaults.cpus } }));
  assert.is.not(h({ image: 'x', command: [] }), h({ image: 'x' }), 'an empty command is not the image default');
  assert.is.not(h({ image: 'x', healthCheck: { command: ['true'] } }), h({ image: 'x' }));
  assert.is(h({ image: 'x', network: 'none', readOnlyRootfs: false }), h({ image: 'x' }));
  const grant = (mode: 'broker' | 'passthrough', access: 'r' | 'rw' = 'rw') => ({
    image: 'x',
    devices: [{ device: 'rs485-1', access, mode }],
  });
  assert.is(h(grant('broker')), h({ image: 'x' }), 'broker grants are the eSDK server business');
  assert.is.not(h(grant('passthrough')), h({ image: 'x' }));
  assert.is.not(h(grant('passthrough', 'r')), h(grant('passthrough', 'rw')));
  const otherPath = ecIot();
  (otherPath.serialPorts?.[0] as { path: string }).path = '/dev/ttyUSB0';
  assert.is.not(specHash(grant('passthrough'), DIGEST_A, otherPath), h(grant('passthrough')));
  const otherDefaults = ecIot();
  otherDefaults.appBudget.defaults.memoryMiB = 32;
  assert.is.not(specHash({ image: 'x' }, DIGEST_A, otherDefaults), h({ image: 'x' }), 'a new default is a new limit');
  assert.match(h({ image: 'x' }), /^sha256:[0-9a-f]{64}$/);
});

test.run();
