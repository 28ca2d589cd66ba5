import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { parseCgroupLayout } from '../../../../agent/src/host/cgroups.js';
import { parseCgroupStats, resolveCgroupPaths } from '../../../../agent/src/runtime/driver/index.js';

const test = suite('driver: cgroup stats parsing (v1 and v2)');

const V1_MEMORY_STAT = `cache 9981952
rss 5541888
inactive_file 188416
hierarchical_memory_limit 33554432
total_cache 555134976
total_rss 10530816
total_inactive_anon 4816896
total_inactive_file 2097152
`;

test('v1: working set = usage - total_inactive_file; limit, peak, cpuacct ns, pids, oom_kill', () => {
  const s = parseCgroupStats('v1', {
    'memory.usage_in_bytes': '12582912\n',
    'memory.limit_in_bytes': '33554432\n',
    'memory.max_usage_in_bytes': '16777216\n',
    'memory.stat': V1_MEMORY_STAT,
    'memory.oom_control': 'oom_kill_disable 0\nunder_oom 0\noom_kill 2\n',
    'cpuacct.usage': '123456789\n',
    'pids.current': '3\n',
  });
  assert.equal(s, {
    memoryBytes: 12582912 - 2097152,
    memoryLimitBytes: 33554432,
    memoryPeakBytes: 16777216,
    cpuUsageNs: 123456789,
    pids: 3,
    oomKills: 2,
  });
});

test('v1: PAGE_COUNTER_MAX is no limit (0); old kernels without oom_kill; missing files', () => {
  const s = parseCgroupStats('v1', {
    'memory.usage_in_bytes': '4096',
    'memory.limit_in_bytes': '9223372036854771712',
    'memory.oom_control': 'oom_kill_disable 0\nunder_oom 0\n',
  });
  assert.equal(s, { memoryBytes: 4096, memoryLimitBytes: 0, cpuUsageNs: 0, pids: 0 });
});

test('v1: inactive file cache larger than usage (racing reads) never gives a negative working set', () => {
  const s = parseCgroupStats('v1', { 'memory.usage_in_bytes': '100', 'memory.stat': 'total_inactive_file 4096\n' });
  assert.is(s.memoryBytes, 0);
});

test('v2: memory.current - inactive_file, memory.max, memory.peak, cpu.stat usage_usec in ns, memory.events oom_kill', () => {
  const s = parseCgroupStats('v2', {
    'memory.current': '10485760\n',
    'memory.max': '67108864\n',
    'memory.peak': '20971520\n',
    'memory.stat': 'anon 8388608\nfile 2097152\ninactive_file 1048576\nactive_file 1048576\n',
    'memory.events': 'low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\noom_group_kill 0\n',
    'cpu.stat': 'usage_usec 1536984\nuser_usec 1294438\nsystem_usec 242545\nnr_periods 0\n',
    'pids.current': '7\n',
  });
  assert.equal(s, {
    memoryBytes: 10485760 - 1048576,
    memoryLimitBytes: 67108864,
    memoryPeakBytes: 20971520,
    cpuUsageNs: 1536984000,
    pids: 7,
    oomKills: 1,
  });
});

test('v2: "max" is no limit; kernels before 5.19 have no memory.peak', () => {
  const s = parseCgroupStats('v2', { 'memory.current': '8192', 'memory.max': 'max\n', 'cpu.stat': 'usage_usec 5\n' });
  assert.equal(s, { memoryBytes: 8192, memoryLimitBytes: 0, cpuUsageNs: 5000, pids: 0 });
});

test('cgroup paths of a process: v1 per controller (co-mounted and separate), v2 unified', () => {
  const hybrid = parseCgroupLayout(`31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids
41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw`);
  const proc = '8:pids:/gantry/app\n4:memory:/agent/gantry/app\n2:cpu,cpuacct:/gantry/app\n0::/gantry/app\n';
  assert.equal(resolveCgroupPaths(proc, hybrid), {
    version: 'v1',
    memory: '/sys/fs/cgroup/memory/agent/gantry/app',
    cpu: '/sys/fs/cgroup/cpu,cpuacct/gantry/app',
    pids: '/sys/fs/cgroup/pids/gantry/app',
  });
  const v2 = parseCgroupLayout('30 22 0:26 / /sys/fs/cgroup rw shared:4 - cgroup2 cgroup2 rw,nsdelegate');
  assert.equal(resolveCgroupPaths('0::/gantry/app\n', v2), {
    version: 'v2',
    memory: '/sys/fs/cgroup/gantry/app',
    cpu: '/sys/fs/cgroup/gantry/app',
    pids: '/sys/fs/cgroup/gantry/app',
  });
  assert.is(resolveCgroupPaths('0::/x\n', parseCgroupLayout('')), undefined);
});

test.run();
