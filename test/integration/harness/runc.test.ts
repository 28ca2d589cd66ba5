import { copyFile, mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import * as assert from 'uvu/assert';
import { hostSuite } from '../../helpers/host-tools.js';
import { run } from '../../helpers/processes.js';
import { type TempDir, tempDir } from '../../helpers/tmp.js';

const { test, paths } = hostSuite<{ dir: TempDir }>('harness: runc runs a busybox bundle under a memory limit', [
  'runc',
  'busybox',
]);

const LIMIT = 32 * 1024 * 1024;

test.before.each(async (ctx) => {
  ctx.dir = await tempDir('gantry-runc-');
});
test.after.each(async (ctx) => {
  await ctx.dir?.cleanup();
});

/** A bundle whose rootfs is the static busybox and a few applet links; config from `runc spec`, patched. */
async function makeBundle(dir: string, args: string[]): Promise<string> {
  const bundle = path.join(dir, 'bundle');
  const bin = path.join(bundle, 'rootfs', 'bin');
  await mkdir(bin, { recursive: true });
  await copyFile(paths.busybox as string, path.join(bin, 'busybox'));
  for (const applet of ['sh', 'cat', 'head', 'tail', 'echo']) await symlink('busybox', path.join(bin, applet));
  const spec = await run(paths.runc as string, ['spec', '--bundle', bundle]);
  assert.is(spec.code, 0, spec.stderr);
  const config = JSON.parse(await readFile(path.join(bundle, 'config.json'), 'utf8'));
  config.process.terminal = false;
  config.process.args = args;
  config.process.env = ['PATH=/bin'];
  // The host's root lacks CAP_SYS_RESOURCE: rlimits must stay within our own hard limits.
  config.process.rlimits = [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }];
  // Swap equal to the limit means no swap: the hog below must be OOM-killed, not swapped out.
  config.linux.resources = { ...config.linux.resources, memory: { limit: LIMIT, swap: LIMIT } };
  await writeFile(path.join(bundle, 'config.json'), JSON.stringify(config, null, 2));
  return bundle;
}

async function runcRun(dir: string, bundle: string, id: string) {
  const root = path.join(dir, 'runc-state');
  try {
    return await run(paths.runc as string, ['--root', root, 'run', '--bundle', bundle, id], { timeoutMs: 30_000 });
  } finally {
    await run(paths.runc as string, ['--root', root, 'delete', '--force', id]).catch(() => undefined);
  }
}

test('the container sees its own memory limit', async ({ dir }) => {
  const script = 'cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max';
  const bundle = await makeBundle(dir.path, ['sh', '-c', script]);
  const res = await runcRun(dir.path, bundle, `gantry-harness-${process.pid}-limit`);
  assert.is(res.code, 0, res.stderr);
  assert.is(res.stdout.trim(), String(LIMIT));
});

test('a process that outgrows the limit is OOM-killed (exit 137)', async ({ dir }) => {
  // busybox tail keeps a whole newline-free line in memory: 96 MiB of zeros.
  const bundle = await makeBundle(dir.path, [
    'sh',
    '-c',
    'head -c 100663296 /dev/zero | tail -n 1 >/dev/null; echo "tail exit $?"',
  ]);
  const res = await runcRun(dir.path, bundle, `gantry-harness-${process.pid}-oom`);
  // The OOM killer usually picks tail (the shell then reports 137); now and then it takes the shell,
  // the container's init, and runc itself exits 137. Either way the limit was enforced by a kill.
  const tailKilled = res.code === 0 && res.stdout.trim() === 'tail exit 137';
  assert.ok(tailKilled || res.code === 137, `exit ${res.code}, output ${JSON.stringify(res.stdout)}, ${res.stderr}`);
});

test.run();
