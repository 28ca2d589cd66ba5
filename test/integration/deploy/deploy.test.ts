import path from 'node:path';
import * as assert from 'uvu/assert';
import type { DeploymentRecord } from '../../../agent/src/deploy/store.js';
import type { DeploymentDocument } from '../../../agent/src/deploy/types.js';
import { startAgent, type TestAgent } from '../../helpers/agent.js';
import { gantryOk, inspect, removeAll } from '../../helpers/apps.js';
import { deploy, psAll, writeDoc } from '../../helpers/deploy.js';
import { hostSuite } from '../../helpers/host-tools.js';
import { buildAndPush, insecureRegistryConfig } from '../../helpers/images.js';
import { type Registry, startRegistry } from '../../helpers/registry.js';
import { type TempDir, tempDir } from '../../helpers/tmp.js';

interface Ctx {
  dir: TempDir;
  registry: Registry;
  agent: TestAgent;
  busybox: string;
  layered: string;
}

const { test } = hostSuite<Ctx>('deploy: revisions, health gate, rollback (runc, conmon, registry)', [
  'runc',
  'conmon',
  'busybox',
  'docker-registry',
]);

test.before(async (ctx) => {
  ctx.dir = await tempDir('gantry-deploy-');
  ctx.registry = await startRegistry();
  const images = await buildAndPush(ctx.registry, path.join(ctx.dir.path, 'layout'), ['busybox', 'layered']);
  ctx.busybox = images.busybox?.ref as string;
  ctx.layered = images.layered?.ref as string;
  const config = await insecureRegistryConfig(ctx.dir.path, ctx.registry);
  ctx.agent = await startAgent({ dataDir: path.join(ctx.dir.path, 'data'), config });
});

test.after(async (ctx) => {
  if (ctx.agent) await removeAll(ctx.agent);
  await ctx.agent?.dispose();
  await ctx.registry?.stop();
  await ctx.dir?.cleanup();
});

// PID 1 ignores SIGTERM unless it handles it: the trap keeps stops quick (no 10 s grace).
const LOOP = ['sh', '-c', 'trap "exit 0" TERM; while true; do echo tick; sleep 1; done'];
const IDLE = ['sh', '-c', 'trap "exit 0" TERM; while true; do sleep 1; done'];
const rollout = { healthyWithinSec: 4 };

function v1(ctx: Ctx): DeploymentDocument {
  return {
    revision: 1,
    apps: {
      web: { image: ctx.busybox, command: IDLE, resources: { memoryMiB: 64, cpus: 0.25 } },
      worker: { image: ctx.busybox, command: LOOP, dependsOn: ['web'], resources: { cpus: 0.25 } },
    },
    rollout,
  };
}

function v2(ctx: Ctx): DeploymentDocument {
  const base = v1(ctx);
  return {
    revision: 2,
    apps: {
      web: { ...(base.apps.web as DeploymentDocument['apps'][string]), config: { greeting: 'hello' } },
      worker: { image: ctx.layered, command: LOOP, dependsOn: ['web'], resources: { cpus: 0.25 } },
      extra: { image: ctx.busybox, command: IDLE, resources: { cpus: 0.25 } },
    },
    rollout,
  };
}

