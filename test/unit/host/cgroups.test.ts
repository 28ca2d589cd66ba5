import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { parseCgroupLayout } from '../../../agent/src/host/cgroups.js';
import { ociPlatformOf } from '../../../agent/src/host/platform.js';

const test = suite('cgroup layout and platform');

const V1 = `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd`;

const HYBRID = `${V1}
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw`;

const V2 = `22 1 0:21 / /sys rw - sysfs sysfs rw
30 22 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot`;

test('v1: controllers by name, co-mounted ones under both names', () => {
  const l = parseCgroupLayout(V1);
  assert.is(l.version, 'v1');
  assert.is(l.v1Controllers.cpu, '/sys/fs/cgroup/cpu,cpuacct');
  assert.is(l.v1Controllers.cpuacct, '/sys/fs/cgroup/cpu,cpuacct');
  assert.is(l.v1Controllers.memory, '/sys/fs/cgroup/memory');
  assert.is(l.v1Controllers['name=systemd'], '/sys/fs/cgroup/systemd');
  assert.is(l.unifiedMount, undefined);
});

test('hybrid: v1 controllers plus a cgroup2 mount', () => {
  const l = parseCgroupLayout(HYBRID);
  assert.is(l.version, 'hybrid');
  assert.is(l.unifiedMount, '/sys/fs/cgroup/unified');
});

test('v2: one cgroup2 mount at the root, optional fields before the separator', () => {
  const l = parseCgroupLayout(V2);
  assert.is(l.version, 'v2');
  assert.is(l.unifiedMount, '/sys/fs/cgroup');
  assert.equal(l.v1Controllers, {});
});

test('no cgroups mounted, and octal escapes in mount points', () => {
  assert.is(parseCgroupLayout('').version, 'none');
  const l = parseCgroupLayout('50 1 0:40 / /sys/fs/cgroup/my\\040dir rw - cgroup cgroup rw,pids');
  assert.is(l.v1Controllers.pids, '/sys/fs/cgroup/my dir');
});

test('OCI platform names from Node arch names', () => {
  assert.equal(ociPlatformOf('x64'), { os: 'linux', architecture: 'amd64' });
  assert.equal(ociPlatformOf('arm64'), { os: 'linux', architecture: 'arm64', variant: 'v8' });
  assert.equal(ociPlatformOf('arm', '6'), { os: 'linux', architecture: 'arm', variant: 'v6' });
  assert.equal(ociPlatformOf('arm'), { os: 'linux', architecture: 'arm', variant: 'v7' });
});

test.run();
