import { access } from 'node:fs/promises';
import path from 'node:path';
import * as assert from 'uvu/assert';
import { hostSuite } from '../../../helpers/host-tools.js';
import { withTimeout } from '../../../helpers/timeout.js';
import { type Bench, MiB, makeBench, TOOLS, teardown } from './fixtures.js';

const { test, paths } = hostSuite<{ b: Bench }>('driver: OOM kills are reported', TOOLS);

test.before.each(async (ctx) => {
  ctx.b = await makeBench(paths.runc as string, paths.busybox as string);
});
test.after.each(async (ctx) => {
  await teardown(ctx.b);
});

test('a memory hog in a 32 MiB container: exit 137, oomKilled, conmon wrote its oom file', async ({ b }) => {
  const id = b.id();
  // busybox tail keeps a whole newline-free line in memory: 100 MiB of zeros.
  const bundle = await b.bundle(id, ['sh', '-c', 'head -c 104857600 /dev/zero | tail -n 1 >/dev/null'], {
    memoryBytes: 32 * MiB,
  });
  await b.runtime.create(id, bundle, { logPath: b.logPath(id), logSizeMax: 1024 * 1024 });
  await b.runtime.start(id);
  const exit = await withTimeout(b.runtime.waitExit(id), 20_000, 'the hog to be killed');
  assert.is(exit.exitCode, 137, 'SIGKILL (the pipeline ends with tail, which the OOM killer took)');
  assert.is(exit.oomKilled, true);
  // conmon's own detection (v1 eventfd / v2 memory.events), not only the cgroup counter:
  await access(path.join(b.stateDir, 'containers', id, 'oom'));
  assert.is((await b.runtime.state(id))?.exit?.oomKilled, true);
  const stats = await b.runtime.stats(id);
  assert.ok((stats.oomKills ?? 1) >= 1, `oomKills ${stats.oomKills}`);
});

test.run();
