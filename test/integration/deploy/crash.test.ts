import { randomBytes } from 'node:crypto';
import path from 'node:path';
import Database from 'better-sqlite3';
import * as assert from 'uvu/assert';
import { DB_NAME } from '../../../agent/src/daemon/agent.js';
import type { DeploymentRecord } from '../../../agent/src/deploy/store.js';
import type { DeploymentDocument } from '../../../agent/src/deploy/types.js';
import { OciLayoutWriter } from '../../../scripts/lib/oci-layout.js';
import { pushToRegistry } from '../../../scripts/lib/registry-push.js';
import { busyboxRecipe } from '../../../scripts/lib/test-images.js';
import { GANTRY_BIN, startAgent, type TestAgent } from '../../helpers/agent.js';
import { inspect, removeAll } from '../../helpers/apps.js';
import { psAll, writeDoc } from '../../helpers/deploy.js';
import { hostSuite } from '../../helpers/host-tools.js';
import { insecureRegistryConfig } from '../../helpers/images.js';
import { spawnPeer } from '../../helpers/processes.js';
import { type Registry, startRegistry } from '../../helpers/registry.js';
import { waitFor } from '../../helpers/timeout.js';
import { type TempDir, tempDir } from '../../helpers/tmp.js';

const { test } = hostSuite('deploy: kill -9 at random points during applies', [
  'runc',
  'conmon',
  'busybox',
  'docker-registry',
]);

const ROUNDS = 10;
const IDLE = ['sh', '-c', 'trap "exit 0" TERM; while true; do sleep 1; done'];

/** One image per round: busybox plus ~1.5 MB of random bytes, so each pull takes a while under the bandwidth cap. */
async function pushRoundImages(registry: Registry, layoutDir: string): Promise<string[]> {
  const layout = new OciLayoutWriter(layoutDir);
  await layout.init();
  const refs: string[] = [];
  for (let i = 1; i <= ROUNDS; i++) {
    const base = busyboxRecipe();
    const desc = await layout.writeImage({
      ...base,
      compression: 'none',
      layers: [...base.layers, [{ type: 'file', path: 'round.bin', content: randomBytes(1_500_000) }]],
    });
    await pushToRegistry(layoutDir, registry.url, 'gantry-test/round', `r${i}`, desc);
    refs.push(`${registry.host}/gantry-test/round:r${i}`);
  }
  return refs;
}

function docFor(revision: number, image: string): DeploymentDocument {
  return {
    revision,
    apps: {
      base: { image, command: IDLE, env: { ROUND: String(revision) }, resources: { cpus: 0.25 } },
      side: { image, command: IDLE, dependsOn: ['base'], resources: { cpus: 0.25 } },
    },
    rollout: { healthyWithinSec: 4 },
  };
}

test('the agent converges to the desired or the last good revision, never a mix; the DB stays sound', async () => {
  const dir: TempDir = await tempDir('gantry-crash-');
  let registry: Registry | undefined;
  let agent: TestAgent | undefined;
  const dataDir = path.join(dir.path, 'data');
  try {
    registry = await startRegistry();
    const images = await pushRoundImages(registry, path.join(dir.path, 'layout'));
    const config = await insecureRegistryConfig(dir.path, registry, { pull: { bandwidthBytesPerSec: 1_000_000 } });
    agent = await startAgent({ dataDir, config });
    const docs = new Map<number, DeploymentDocument>();
    const kills: number[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      const doc = docFor(round, images[round - 1] as string);
      docs.set(round, doc);
      const file = await writeDoc(dir.path, doc);
      // Not awaited: the agent dies under it.
      const cli = spawnPeer(process.execPath, [GANTRY_BIN, '--data-dir', dataDir, 'deploy', file]);
      // Random points across the pull (~1.5 s), the stops and starts, and the health window.
      const delay = Math.floor(Math.random() * 4000);
      kills.push(delay);
      await new Promise((r) => setTimeout(r, delay));
      agent.peer.child.kill('SIGKILL');
      await agent.peer.exited;
      await cli.stop();
      agent = await startAgent({ dataDir, config });
      const running = agent;
      const st = await waitFor(
        async () => {
          const s = JSON.parse((await running.gantry('--json', 'deployments')).stdout) as {
            applying: boolean;
            targetRevision?: number;
            history: DeploymentRecord[];
          };
          return s.applying ? undefined : s;
        },
        { ms: 60_000, what: `round ${round} (killed after ${delay} ms) to settle`, intervalMs: 250 },
      );
      const target = st.targetRevision;
      const ps = await psAll(running);
      const deployed = [...ps.values()].filter((v) => v.app !== undefined);
      if (target === undefined) {
        assert.is(deployed.length, 0, `round ${round}: nothing accepted yet, nothing deployed`);
        continue;
      }
      const want = docs.get(target) as DeploymentDocument;
      assert.equal(
        deployed.map((v) => v.app).sort(),
        Object.keys(want.apps).sort(),
        `round ${round} (kill at ${delay} ms): apps of revision ${target}`,
      );
      for (const v of deployed) {
        assert.is(v.revision, target, `round ${round} (kill at ${delay} ms): ${v.app} belongs to revision ${target}`);
        assert.is(
          v.image,
          want.apps[v.app as string]?.image,
          `round ${round}: ${v.app} runs revision ${target}'s image`,
        );
        assert.is(v.status, 'running', `round ${round}: ${v.app} runs`);
      }
      const base = await inspect(running, 'base');
      assert.is((base as unknown as { spec: { env: Record<string, string> } }).spec.env.ROUND, String(target));
    }
    await agent.stop();
    const db = new Database(path.join(dataDir, DB_NAME), { readonly: true });
    try {
      assert.equal(db.pragma('integrity_check'), [{ integrity_check: 'ok' }]);
    } finally {
      db.close();
    }
    agent = await startAgent({ dataDir, config });
    console.log(`  kill points (ms after submit): ${kills.join(', ')}`);
  } finally {
    if (agent) {
      await removeAll(agent);
      await agent.dispose();
    }
    await registry?.stop();
    await dir.cleanup();
  }
});

test.run();