test('v1 → v2 → failing v3 rolled back → v4 missing tag → v5 over budget → replay → rollback', async (ctx) => {
  const { agent } = ctx;
  const dir = ctx.dir.path;
  // An app of `gantry run`: deployments leave it alone.
  await gantryOk(agent, 'pull', ctx.busybox);
  await gantryOk(agent, 'run', '--name', 'manual', ctx.busybox, 'sleep', '600');
  const manualPid = (await inspect(agent, 'manual')).pid;

  // Dry run: the plan, nothing done.
  const planned = await agent.gantry('deploy', '--dry-run', await writeDoc(dir, v1(ctx)));
  assert.is(planned.code, 0, planned.stderr);
  assert.match(planned.stdout, /create worker \(new\)/);
  assert.match(planned.stdout, /create web \(new\)/);
  assert.is((await psAll(agent)).has('web'), false);

  const r1 = await deploy(agent, await writeDoc(dir, v1(ctx)));
  assert.is(r1.code, 0, r1.error);
  assert.is(r1.result?.outcome, 'applied');
  let ps = await psAll(agent);
  assert.is(ps.get('web')?.revision, 1);
  assert.is(ps.get('worker')?.status, 'running');
  const webPid = ps.get('web')?.pid;

  const r2 = await deploy(agent, await writeDoc(dir, v2(ctx)));
  assert.is(r2.code, 0, r2.error);
  ps = await psAll(agent);
  assert.is(ps.get('worker')?.image, ctx.layered, 'worker runs the new image');
  assert.is(ps.get('extra')?.status, 'running');
  assert.is(ps.get('web')?.pid, webPid, 'web only had its config changed: kept, not recreated');
  assert.is(ps.get('web')?.revision, 2);

  // v3: web's new release exits at start → the whole revision goes back to v2.
  const v3 = v2(ctx);
  v3.revision = 3;
  v3.apps.web = { image: ctx.layered, command: ['sh', '-c', 'echo bad release; exit 3'] };
  const r3 = await deploy(agent, await writeDoc(dir, v3));
  assert.is(r3.code, 1);
  assert.is(r3.result?.outcome, 'rolled-back');
  assert.is(r3.result?.runningRevision, 2);
  assert.match(r3.result?.reasons.join('\n') ?? '', /web exited with code 3/);
  ps = await psAll(agent);
  assert.is(ps.get('web')?.image, ctx.busybox);
  assert.is(ps.get('web')?.status, 'running');
  assert.is(ps.get('web')?.revision, 2);
  assert.is(ps.get('worker')?.image, ctx.layered);
  const history = JSON.parse(await gantryOk(agent, '--json', 'deployments')) as {
    history: DeploymentRecord[];
    lastGoodRevision: number;
  };
  const rec3 = history.history.find((d) => d.revision === 3);
  assert.is(rec3?.status, 'rolled-back');
  assert.match(rec3?.reasons.join('\n') ?? '', /exited with code 3/);
  assert.is(history.lastGoodRevision, 2);

  // v4: a tag the registry does not have → refused before anything is stopped.
  const pidsBefore = new Map([...ps].map(([k, v]) => [k, v.pid]));
  const v4 = v2(ctx);
  v4.revision = 4;
  v4.apps.web = { image: ctx.busybox.replace(/:latest$/, ':no-such-tag'), command: IDLE };
  const r4 = await deploy(agent, await writeDoc(dir, v4));
  assert.is(r4.code, 1);
  assert.is(r4.result?.outcome, 'failed');
  assert.match(r4.result?.reasons.join('\n') ?? '', /pull .*no-such-tag/);
  assert.match(r4.result?.reasons.join('\n') ?? '', /nothing was changed/);
  ps = await psAll(agent);
  for (const [app, pid] of pidsBefore) assert.is(ps.get(app)?.pid, pid, `${app} untouched by v4`);

  // v5: over the profile's memory budget → refused with the numbers; nothing applied.
  const v5 = v2(ctx);
  v5.revision = 5;
  v5.apps.web = { image: ctx.busybox, command: IDLE, resources: { memoryMiB: 1500 } };
  v5.apps.worker = { image: ctx.busybox, command: LOOP, resources: { memoryMiB: 600 } };
  const r5 = await deploy(agent, await writeDoc(dir, v5));
  assert.is(r5.code, 1);
  assert.match(r5.error, /apps ask for \d+ MiB of memory; the profile's app budget is 2048 MiB/);
  assert.is(r5.result, undefined);

  // An older revision is a replay: refused.
  const old = await deploy(agent, await writeDoc(dir, { ...v2(ctx), revision: 2 }));
  assert.is(old.code, 1);
  assert.match(old.error, /revision 2 is not newer than revision 4/);

  // gantry rollback: back to the applied revision before 2.
  const rb = await agent.gantry('--json', 'rollback');
  assert.is(rb.code, 0, rb.stderr);
  ps = await psAll(agent);
  assert.is(ps.get('worker')?.image, ctx.busybox);
  assert.is(ps.has('extra'), false);
  assert.is(ps.get('web')?.revision, 1);

  const manual = await inspect(agent, 'manual');
  assert.is(manual.pid, manualPid, 'the gantry run app was left alone');
  assert.is(manual.revision, undefined);
});

test.run();
