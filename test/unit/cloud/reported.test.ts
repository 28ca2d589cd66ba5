import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  type AppReport,
  buildReported,
  type ReportedSource,
  type ReportedState,
  Reporter,
  reportKey,
} from '../../../agent/src/cloud/reported.js';
import { isGantryError } from '../../../agent/src/errors.js';

const test = suite('cloud: reported state');

const app = (name: string, state = 'running'): AppReport => ({
  name,
  imageDigest: `sha256:${'b'.repeat(64)}`,
  state,
  restarts: 0,
  oomKills: 0,
  revision: 3,
});

function source() {
  const s = {
    apps: [app('b-app'), app('a-app')],
    cpu: 1,
    uptime: 10,
    counters: { samplesIn: 0 } as Record<string, unknown>,
    resourceCalls: 0,
  };
  const src: ReportedSource = {
    apps: async () => s.apps,
    resources: async () => {
      s.resourceCalls++;
      return { cpuPercent: s.cpu, memory: { usedBytes: 1, totalBytes: 2 }, disk: { usedBytes: 3, totalBytes: 4 } };
    },
    agent: () => ({ version: '0.1.0', uptimeSec: s.uptime, deviceId: 'gw-1', model: 'ec-iot-arm', arch: 'arm' }),
    extra: () => s.counters,
    deployment: () => ({ revision: 3, applying: false }),
  };
  return { s, src };
}

test('buildReported sorts apps by name and carries the revision', () => {
  const r = buildReported({
    agent: { version: '1', uptimeSec: 1, deviceId: 'd', model: 'm', arch: 'arm64' },
    deployment: { revision: 9, applying: false },
    apps: [app('z'), app('a')],
    resources: undefined,
    counters: {},
    at: new Date(0),
  });
  assert.equal(
    r.apps.map((a) => a.name),
    ['a', 'z'],
  );
  assert.equal(r.deployment, { revision: 9, applying: false });
  assert.is(r.at, '1970-01-01T00:00:00.000Z');
  assert.not.ok('resources' in r);
});

test('reportKey: "state" ignores timestamps, uptime, resources and counters; "full" only timestamps and uptime', () => {
  const base = buildReported({
    agent: { version: '1', uptimeSec: 1, deviceId: 'd', model: 'm', arch: 'arm64' },
    deployment: { revision: 1, applying: false },
    apps: [app('a')],
    resources: { cpuPercent: 1, memory: { usedBytes: 1, totalBytes: 1 }, disk: { usedBytes: 1, totalBytes: 1 } },
    counters: { n: 1 },
    at: new Date(0),
  });
  const later: ReportedState = {
    ...base,
    at: new Date(5000).toISOString(),
    agent: { ...base.agent, uptimeSec: 6 },
    resources: { cpuPercent: 50, memory: { usedBytes: 1, totalBytes: 1 }, disk: { usedBytes: 1, totalBytes: 1 } },
    counters: { n: 2 },
  };
  assert.is(reportKey(base, 'state'), reportKey(later, 'state'));
  assert.is.not(reportKey(base, 'full'), reportKey(later, 'full'));
  const onlyTime = { ...base, at: 'x', agent: { ...base.agent, uptimeSec: 99 } };
  assert.is(reportKey(base, 'full'), reportKey(onlyTime, 'full'));
  const crashed = { ...base, apps: [app('a', 'exited')] };
  assert.is.not(reportKey(base, 'state'), reportKey(crashed, 'state'));
});

test('publishNow always publishes; changed() publishes only when the state part changed', async () => {
  const { s, src } = source();
  const published: ReportedState[] = [];
  const reporter = new Reporter({ source: src, publish: async (r) => void published.push(r), debounceMs: 1 });
  await reporter.publishNow();
  assert.is(published.length, 1);
  assert.equal(
    published[0]?.apps.map((a) => a.name),
    ['a-app', 'b-app'],
  );

  s.cpu = 80;
  s.uptime = 999;
  s.counters = { samplesIn: 5 };
  reporter.changed();
  await settle(reporter);
  assert.is(published.length, 1, 'only volatile parts changed');

  s.apps = [app('a-app'), app('b-app', 'exited')];
  reporter.changed();
  reporter.changed();
  reporter.changed();
  await settle(reporter);
  assert.is(published.length, 2, 'a real change is published once per debounce window');
  assert.is(published[1]?.apps[1]?.state, 'exited');
  assert.is(s.resourceCalls, 1, 'a change reuses the last resource sample');
  await reporter.stop();
});

test('a publish that fails (offline) is retried by the next change check', async () => {
  const { s, src } = source();
  const published: ReportedState[] = [];
  let offline = true;
  const reporter = new Reporter({
    source: src,
    publish: async (r) => {
      if (offline) throw new Error('offline');
      published.push(r);
    },
    debounceMs: 1,
  });
  await reporter.publishNow();
  assert.is(published.length, 0);
  offline = false;
  s.uptime = 5;
  reporter.changed();
  await settle(reporter);
  assert.is(published.length, 1);
  await reporter.stop();
});

test('a schedule that is not a cron expression is refused', () => {
  const { src } = source();
  assert.throws(
    () => new Reporter({ source: src, publish: async () => {}, cron: 'every five minutes' }),
    (e: unknown) => isGantryError(e, 'invalid'),
  );
});

function settle(reporter: Reporter): Promise<void> {
  return reporter.idle();
}

test.run();
