import * as assert from 'uvu/assert';
import type { TestAgent } from '../../../helpers/agent.js';
import { appsSuite, gantryOk, inspect, statsOf, waitForApp } from '../../../helpers/apps.js';

const test = appsSuite('runtime: cgroup limits on real runc + conmon', ['runc', 'conmon', 'busybox']);

test('a memory hog in 32 MiB is OOM-killed and reported as such', async ({ agent, image }) => {
  await gantryOk(
    agent,
    'run',
    '--name',
    'hog',
    '--memory',
    '32Mi',
    image,
    'sh',
    '-c',
    'head -c 100663296 /dev/zero | tail -n 1',
  );
  const v = await waitForApp(agent, 'hog', (x) => x.oomKills >= 1, 'oom-killed');
  assert.is(v.status, 'stopped');
  assert.ok(
    v.events.some((e) => e.type === 'oom-killed'),
    JSON.stringify(v.events),
  );
  assert.is(v.resources.memoryMiB, 32);
});

test('the limits are in the cgroup the container sees', async ({ agent, image }) => {
  await gantryOk(
    agent,
    'run',
    '--name',
    'limits',
    '--memory',
    '48Mi',
    '--pids',
    '20',
    '--cpus',
    '0.5',
    image,
    'sh',
    '-c',
    'cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/cpu/cpu.cfs_quota_us 2>/dev/null || cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max /sys/fs/cgroup/cpu.max; sleep 30',
  );
  await waitForApp(agent, 'limits', (x) => x.status === 'running', 'running');
  const out = await waitForLog(agent, 'limits', 3);
  assert.equal(out.slice(0, 3), [String(48 * 1024 * 1024), '20', '50000'], out.join('|'));
});

test('a fork bomb stops at the pids limit', async ({ agent, image }) => {
  await gantryOk(
    agent,
    'run',
    '--name',
    'forks',
    '--pids',
    '16',
    image,
    'sh',
    '-c',
    // ash gives up on the loop at the first failed fork: run it in a subshell, keep the container alive with exec.
    '(for i in $(seq 1 64); do sleep 60 & done); exec sleep 60',
  );
  await waitForApp(agent, 'forks', (x) => x.status === 'running', 'running');
  await new Promise((r) => setTimeout(r, 1000));
  assert.match((await agent.gantry('logs', 'forks')).stderr, /can't fork/);
  const s = await statsOf(agent, 'forks');
  assert.ok(s && s.stats.pids <= 16 && s.stats.pids >= 10, `pids ${s?.stats.pids}`);
});

test('a CPU burner at --cpus 0.5 uses about half a core', async ({ agent, image }) => {
  await gantryOk(agent, 'run', '--name', 'burn', '--cpus', '0.5', image, 'sh', '-c', 'while :; do :; done');
  await waitForApp(agent, 'burn', (x) => x.status === 'running', 'running');
  await new Promise((r) => setTimeout(r, 500));
  const a = await statsOf(agent, 'burn');
  await new Promise((r) => setTimeout(r, 3000));
  const b = await statsOf(agent, 'burn');
  assert.ok(a && b);
  const pct = ((b.stats.cpuUsageNs - a.stats.cpuUsageNs) / ((b.at - a.at) * 1e6)) * 100;
  assert.ok(pct > 35 && pct < 62, `used ${pct.toFixed(1)}% of a core`);
  await gantryOk(agent, 'stop', '-t', '1', 'burn');
});

test('admission: no limits means the profile defaults; over budget is refused with the numbers', async ({
  agent,
  image,
}) => {
  await gantryOk(agent, 'run', '--name', 'plain', image, 'sleep', '30');
  const v = await inspect(agent, 'plain');
  assert.equal([v.resources.memoryMiB, v.resources.cpus, v.resources.pids], [128, 0.5, 128], 'generic-x86_64 defaults');
  const res = await agent.gantry('run', '--name', 'huge', '--memory', '4Gi', image, 'sleep', '30');
  assert.is(res.code, 1);
  assert.match(res.stderr, /MiB.*budget.*2048 MiB/);
});

/** Wait until the app's log has at least n lines; returns the lines. */
async function waitForLog(agent: TestAgent, name: string, n: number): Promise<string[]> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const lines = (await agent.gantry('logs', name)).stdout.split('\n').filter(Boolean);
    if (lines.length >= n) return lines;
    if (Date.now() > deadline) throw new Error(`${name} logged ${lines.length} lines, wanted ${n}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test.run();
