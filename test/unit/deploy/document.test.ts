import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { ValidationIssue } from '../../../agent/src/config/json-document.js';
import {
  checkDeployment,
  deploymentToAppSpec,
  parseDeployment,
  validateDeployment,
} from '../../../agent/src/deploy/document.js';
import type { DeployedApp, DeploymentDocument } from '../../../agent/src/deploy/types.js';
import { isGantryError } from '../../../agent/src/errors.js';
import { DIGEST_A, ecIot } from './fixtures.js';

const test = suite('deploy: document');

const doc = (apps: Record<string, DeployedApp>, revision = 1): DeploymentDocument => ({ revision, apps });
const img = (name: string) => `reg.local/${name}@${DIGEST_A}`;
const rules = (d: DeploymentDocument, profile = ecIot(), opts = {}) =>
  validateDeployment(d, profile, opts).map((i) => `${i.path}: ${i.message}`);

/** The invalid error's message (fails if fn does not throw one). */
function refusal(fn: () => unknown): { message: string; issues: ValidationIssue[] } {
  try {
    fn();
  } catch (e) {
    assert.ok(isGantryError(e, 'invalid'), `expected an invalid GantryError, got ${String(e)}`);
    return { message: e.message, issues: e.details as ValidationIssue[] };
  }
  assert.unreachable('the document was accepted');
  return { message: '', issues: [] };
}

test('a full document parses, and the same text comes back as the typed document', () => {
  const d: DeploymentDocument = {
    $schema: './deployment.schema.json',
    revision: 7,
    description: 'meters and a relay controller',
    rollout: { healthyWithinSec: 30, rollbackOnFailure: true },
    apps: {
      meter: {
        image: img('meter'),
        command: ['node', 'main.js'],
        env: { LOG_LEVEL: 'info' },
        resources: { memoryMiB: 64, cpus: 0.5, pids: 32, cpuset: '0-1', ioWeight: 100 },
        devices: [{ device: 'rs485-1', access: 'rw', mode: 'passthrough' }],
        sensors: ['board-temp'],
        config: { slaves: [1, 2, 3], poll: { everySec: 5 } },
        restart: { policy: 'on-failure', maxRetries: 5 },
        healthCheck: { command: ['/bin/true'], intervalSec: 5, timeoutSec: 1, retries: 3, startPeriodSec: 2 },
        network: 'none',
        readOnlyRootfs: true,
        volumes: [{ name: 'meter-data', target: '/data' }],
        telemetry: {
          'energy.kwh': { deadband: 0.1, minIntervalSec: 10, priority: 5, ttlSec: 86400, batch: 10 },
          temp: { windowSec: 60, thresholds: [{ above: 70, name: 'hot' }, { below: -10 }] },
        },
        update: 'stop-then-start',
      },
      relays: {
        image: 'reg.local/relays:2',
        devices: [
          { device: 'do-1', access: 'rw', mode: 'broker' },
          { device: 'di-1', access: 'r', mode: 'broker' },
          { device: 'rs485-2', access: 'rw', mode: 'broker' },
        ],
        dependsOn: ['meter'],
        update: 'start-then-stop',
        workingDir: '/app',
        user: '1000:1000',
        entrypoint: ['/bin/sh', '-c'],
      },
    },
  };
  const parsed = parseDeployment(JSON.stringify(d, null, 2), 'd.json');
  assert.equal(parsed, d);
  assert.equal(rules(parsed), []);
  assert.equal(checkDeployment(JSON.stringify(d), 'd.json', ecIot(), { requireDigests: false }), d);
});

test('broken JSON is one issue at its line and column', () => {
  const { message, issues } = refusal(() => parseDeployment('{\n  "revision": 1,\n  "apps": {,}\n}', 'site.json'));
  assert.is(issues.length, 1);
  assert.match(message, /^deployment site\.json is invalid:\n {2}site\.json:3:12: \(document\): invalid JSON: /);
});

