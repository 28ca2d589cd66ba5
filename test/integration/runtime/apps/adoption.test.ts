import path from 'node:path';
import * as assert from 'uvu/assert';
import type { ContainerView } from '../../../../agent/src/runtime/service.js';
import { startAgent } from '../../../helpers/agent.js';
import { agentWithBusybox, gantryOk, inspect, removeAll } from '../../../helpers/apps.js';
import { hostSuite } from '../../../helpers/host-tools.js';
import { waitFor } from '../../../helpers/timeout.js';

const { test } = hostSuite('runtime: containers outlive the agent and are re-adopted', ['runc', 'conmon', 'busybox']);

test('kill -9 the agent while 3 containers run: same pids after restart, an exit meanwhile is recorded', async () => {
  const { agent, dir, image } = await agentWithBusybox();
  let second: Awaited<ReturnType<typeof startAgent>> | undefined;
  try {
    await gantryOk(agent, 'run', '--name', 'a1', image, 'sleep', '600');
    await gantryOk(agent, 'run', '--name', 'a2', image, 'sleep', '600');
    await gantryOk(agent, 'run', '--name', 'quitter', image, 'sh', '-c', 'sleep 2; exit 42');
    const before = JSON.parse(await gantryOk(agent, 'ps', '--json')) as ContainerView[];
    const pids = new Map(before.map((a) => [a.name, a.pid]));
    assert.is(pids.size, 3);
    agent.peer.child.kill('SIGKILL');
    await agent.peer.exited;
    // While no agent runs, "quitter" exits.
    await new Promise((r) => setTimeout(r, 3000));
    second = await startAgent({ dataDir: path.join(dir.path, 'data') });
    const after = JSON.parse(await gantryOk(second, 'ps', '-a', '--json')) as ContainerView[];
    for (const name of ['a1', 'a2']) {
      const a = after.find((x) => x.name === name);
      assert.is(a?.status, 'running', name);
      assert.is(a?.pid, pids.get(name), `${name} kept its pid`);
    }
    const q = await waitFor(
      async () => {
        const v = await inspect(second as NonNullable<typeof second>, 'quitter');
        return v.lastExit ? v : undefined;
      },
      { ms: 10_000, what: 'the exit recorded' },
    );
    assert.is(q.lastExit?.code, 42);
    assert.ok(
      q.events.some((e) => e.type === 'exited' && e.detail?.whileAgentWasDown === true),
      JSON.stringify(q.events),
    );
    assert.ok((await inspect(second, 'a1')).events.some((e) => e.type === 'adopted'));
  } finally {
    if (second) {
      await removeAll(second);
      await second.stop();
    }
    await agent.dispose();
    await dir.cleanup();
  }
});

test.run();
