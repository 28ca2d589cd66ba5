import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import * as assert from 'uvu/assert';
import { loadPublicKey } from '../../../agent/src/cloud/keys.js';
import type { DeploymentDocument } from '../../../agent/src/deploy/types.js';
import type { RolloutSummary } from '../../../scripts/fleet/progress.js';
import { buildTestImages } from '../../../scripts/lib/build-test-images.js';
import { type SimulatedFleet, startSimulatedFleet } from '../../../scripts/simulate/fleet.js';
import { startAgent, type TestAgent } from '../../helpers/agent.js';
import { removeAll } from '../../helpers/apps.js';
import { psAll } from '../../helpers/deploy.js';
import { fleetCli, jsonOf } from '../../helpers/fleet.js';
import { hostSuite } from '../../helpers/host-tools.js';
import { type Mosquitto, startMosquitto } from '../../helpers/mosquitto.js';
import { withTimeout } from '../../helpers/timeout.js';
import { type TempDir, tempDir } from '../../helpers/tmp.js';

const { test } = hostSuite('fleet: a real agent with real containers among simulated gateways', [
  'mosquitto',
  'runc',
  'conmon',
  'busybox',
]);

const KID = 'fleet-e2e';
// gw-real sorts before gw-sim-*: it is the first wave's canary.
const REAL = 'gw-real';

test('a rollout reaches the real agent and the simulated ones; a release failing on the canary halts and rolls back', async () => {
  const dir: TempDir = await tempDir('gantry-fleet-e2e-');
  const broker: Mosquitto = await startMosquitto({ extraConfig: 'max_queued_messages 10000' });
  let fleet: SimulatedFleet | undefined;
  let agent: TestAgent | undefined;
  try {
    const keys = await fleetCli(['keys', 'generate', '--out', path.join(dir.path, 'keys'), '--kid', KID, '--json']);
    assert.is(keys.code, 0, keys.stderr);
    const { privateKeyFile, publicKeyFile } = jsonOf<{ privateKeyFile: string; publicKeyFile: string }>(keys);
    const layout = path.join(dir.path, 'layout');
    await buildTestImages(layout, ['busybox']);
    const image = `oci:${layout}:busybox`;

    const config = path.join(dir.path, 'agent.json');
    await writeFile(
      config,
      JSON.stringify({ deviceId: REAL, cloud: { url: broker.url, trustedKeys: [{ kid: KID, publicKeyFile }] } }),
    );
    agent = await startAgent({ dataDir: path.join(dir.path, 'data'), config });
    fleet = await withTimeout(
      startSimulatedFleet({
        brokerUrl: broker.url,
        count: 6,
        prefix: 'gw-sim-',
        trustedKeys: new Map([[KID, await loadPublicKey(publicKeyFile)]]),
        startDelayMs: 50,
        stableMs: 200,
        reportDebounceMs: 50,
      }),
      20_000,
      'simulated gateways online',
    );
    const group = [REAL, ...fleet.ids].join(',');
    const doc = async (revision: number, command: string[]) => {
      const d: DeploymentDocument = {
        revision,
        apps: { meter: { image, command, resources: { memoryMiB: 32, cpus: 0.1 } } },
        rollout: { healthyWithinSec: 4 },
      };
      const file = path.join(dir.path, `rev-${revision}.json`);
      await writeFile(file, JSON.stringify(d));
      return file;
    };
    const rollout = async (file: string, extra: string[]) => {
      const r = await fleetCli(
        [
          'rollout',
          file,
          ...['--broker', broker.url, '--key', privateKeyFile, '--kid', KID, '--group', group],
          ...['--healthy-for', '1s', '--wave-timeout', '40s', '--json', '--state', `${file}.state`],
          ...extra,
        ],
        { timeoutMs: 90_000 },
      );
      return { code: r.code, stderr: r.stderr, summary: jsonOf<RolloutSummary>(r) };
    };

    const idle = ['sh', '-c', 'trap "exit 0" TERM; while true; do sleep 1; done'];
    const r1 = await rollout(await doc(1, idle), ['--waves', '1,100%']);
    assert.is(r1.code, 0, r1.stderr);
    assert.is(r1.summary.phase, 'completed');
    assert.is(r1.summary.waves[0]?.size, 1);
    let ps = await psAll(agent);
    assert.is(ps.get('meter')?.status, 'running');
    assert.is(ps.get('meter')?.revision, 1);
    const pid = ps.get('meter')?.pid;
    for (const id of fleet.ids) assert.is(fleet.gateway(id).deploy.status().lastGoodRevision, 1, id);

    // Revision 2 exits at start: the real agent rolls itself back, the rollout halts on its canary.
    const r2 = await rollout(await doc(2, ['sh', '-c', 'echo broken release; exit 3']), [
      '--waves',
      '1,100%',
      '--max-failures',
      '0',
      '--rollback-on-halt',
    ]);
    assert.is(r2.code, 1);
    assert.is(r2.summary.phase, 'rolled-back', r2.stderr);
    assert.equal(
      r2.summary.failures.map((f) => f.device),
      [REAL],
    );
    assert.match(r2.summary.failures[0]?.reason ?? '', /meter exited with code 3/);
    const back = r2.summary.rollback?.revision;
    assert.is(back, 3, 'the fleet republished the previous document as revision 3');
    ps = await psAll(agent);
    assert.is(ps.get('meter')?.status, 'running');
    assert.is(ps.get('meter')?.revision, back);
    assert.ok(
      ps.get('meter')?.pid !== pid,
      'revision 2 replaced the container; its own rollback recreated the good one',
    );
    for (const id of fleet.ids) assert.is(fleet.gateway(id).deploy.highestRevision(), 1, `${id} never saw revision 2`);
  } finally {
    await fleet?.stop();
    if (agent) {
      await removeAll(agent);
      await agent.dispose();
    }
    await broker.stop();
    await dir.cleanup();
  }
});

test.run();