test('schema issues: every one listed with line:col and pointer, names said in words', () => {
  const text = `{
  "revision": 0,
  "apps": {
    "web--b": { "image": "x" },
    "meter": {
      "image": "reg.local/meter:1",
      "workingDir": "app",
      "env": { "1BAD": "x" },
      "devices": [{ "device": "rs485-1", "access": "rw", "mode": "tunnel" }],
      "resources": { "cpuset": "0-" },
      "telemetry": { "a/b": {}, "ok": { "priority": 12 } },
      "colour": "blue"
    }
  }
}`;
  const { message } = refusal(() => parseDeployment(text, 'site.json'));
  const lines = message
    .split('\n')
    .slice(1)
    .map((l) => l.trim());
  assert.equal(lines.sort(), [
    'site.json:10:32: /apps/meter/resources/cpuset: must be a CPU list like "0-1" or "0,2"',
    'site.json:11:22: /apps/meter/telemetry/a~1b: telemetry stream name "a/b" is not valid: letters, digits, "." "_" "-", starting with a letter or digit, at most 64 characters',
    'site.json:11:53: /apps/meter/telemetry/ok/priority: must be <= 9',
    'site.json:12:7: /apps/meter/colour: is not a known property',
    'site.json:2:15: /revision: must be >= 1',
    'site.json:4:5: /apps/web--b: app name "web--b" is not valid: lowercase letters, digits and single inner dashes (no "--"), at most 60 characters',
    'site.json:7:21: /apps/meter/workingDir: must be an absolute path',
    'site.json:8:16: /apps/meter/env/1BAD: environment variable name "1BAD" is not valid: letters, digits and _, not starting with a digit',
    'site.json:9:66: /apps/meter/devices/0/mode: must be one of "broker", "passthrough"',
  ]);
});

test('schema: required fields, long app names, dependsOn names, restart shape', () => {
  const long = 'a'.repeat(61);
  const { issues } = refusal(() =>
    parseDeployment(
      JSON.stringify({
        apps: {
          [long]: { image: 'x' },
          b: { dependsOn: ['Up--per'], restart: { policy: 'sometimes' }, healthCheck: { command: [] } },
        },
      }),
      's.json',
    ),
  );
  const got = issues.map((i) => `${i.path}: ${i.message}`).sort();
  assert.equal(got, [
    `/apps/${long}: app name "${long}" is not valid: lowercase letters, digits and single inner dashes (no "--"), at most 60 characters`,
    '/apps/b/dependsOn/0: must be an app name: lowercase letters, digits and single inner dashes (no "--"), at most 60 characters',
    '/apps/b/healthCheck/command: must NOT have fewer than 1 items',
    '/apps/b/image: is required',
    '/apps/b/restart/policy: must be one of "always", "on-failure", "never"',
    '/revision: is required',
  ]);
});

test('unknown device names list what the profile has; sensors and devices are not mixed up', () => {
  const got = rules(
    doc({
      a: {
        image: img('a'),
        devices: [
          { device: 'rs485-9', access: 'rw', mode: 'broker' },
          { device: 'board-temp', access: 'r', mode: 'broker' },
        ],
        sensors: ['cpu-load', 'humidity', 'rs485-1'],
      },
    }),
  );
  assert.equal(got, [
    '/apps/a/devices/0/device: device "rs485-9" is not on this gateway: profile ec-iot-arm has serial ports rs485-1, rs485-2, rs232-1 and GPIO lines di-1, di-2, di-3, di-4, do-1, do-2, do-3, do-4',
    '/apps/a/devices/1/device: "board-temp" is a sensor: list it under sensors',
    '/apps/a/sensors/1: sensor "humidity" is not on this gateway: profile ec-iot-arm has sensors board-temp, cpu-load',
    '/apps/a/sensors/2: "rs485-1" is a device, not a sensor: grant it under devices',
  ]);
  const bare = { ...ecIot(), model: 'bare' };
  delete bare.serialPorts;
  delete bare.gpio;
  delete bare.sensors;
  assert.equal(rules(doc({ a: { image: img('a'), devices: [{ device: 'x', access: 'r', mode: 'broker' }] } }), bare), [
    '/apps/a/devices/0/device: device "x" is not on this gateway: profile bare has no devices',
  ]);
});

test('exclusive devices: passthrough belongs to one app; a GPIO output has one writer', () => {
  const got = rules(
    doc({
      a: {
        image: img('a'),
        devices: [
          { device: 'rs485-1', access: 'rw', mode: 'passthrough' },
          { device: 'do-1', access: 'rw', mode: 'broker' },
          { device: 'rs232-1', access: 'r', mode: 'broker' },
        ],
      },
      b: {
        image: img('b'),
        devices: [
          { device: 'rs485-1', access: 'rw', mode: 'passthrough' },
          { device: 'do-1', access: 'rw', mode: 'broker' },
          { device: 'rs232-1', access: 'rw', mode: 'passthrough' },
        ],
      },
      c: {
        image: img('c'),
        devices: [
          { device: 'rs485-1', access: 'r', mode: 'broker' },
          { device: 'do-1', access: 'r', mode: 'broker' },
          { device: 'rs485-2', access: 'rw', mode: 'broker' },
        ],
      },
      d: { image: img('d'), devices: [{ device: 'rs485-2', access: 'rw', mode: 'broker' }] },
    }),
  );
  assert.equal(got, [
    '/apps/b/devices/0/mode: rs485-1 is passed through to both app a and app b; a passthrough device belongs to one app',
    '/apps/c/devices/0/mode: rs485-1 is passed through to app a (exclusive), so it cannot also be granted to app c',
    '/apps/b/devices/1/access: GPIO output do-1 is already writable by app a; only one app may drive an output (grant access "r" here)',
    '/apps/a/devices/2/mode: rs232-1 is passed through to app b (exclusive), so it cannot also be granted to app a',
  ]);
});

