import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { renderLine, renderLive, renderReport, summarize } from '../../../scripts/fleet/progress.js';
import { advance, createRollout, type DeviceObservation } from '../../../scripts/fleet/rollout-machine.js';
import { parseWaves } from '../../../scripts/fleet/rollout-plan.js';

const test = suite('fleet: progress and summary');

const ids = Array.from({ length: 10 }, (_, i) => `gw-${i}`);

function midRollout() {
  const start = createRollout({
    id: 'r7-test',
    now: 0,
    revision: 7,
    document: '{"revision":7,"apps":{}}',
    documentFile: 'web-7.json',
    kid: 'k',
    keyFile: 'k.key',
    group: 'model=ec-iot-arm',
    devices: ids,
    waves: parseWaves('2,100%'),
    policy: { waves: '2,100%', maxFailures: '50%', waveTimeoutMs: 60_000, healthyForMs: 0, rollbackOnHalt: false },
    previous: new Map(),
    hash: (t) => t,
  });
  const ok: DeviceObservation = {
    online: true,
    deployment: { revision: 7, applying: false },
    apps: [{ name: 'web', state: 'running' }],
    events: [],
  };
  const obs = new Map<string, DeviceObservation>([
    ['gw-0', ok],
    ['gw-1', ok],
    ['gw-2', ok],
    ['gw-3', { online: true, deployment: { revision: 6, target: 7, applying: true }, events: [] }],
    [
      'gw-4',
      {
        online: true,
        deployment: {
          revision: 6,
          applying: false,
          last: { revision: 7, status: 'rolled-back', reasons: ['web exited'] },
        },
        events: [],
      },
    ],
    ['gw-5', { online: false, events: [] }],
  ]);
  const s1 = advance(start, obs, 0).state;
  return { state: advance(s1, obs, 1000).state, obs };
}

test('counts per wave and in total, with offline split out of pending', () => {
  const { state, obs } = midRollout();
  const s = summarize(state, obs, 5000);
  assert.is(s.phase, 'running');
  assert.equal(
    s.waves.map((w) => [w.size, w.state]),
    [
      [2, 'done'],
      [8, 'running'],
    ],
  );
  const w2 = s.waves[1]?.counts;
  assert.equal([w2?.healthy, w2?.applying, w2?.['rolled-back'], w2?.offline, w2?.pending], [1, 1, 1, 1, 4]);
  assert.is(s.totals.healthy, 3);
  assert.equal(s.failures, [{ device: 'gw-4', wave: 2, state: 'rolled-back', reason: 'web exited' }]);
  assert.is(s.elapsedSec, 5);
});

test('renderings name the rollout, the waves and the failures', () => {
  const { state, obs } = midRollout();
  const s = summarize(state, obs, 5000);
  const live = renderLive(s, 10);
  assert.is(live.length, 3);
  assert.match(
    live[0] ?? '',
    /^rollout r7-test: revision 7 \(web-7\.json\) to 10 gateways \[model=ec-iot-arm\]\s+running\s+5s$/,
  );
  assert.match(live[1] ?? '', /wave 1\/2 \[##########\]\s+2\s+healthy 2$/);
  assert.match(
    live[2] ?? '',
    /wave 2\/2 \[#x~\.+\]\s+8\s+pending 4\s+offline 1\s+applying 1\s+healthy 1\s+rolled-back 1$/,
  );
  assert.is(renderLine(s), '[5s] wave 2/2: pending 4  offline 1  applying 1  healthy 3  rolled-back 1');
  const report = renderReport(s);
  assert.match(report, /failed gateways \(1\):\n {2}gw-4 \(wave 2\) rolled-back: web exited/);
  assert.match(report, /still running/);
});

test.run();
