import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { type BundleDevice, buildRuntimeSpec, cpuWeightToShares } from '../../../../agent/src/runtime/bundle/index.js';
import { bundleInput, view } from './fixtures.js';

const test = suite('bundle: linux (resources, devices, namespaces, paths)');

const spec = (...a: Parameters<typeof bundleInput>) => view(buildRuntimeSpec(bundleInput(...a)));
const MiB = 1024 * 1024;

const ttyS1: BundleDevice = {
  hostPath: '/dev/ttyS1',
  containerPath: '/dev/ttyS1',
  type: 'c',
  major: 4,
  minor: 65,
  fileMode: 0o20660,
  uid: 0,
  gid: 20,
  access: 'rw',
};

test('memory: limit in bytes, swap equal to the limit (no swap), reservation when asked', () => {
  const r = spec({}, { resources: { memoryMiB: 64, cpus: 0.5, pids: 32, memoryReservationMiB: 16 } }).linux.resources;
  assert.equal(r.memory, { limit: 64 * MiB, swap: 64 * MiB, reservation: 16 * MiB });
  assert.is(spec().linux.resources.memory.reservation, undefined);
});

test('cpu: quota = cpus x 100000 us period, rounded; cpuset passed through', () => {
  const cpu = (cpus: number, cpuset?: string) =>
    spec({}, { resources: { memoryMiB: 64, cpus, pids: 32, cpuset } }).linux.resources.cpu;
  assert.equal(cpu(0.5), { quota: 50_000, period: 100_000 });
  assert.equal(cpu(1.5, '0-1'), { quota: 150_000, period: 100_000, cpus: '0-1' });
  assert.is(cpu(0.333).quota, 33_300);
});

test('cpuWeight -> v1 shares: 2 + (w-1)*262142/9999, the inverse of runc on v2', () => {
  assert.is(cpuWeightToShares(1), 2);
  assert.is(cpuWeightToShares(10_000), 262_144);
  assert.is(cpuWeightToShares(100), 2597);
  // runc's ConvertCPUSharesToCgroupV2Value brings it back within one step.
  const back = (shares: number) => 1 + Math.floor(((shares - 2) * 9999) / 262_142);
  for (const w of [1, 2, 50, 100, 500, 9999, 10_000])
    assert.ok(Math.abs(back(cpuWeightToShares(w)) - w) <= 1, String(w));
  const r = spec({}, { resources: { memoryMiB: 64, cpus: 0.5, pids: 32, cpuWeight: 100 } }).linux.resources;
  assert.is(r.cpu.shares, 2597);
});

test('pids and block I/O weight', () => {
  const r = spec({}, { resources: { memoryMiB: 64, cpus: 0.5, pids: 40, ioWeight: 300 } }).linux.resources;
  assert.equal(r.pids, { limit: 40 });
  assert.equal(r.blockIO, { weight: 300 });
  assert.is(spec().linux.resources.blockIO, undefined);
});

test('resources are never unlimited, even when admission was skipped', () => {
  const input = bundleInput();
  (input.resources as unknown as Record<string, unknown>).pids = undefined;
  assert.throws(() => buildRuntimeSpec(input), /resources.pids is missing/);
  assert.throws(
    () => spec({}, { resources: { memoryMiB: 0, cpus: 0.5, pids: 1 } }),
    /memoryMiB must be a positive integer/,
  );
});

test('device rules: deny all, the default nodes, then each grant with its access', () => {
  const rules = spec({}, { devices: [ttyS1, { ...ttyS1, containerPath: '/dev/ttyRO', minor: 66, access: 'r' }] }).linux
    .resources.devices;
  assert.equal(rules[0], { allow: false, access: 'rwm' });
  const allowed = rules.filter((r) => r.allow).map((r) => `${r.type} ${r.major}:${r.minor ?? '*'} ${r.access}`);
  assert.equal(allowed, [
    'c 1:3 rwm',
    'c 1:5 rwm',
    'c 1:7 rwm',
    'c 1:8 rwm',
    'c 1:9 rwm',
    'c 5:0 rwm',
    'c 5:1 rwm',
    'c 5:2 rwm',
    'c 136:* rwm',
    'c 4:65 rw',
    'c 4:66 r',
  ]);
  assert.not.ok(
    allowed.some((r) => r.startsWith('c 1:1 ')),
    '/dev/mem is never allowed by default',
  );
});