test('GPIO: broker is how lines are reached; passthrough is refused; inputs are read-only', () => {
  const ok = doc({
    a: {
      image: img('a'),
      devices: [
        { device: 'do-2', access: 'rw', mode: 'broker' },
        { device: 'di-2', access: 'r', mode: 'broker' },
      ],
    },
    b: { image: img('b'), devices: [{ device: 'di-2', access: 'r', mode: 'broker' }] },
  });
  assert.equal(rules(ok), []);
  assert.equal(
    rules(
      doc({
        a: {
          image: img('a'),
          devices: [
            { device: 'do-3', access: 'rw', mode: 'passthrough' },
            { device: 'di-1', access: 'rw', mode: 'broker' },
            { device: 'di-1', access: 'r', mode: 'broker' },
          ],
        },
      }),
    ),
    [
      '/apps/a/devices/0/mode: GPIO line do-3 cannot be passed through: GPIO lines (sysfs or chardev) are driven by the agent, not device nodes for a container; use mode "broker"',
      '/apps/a/devices/1/access: GPIO line di-1 is an input: grant it with access "r"',
      '/apps/a/devices/2/device: di-1 is already granted at /apps/a/devices/1',
    ],
  );
});

test('dependsOn: unknown apps and cycles, printed as a path', () => {
  const got = rules(
    doc({
      a: { image: img('a'), dependsOn: ['b'] },
      b: { image: img('b'), dependsOn: ['c', 'ghost'] },
      c: { image: img('c'), dependsOn: ['a'] },
      d: { image: img('d'), dependsOn: ['d'] },
      e: { image: img('e'), dependsOn: ['a'] },
    }),
  );
  assert.equal(got, [
    '/apps/b/dependsOn/1: app "ghost" is not in this deployment (its apps are a, b, c, d, e)',
    '/apps/a/dependsOn/0: dependency cycle: a -> b -> c -> a',
    '/apps/d/dependsOn/0: dependency cycle: d -> d',
  ]);
});

test('budget: the runtime admission sums, with the numbers and every share', () => {
  const profile = ecIot();
  profile.appBudget.memoryMiB = 448;
  const got = rules(
    doc({
      a: { image: img('a'), resources: { memoryMiB: 300 } },
      b: { image: img('b'), resources: { memoryMiB: 310, cpus: 1.4 } },
      c: { image: img('c') },
    }),
    profile,
  );
  assert.equal(got, [
    "/apps: apps ask for 658 MiB of memory; the profile's app budget is 448 MiB (a 300 MiB, b 310 MiB, c 48 MiB (default))",
    "/apps: apps ask for 1.9 CPUs; the profile's app budget is 1.5 CPUs (a 0.25 CPUs (default), b 1.4 CPUs, c 0.25 CPUs (default))",
  ]);
  assert.equal(rules(doc({ a: { image: img('a'), resources: { cpus: 3, memoryReservationMiB: 60 } } })), [
    '/apps/a/resources/cpus: resources.cpus is 3 but the board has 2 cores',
    "/apps/a/resources/memoryReservationMiB: resources.memoryReservationMiB (60) is more than the profile's default memoryMiB (48)",
  ]);
});

test('budget: gantry run apps share it; start-then-stop needs room for both containers', () => {
  const others = [{ name: 'manual', image: 'x', resources: { memoryMiB: 100 } }];
  assert.equal(rules(doc({ a: { image: img('a'), resources: { memoryMiB: 230 } } }), ecIot(), { otherApps: others }), [
    "/apps: apps ask for 330 MiB of memory; the profile's app budget is 320 MiB (manual 100 MiB, a 230 MiB)",
  ]);
  const sts = doc({
    a: { image: img('a'), resources: { memoryMiB: 100 }, update: 'start-then-stop' },
    b: { image: img('b'), resources: { memoryMiB: 150 } },
    c: { image: img('c'), resources: { memoryMiB: 16 }, update: 'start-then-stop' },
  });
  assert.equal(rules(sts), [
    "/apps/a/update: start-then-stop runs the old and the new container of a side by side, and then apps ask for 366 MiB of memory; the profile's app budget is 320 MiB (a 100 MiB, b 150 MiB, c 16 MiB, a--b 100 MiB); use stop-then-start or lower the limits",
  ]);
  assert.equal(rules(doc({ manual: { image: img('m') } }), ecIot(), { otherApps: others }), [
    '/apps/manual: the container name manual is taken by an app started with gantry run; remove it (gantry rm manual) or rename this app',
  ]);
});

