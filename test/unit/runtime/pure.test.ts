import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { splitAtFirstPositional } from '../../../agent/src/cli/command.js';
import { specFromFlags } from '../../../agent/src/cli/commands/containers.js';
import { cpuPercent } from '../../../agent/src/cli/commands/stats-logs.js';
import { parseMemoryMiB } from '../../../agent/src/cli/sizes.js';
import { validateAppSpec } from '../../../agent/src/runtime/app-spec.js';
import { parseProcLimits } from '../../../agent/src/runtime/host-limits.js';
import { deferCpuQuota, devNumbers } from '../../../agent/src/runtime/launcher.js';
import { backoffMs, nextStreak, shouldRestart } from '../../../agent/src/runtime/restart-policy.js';
import { overlayMountArgs } from '../../../agent/src/runtime/rootfs.js';

const test = suite('runtime: pure helpers');
const exit = (exitCode: number, oomKilled = false) => ({ exitCode, oomKilled, finishedAt: 't' });

test('restart policies and backoff', () => {
  assert.ok(shouldRestart({ policy: 'always' }, exit(0), 99));
  assert.not.ok(shouldRestart({ policy: 'never' }, exit(1), 0));
  assert.not.ok(shouldRestart(undefined, exit(1), 0));
  assert.not.ok(shouldRestart({ policy: 'on-failure' }, exit(0), 0));
  assert.ok(shouldRestart({ policy: 'on-failure' }, exit(0, true), 0), 'an OOM kill is a failure');
  assert.ok(shouldRestart({ policy: 'on-failure', maxRetries: 2 }, exit(3), 1));
  assert.not.ok(shouldRestart({ policy: 'on-failure', maxRetries: 2 }, exit(3), 2));
  assert.equal([0, 1, 2, 8, 9, 30].map(backoffMs), [1000, 2000, 4000, 256000, 300000, 300000]);
  assert.is(nextStreak(5, 60_000), 5);
  assert.is(nextStreak(5, 11 * 60_000), 0);
});

test('/proc/self/limits', () => {
  const text = `Limit                     Soft Limit           Hard Limit           Units
Max cpu time              unlimited            unlimited            seconds
Max open files            1024                 20000                files
Max processes             63704                63704                processes`;
  assert.equal(parseProcLimits(text), [
    { type: 'RLIMIT_CPU', soft: Number.MAX_SAFE_INTEGER, hard: Number.MAX_SAFE_INTEGER },
    { type: 'RLIMIT_NOFILE', soft: 1024, hard: 20000 },
    { type: 'RLIMIT_NPROC', soft: 63704, hard: 63704 },
  ]);
});

test('device numbers and the overlay mount', () => {
  assert.equal(devNumbers(0x0503), { major: 5, minor: 3 });
  assert.equal(devNumbers(136 * 256 + 7), { major: 136, minor: 7 });
  assert.equal(devNumbers(0x10010301), { major: 259, minor: 65537 }, 'large minors (nvme-style) use the high bits');
  assert.equal(overlayMountArgs(['/s/l1', '/s/l2'], { merged: '/c/rootfs', upper: '/c/upper', work: '/c/work' }), [
    '-t',
    'overlay',
    'overlay',
    '-o',
    'lowerdir=/s/l2:/s/l1,upperdir=/c/upper,workdir=/c/work,index=off',
    '/c/rootfs',
  ]);
});

test('app spec validation names the field', () => {
  assert.is(validateAppSpec({ name: 'meter-1', image: 'x' }).name, 'meter-1');
  const cases: Array<[unknown, RegExp]> = [
    [{ name: 'Meter', image: 'x' }, /name/],
    [{ name: 'm', image: '' }, /image: is required/],
    [{ name: 'm', image: 'x', resources: { memoryMiB: -1 } }, /resources\.memoryMiB/],
    [{ name: 'm', image: 'x', resources: { cpuset: '0-a' } }, /resources\.cpuset/],
    [{ name: 'm', image: 'x', devices: [{ path: '/etc/passwd' }] }, /devices\[0\]\.path/],
    [{ name: 'm', image: 'x', network: 'bridge' }, /network/],
    [{ name: 'm', image: 'x', restart: { policy: 'sometimes' } }, /restart\.policy/],
    [{ name: 'm', image: 'x', volumes: [{ name: 'data', target: 'rel' }] }, /volumes\[0\]\.target/],
  ];
  for (const [spec, re] of cases) assert.throws(() => validateAppSpec(spec), re);
});

test('gantry run flags', () => {
  const argv = ['--name', 'x', '--memory', '64Mi', 'busybox', 'sh', '-c', 'echo --name'];
  const split = splitAtFirstPositional(argv, {
    name: { type: 'string' },
    memory: { type: 'string' },
    'read-only': { type: 'boolean' },
  });
  assert.equal(split, { head: ['--name', 'x', '--memory', '64Mi', 'busybox'], rest: ['sh', '-c', 'echo --name'] });
  assert.equal(splitAtFirstPositional(['--read-only', '--', 'img', '-x'], { 'read-only': { type: 'boolean' } }), {
    head: ['--read-only'],
    rest: ['img', '-x'],
  });
  assert.equal(
    specFromFlags(
      {
        name: 'x',
        memory: '64Mi',
        cpus: '0.5',
        restart: 'on-failure:3',
        env: ['A=1', 'B=x=y'],
        device: ['/dev/ttyS1'],
        'read-only': true,
      },
      'img',
      ['sleep', '1'],
    ),
    {
      name: 'x',
      image: 'img',
      command: ['sleep', '1'],
      env: { A: '1', B: 'x=y' },
      resources: { memoryMiB: 64, cpus: 0.5 },
      devices: [{ path: '/dev/ttyS1' }],
      readOnlyRootfs: true,
      restart: { policy: 'on-failure', maxRetries: 3 },
    },
  );
  assert.throws(() => specFromFlags({ name: 'x', restart: 'sometimes' }, 'i', []), /--restart/);
  assert.equal(
    ['64Mi', '64m', '1G', '65536k', '134217728'].map((s) => parseMemoryMiB(s, '--memory')),
    [64, 64, 1024, 64, 128],
  );
  assert.throws(() => parseMemoryMiB('lots', '--memory'), /--memory: "lots" is not a size/);
  assert.is(
    cpuPercent(
      { name: 'a', at: 0, stats: { cpuUsageNs: 0 } as never },
      { name: 'a', at: 2000, stats: { cpuUsageNs: 1e9 } as never },
    ),
    50,
  );
});

test('the CPU quota is taken out of the spec to be set after create', () => {
  const spec = { linux: { resources: { cpu: { quota: 10_000, period: 100_000, shares: 512 } } } };
  assert.equal(deferCpuQuota(spec), { quota: 10_000, period: 100_000 });
  assert.equal(spec.linux.resources.cpu, { period: 100_000, shares: 512 });
  assert.is(deferCpuQuota({ linux: { resources: {} } }), undefined);
});

test.run();
