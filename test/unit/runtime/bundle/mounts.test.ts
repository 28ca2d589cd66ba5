import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { buildRuntimeSpec } from '../../../../agent/src/runtime/bundle/index.js';
import { bundleInput, view } from './fixtures.js';

const test = suite('bundle: mounts');

const spec = (...a: Parameters<typeof bundleInput>) => view(buildRuntimeSpec(bundleInput(...a)));
const at = (s: ReturnType<typeof spec>, dest: string) => s.mounts.find((m) => m.destination === dest);

test('the kernel filesystems every container gets', () => {
  const s = spec();
  assert.equal(at(s, '/proc'), {
    destination: '/proc',
    type: 'proc',
    source: 'proc',
    options: ['nosuid', 'noexec', 'nodev'],
  });
  assert.equal(at(s, '/dev')?.options, ['nosuid', 'strictatime', 'mode=755', 'size=65536k']);
  assert.equal(at(s, '/dev/pts')?.options, ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5']);
  assert.equal(at(s, '/dev/mqueue')?.type, 'mqueue');
  assert.equal(at(s, '/sys'), {
    destination: '/sys',
    type: 'sysfs',
    source: 'sysfs',
    options: ['nosuid', 'noexec', 'nodev', 'ro'],
  });
  assert.equal(at(s, '/sys/fs/cgroup')?.type, 'cgroup');
  assert.ok(at(s, '/sys/fs/cgroup')?.options?.includes('ro'));
  const order = s.mounts.map((m) => m.destination);
  assert.ok(order.indexOf('/dev') < order.indexOf('/dev/pts'), '/dev before /dev/pts');
  assert.ok(order.indexOf('/sys') < order.indexOf('/sys/fs/cgroup'), '/sys before /sys/fs/cgroup');
});

test('/dev/shm: 16 MiB by default, shmSizeMiB otherwise', () => {
  assert.equal(at(spec(), '/dev/shm')?.options, ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=16384k']);
  assert.ok(at(spec({ shmSizeMiB: 64 }), '/dev/shm')?.options?.includes('size=65536k'));
  assert.throws(() => spec({ shmSizeMiB: 0 }), /shmSizeMiB must be a positive integer/);
});

test('/etc/hostname, /etc/hosts and /etc/resolv.conf: read-only binds of the host files', () => {
  const s = spec();
  assert.equal(at(s, '/etc/hosts'), {
    destination: '/etc/hosts',
    type: 'bind',
    source: '/var/lib/gantry/containers/meter/hosts',
    options: ['bind', 'ro', 'nosuid', 'noexec', 'nodev'],
  });
  assert.is(at(s, '/etc/hostname')?.source, '/var/lib/gantry/containers/meter/hostname');
  assert.is(at(s, '/etc/resolv.conf')?.source, '/var/lib/gantry/containers/meter/resolv.conf');
});

test('a read-only rootfs gets tmpfs /tmp and /run, before anything mounted below them', () => {
  const rw = spec();
  assert.is(rw.root.readonly, false);
  assert.is(at(rw, '/tmp'), undefined);
  assert.is(at(rw, '/run'), undefined);
  const ro = spec({ readOnlyRootfs: true }, { esdkDir: '/run/gantry/esdk/meter' });
  assert.is(ro.root.readonly, true);
  assert.equal(at(ro, '/tmp'), {
    destination: '/tmp',
    type: 'tmpfs',
    source: 'tmpfs',
    options: ['nosuid', 'nodev', 'mode=1777'],
  });
  assert.equal(at(ro, '/run')?.type, 'tmpfs');
  const order = ro.mounts.map((m) => m.destination);
  assert.ok(order.indexOf('/run') < order.indexOf('/run/gantry'), '/run before /run/gantry');
});

test('volumes: rbind, nosuid, nodev, ro on request; parents before children', () => {
  const s = spec(
    {},
    {
      volumes: [
        { source: '/data/v/logs', target: '/var/lib/app/logs', readOnly: false },
        { source: '/data/v/app', target: '/var/lib/app', readOnly: true },
      ],
    },
  );
  const vols = s.mounts.filter((m) => m.source.startsWith('/data/v/'));
  assert.equal(vols, [
    { destination: '/var/lib/app', type: 'bind', source: '/data/v/app', options: ['rbind', 'nosuid', 'nodev', 'ro'] },
    { destination: '/var/lib/app/logs', type: 'bind', source: '/data/v/logs', options: ['rbind', 'nosuid', 'nodev'] },
  ]);
});

test('volumes: targets that would cover kernel or agent-managed paths are refused', () => {
  const vol = (target: string) =>
    spec({}, { volumes: [{ source: '/data/v', target, readOnly: false }], esdkDir: '/e' });
  assert.throws(() => vol('data'), /volume target "data" must be an absolute path/);
  assert.throws(() => vol('/'), /must be an absolute path below/);
  assert.throws(() => vol('/a/../proc'), /must be an absolute path/);
  assert.throws(() => vol('/proc/sys'), /is inside \/proc/);
  assert.throws(() => vol('/dev'), /is inside \/dev/);
  assert.throws(() => vol('/etc/resolv.conf'), /managed by the agent/);
  assert.throws(() => vol('/run/gantry'), /inside \/run\/gantry/);
  assert.ok(vol('/devices'), '/devices is not /dev');
  assert.throws(
    () =>
      spec(
        {},
        {
          volumes: [
            { source: '/a', target: '/x', readOnly: false },
            { source: '/b', target: '/x', readOnly: true },
          ],
        },
      ),
    /two volumes at \/x/,
  );
});

test('the eSDK dir is bound at /run/gantry', () => {
  assert.equal(at(spec({}, { esdkDir: '/var/lib/gantry/esdk/meter' }), '/run/gantry'), {
    destination: '/run/gantry',
    type: 'bind',
    source: '/var/lib/gantry/esdk/meter',
    options: ['bind', 'nosuid', 'noexec', 'nodev'],
  });
  assert.is(at(spec(), '/run/gantry'), undefined);
});

test('user namespace with host network binds /sys instead of mounting sysfs', () => {
  const s = spec({ userNamespace: true, network: 'host' }, { idMap: { hostUid: 1e5, hostGid: 1e5, size: 65_536 } });
  assert.equal(at(s, '/sys')?.type, 'bind');
  assert.ok(at(s, '/sys')?.options?.includes('ro'));
  const tiny = spec({ userNamespace: true }, { idMap: { hostUid: 1e5, hostGid: 1e5, size: 1 } });
  assert.not.ok(at(tiny, '/dev/pts')?.options?.includes('gid=5'), 'gid 5 is not mapped');
});

test.run();