test('images, env, restart, volumes, thresholds, start-then-stop with passthrough', () => {
  const got = rules(
    doc({
      a: {
        image: 'reg.local/Meter:1',
        env: { GANTRY_APP: 'x' },
        restart: { policy: 'always', maxRetries: 3 } as DeployedApp['restart'],
        volumes: [
          { name: 'v1', target: '/data' },
          { name: 'v2', target: '/data' },
        ],
        telemetry: { t: { thresholds: [{ name: 'odd' }] } },
      },
      b: {
        image: 'reg.local/b:1',
        update: 'start-then-stop',
        devices: [{ device: 'rs232-1', access: 'rw', mode: 'passthrough' }],
      },
    }),
    ecIot(),
    { requireDigests: true },
  );
  assert.equal(got, [
    '/apps/a/image: repository part "Meter" in "reg.local/Meter:1" is not valid (lowercase letters, digits, separators . _ -)',
    '/apps/a/restart/maxRetries: only applies to policy "on-failure"',
    '/apps/a/env/GANTRY_APP: GANTRY_* variables are set by the agent',
    '/apps/a/volumes/1/target: /data is already mounted by volumes/0',
    '/apps/a/telemetry/t/thresholds/0: needs "above" or "below"',
    '/apps/b/image: "reg.local/b:1" is not pinned by digest; a fleet deployment names images as name@sha256:<digest>',
    '/apps/b/update: start-then-stop would give passthrough device rs232-1 to the old and the new container at once; use stop-then-start',
  ]);
});

test('checkDeployment locates rule issues in the text', () => {
  const text = `{
  "revision": 3,
  "apps": {
    "a": {
      "image": "reg.local/a:1",
      "devices": [{ "device": "rs485-7", "access": "r", "mode": "broker" }]
    }
  }
}`;
  const { message } = refusal(() => checkDeployment(text, 'site.json', ecIot()));
  assert.match(
    message,
    /^deployment site\.json is invalid:\n {2}site\.json:6:31: \/apps\/a\/devices\/0\/device: device "rs485-7"/,
  );
});

test('deploymentToAppSpec: passthrough grants become device nodes, GANTRY_APP names the app', () => {
  const app: DeployedApp = {
    image: 'reg.local/meter:1',
    entrypoint: ['/bin/sh'],
    command: ['-c', 'run'],
    env: { A: '1' },
    workingDir: '/app',
    user: '1000',
    resources: { memoryMiB: 64 },
    devices: [
      { device: 'rs485-1', access: 'r', mode: 'passthrough' },
      { device: 'rs485-2', access: 'rw', mode: 'broker' },
      { device: 'do-1', access: 'rw', mode: 'broker' },
    ],
    sensors: ['board-temp'],
    config: { a: 1 },
    restart: { policy: 'always' },
    healthCheck: { command: ['true'], intervalSec: 5 },
    network: 'host',
    readOnlyRootfs: true,
    volumes: [{ name: 'data', target: '/data', readOnly: false }],
    telemetry: { t: { priority: 1 } },
    dependsOn: ['x'],
    update: 'start-then-stop',
  };
  assert.equal(deploymentToAppSpec('meter', app, ecIot(), 'meter--b', `reg.local/meter@${DIGEST_A}`), {
    name: 'meter--b',
    image: `reg.local/meter@${DIGEST_A}`,
    env: { A: '1', GANTRY_APP: 'meter' },
    entrypoint: ['/bin/sh'],
    command: ['-c', 'run'],
    workingDir: '/app',
    user: '1000',
    resources: { memoryMiB: 64 },
    devices: [{ path: '/dev/ttyS1', access: 'r' }],
    network: 'host',
    readOnlyRootfs: true,
    restart: { policy: 'always' },
    healthCheck: { command: ['true'], intervalSec: 5 },
    volumes: [{ name: 'data', target: '/data', readOnly: false }],
  });
  assert.equal(deploymentToAppSpec('a', { image: 'x' }, ecIot(), 'a', 'x'), {
    name: 'a',
    image: 'x',
    env: { GANTRY_APP: 'a' },
  });
  const gpio = refusal(() =>
    deploymentToAppSpec(
      'a',
      { image: 'x', devices: [{ device: 'do-1', access: 'rw', mode: 'passthrough' }] },
      ecIot(),
      'a',
      'x',
    ),
  );
  assert.is(gpio.message, 'app a: passthrough device do-1 is not a serial port of profile ec-iot-arm');
});

test.run();
