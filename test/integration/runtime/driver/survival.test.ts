import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as assert from 'uvu/assert';
import { ConmonRuntime } from '../../../../agent/src/runtime/driver/index.js';
import { hostSuite } from '../../../helpers/host-tools.js';
import { spawnPeer } from '../../../helpers/processes.js';
import { waitFor, withTimeout } from '../../../helpers/timeout.js';
import { alive, type Bench, makeBench, procStat, TOOLS, teardown } from './fixtures.js';

const { test, paths } = hostSuite<{ b: Bench }>(
  'driver: containers outlive a kill -9ed agent and are re-adopted',
  TOOLS,
);

test.before.each(async (ctx) => {
  ctx.b = await makeBench(paths.runc as string, paths.busybox as string);
});
test.after.each(async (ctx) => {
  await teardown(ctx.b);
});

const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), 'agent-child.ts');

interface Started {
  agentPid: number;
  started: Array<{ id: string; pid: number; conmonPid: number }>;
}

/** A container that exits with `code` once the test creates /shared/go (a host dir bind-mounted in). */
async function waiter(b: Bench, code: number) {
  const id = b.id();
  const shared = path.join(b.dir.path, 'shared', id);
  await mkdir(shared, { recursive: true });
  const script = `while [ ! -e /shared/go ]; do sleep 0.05; done; exit ${code}`;
  const bundle = await b.bundle(id, ['sh', '-c', script], { shared });
  return { id, bundle, logPath: b.logPath(id), go: () => writeFile(path.join(shared, 'go'), '') };
}

test('kill -9 of the agent (its whole process group) leaves containers and conmons running; a new instance adopts them', async ({
  b,
}) => {
  const early = await waiter(b, 7); // exits while no agent runs
  const late = await waiter(b, 9); // still running when the new agent comes
  const job = {
    stateDir: b.stateDir,
    containers: [early, late].map(({ id, bundle, logPath }) => ({ id, bundle, logPath })),
  };
  // detached: the stand-in agent leads its own process group, so the SIGKILL below hits the whole group.
  const agent = spawnPeer(process.execPath, ['--import', 'tsx', CHILD, JSON.stringify(job)], { detached: true });
  const line = await waitFor(
    () =>
      agent
        .output()
        .split('\n')
        .find((l) => l.startsWith('{')),
    {
      ms: 20_000,
      what: `the stand-in agent to start its containers (output: ${agent.output()})`,
    },
  );
  const report = JSON.parse(line) as Started;
  process.kill(-report.agentPid, 'SIGKILL');
  await withTimeout(agent.exited, 5000, 'the agent to die');

  for (const c of report.started) {
    assert.ok(await alive(c.pid), `container ${c.id} survived`);
    assert.ok(await alive(c.conmonPid), `conmon of ${c.id} survived`);
    const st = await procStat(c.conmonPid);
    assert.ok(st !== undefined && st.ppid !== report.agentPid, 'conmon is not the agent’s child');
    assert.is(st?.sid, c.conmonPid, 'conmon leads its own session');
    assert.is.not(st?.pgid, report.agentPid, 'conmon is not in the agent’s process group');
  }
  const [e, l] = report.started;
  if (e === undefined || l === undefined) throw new Error(`bad report ${line}`);

  // The early container exits while no agent exists; conmon alone records it.
  await early.go();
  await waitFor(async () => ((await alive(e.pid)) ? undefined : true), {
    ms: 5000,
    what: 'the early container to exit',
  });

  const adopted = new ConmonRuntime({ stateDir: b.stateDir, cgroupLayout: b.layout });
  const ids = await adopted.list();
  assert.ok(ids.includes(e.id) && ids.includes(l.id), JSON.stringify(ids));
  const gone = await adopted.state(e.id);
  assert.equal([gone?.status, gone?.exit?.exitCode], ['stopped', 7]);
  assert.is((await withTimeout(adopted.waitExit(e.id), 2000, 'waitExit of an exited container')).exitCode, 7);

  const still = await adopted.state(l.id);
  assert.equal([still?.status, still?.pid, still?.conmonPid], ['running', l.pid, l.conmonPid]);
  const exit = adopted.waitExit(l.id);
  await late.go();
  assert.is((await withTimeout(exit, 5000, 'waitExit of the adopted container')).exitCode, 9);
});

test.run();