test('granted devices are bind mounts of the host node, not nodes runc creates', () => {
  const s = spec({}, { devices: [{ ...ttyS1, containerPath: '/dev/rs485-1' }] });
  assert.equal(s.linux.devices, []);
  const m = (s.mounts as Array<{ destination: string; source?: string; type?: string }>).find(
    (x) => x.destination === '/dev/rs485-1',
  );
  assert.is(m?.source, ttyS1.hostPath);
  assert.is(m?.type, 'bind');
});

test('device grants are validated', () => {
  assert.throws(() => spec({}, { devices: [{ ...ttyS1, containerPath: 'ttyS1' }] }), /container path "ttyS1"/);
  assert.throws(() => spec({}, { devices: [{ ...ttyS1, major: -1 }] }), /major must be a non-negative integer/);
  const bad = { ...ttyS1, access: 'x' } as unknown as BundleDevice;
  assert.throws(() => spec({}, { devices: [bad] }), /access must be r, rw or rwm/);
});

test('namespaces: containerd defaults; host network drops the network namespace', () => {
  const types = (s: ReturnType<typeof spec>) => s.linux.namespaces.map((n) => n.type);
  assert.equal(types(spec()), ['pid', 'ipc', 'uts', 'mount', 'network']);
  assert.equal(types(spec({ network: 'none' })), ['pid', 'ipc', 'uts', 'mount', 'network']);
  assert.equal(types(spec({ network: 'host' })), ['pid', 'ipc', 'uts', 'mount']);
});

test('namespaces: cgroup namespace only on v2', () => {
  const has = (v: 'v1' | 'v2' | 'hybrid') =>
    spec({}, { cgroupVersion: v }).linux.namespaces.some((n) => n.type === 'cgroup');
  assert.is(has('v1'), false);
  assert.is(has('hybrid'), false);
  assert.is(has('v2'), true);
});

test('user namespace: needs an id range; maps container 0.. onto it; devices become bind mounts', () => {
  assert.throws(() => spec({ userNamespace: true }), /userNamespace needs a host uid\/gid range/);
  const s = spec(
    { userNamespace: true },
    { idMap: { hostUid: 100_000, hostGid: 200_000, size: 65_536 }, devices: [ttyS1] },
  );
  assert.ok(s.linux.namespaces.some((n) => n.type === 'user'));
  assert.equal(s.linux.uidMappings, [{ containerID: 0, hostID: 100_000, size: 65_536 }]);
  assert.equal(s.linux.gidMappings, [{ containerID: 0, hostID: 200_000, size: 65_536 }]);
  assert.equal(s.linux.devices, []);
  const bind = s.mounts.find((m) => m.destination === '/dev/ttyS1');
  assert.equal(bind, {
    destination: '/dev/ttyS1',
    type: 'bind',
    source: '/dev/ttyS1',
    options: ['bind', 'nosuid', 'noexec'],
  });
  assert.ok(s.linux.resources.devices.some((r) => r.allow && r.major === 4 && r.minor === 65));
});

test('masked and read-only paths: podman defaults', () => {
  const s = spec();
  for (const p of ['/proc/acpi', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list']) {
    assert.ok(s.linux.maskedPaths.includes(p), p);
  }
  for (const p of ['/proc/timer_stats', '/proc/sched_debug', '/proc/scsi', '/sys/firmware', '/sys/dev/block']) {
    assert.ok(s.linux.maskedPaths.includes(p), p);
  }
  assert.equal(s.linux.readonlyPaths, [
    '/proc/asound',
    '/proc/bus',
    '/proc/fs',
    '/proc/irq',
    '/proc/sys',
    '/proc/sysrq-trigger',
  ]);
});

test('cgroupsPath and root', () => {
  const s = spec();
  assert.is(s.linux.cgroupsPath, '/gantry/meter');
  assert.equal(s.root, { path: '/var/lib/gantry/containers/meter/rootfs', readonly: false });
  assert.throws(() => spec({}, { cgroupsPath: 'gantry/meter' }), /cgroupsPath must be an absolute path/);
  assert.throws(() => spec({}, { rootfs: 'rootfs' }), /rootfs must be an absolute path/);
  assert.throws(() => spec({}, { hostname: 'bad_name' }), /hostname "bad_name"/);
});

test.run();
