import { existsSync } from 'node:fs';
import { copyFile, mkdir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import * as assert from 'uvu/assert';
import { detectCgroupLayout } from '../../../agent/src/host/cgroups.js';
import {
  type BundleDevice,
  type BundleInput,
  buildRuntimeSpec,
  DEFAULT_CAPABILITIES,
  MASKED_PATHS,
  READONLY_PATHS,
} from '../../../agent/src/runtime/bundle/index.js';
import type { AppSpec } from '../../../agent/src/runtime/types.js';
import { hostSuite } from '../../helpers/host-tools.js';
import { type RunResult, run } from '../../helpers/processes.js';
import { type TempDir, tempDir } from '../../helpers/tmp.js';

/**
 * The spec from buildRuntimeSpec, run by the real runc on a busybox rootfs:
 * what the kernel then reports inside the container is what the spec promised.
 */
const { test, paths } = hostSuite<{ dir: TempDir }>('runtime: a generated bundle under real runc', ['runc', 'busybox']);

const SECCOMP_JSON = '/usr/share/containers/seccomp.json';
const MEMORY_MIB = 48;
const APPLETS = ['sh', 'cat', 'grep', 'head', 'wc', 'touch', 'echo', 'ls', 'id', 'hostname', 'true'];
/** Capability bits (linux/capability.h) -> the CapEff mask /proc/self/status shows. */
const CAP_BITS: Record<string, number> = {
  CAP_CHOWN: 0,
  CAP_DAC_OVERRIDE: 1,
  CAP_FOWNER: 3,
  CAP_FSETID: 4,
  CAP_KILL: 5,
  CAP_SETGID: 6,
  CAP_SETUID: 7,
  CAP_SETPCAP: 8,
  CAP_NET_BIND_SERVICE: 10,
  CAP_SYS_CHROOT: 18,
  CAP_SETFCAP: 31,
};
let seq = 0;

test.before.each(async (ctx) => {
  ctx.dir = await tempDir('gantry-bundle-');
});
test.after.each(async (ctx) => {
  await ctx.dir?.cleanup();
});

/** The agent's own hard limits, as getrlimit would give them (Node has no getrlimit). */
async function hostRlimits(): Promise<BundleInput['hostRlimits']> {
  const text = await readFile('/proc/self/limits', 'utf8');
  const m = /^Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/m.exec(text);
  const num = (s: string) => (s === 'unlimited' ? Number.POSITIVE_INFINITY : Number(s));
  return m ? [{ type: 'RLIMIT_NOFILE', soft: num(m[1] as string), hard: num(m[2] as string) }] : [];
}

async function cgroupVersion(): Promise<BundleInput['cgroupVersion']> {
  const { version } = await detectCgroupLayout();
  if (version === 'none') throw new Error('no cgroups mounted: runc cannot apply limits here');
  return version;
}

/** The masked paths this kernel has (/proc/kcore needs CONFIG_PROC_KCORE, /proc/sched_debug moved to debugfs...). */
async function maskedOnHost(): Promise<Array<{ path: string; dir: boolean }>> {
  const found: Array<{ path: string; dir: boolean }> = [];
  for (const p of MASKED_PATHS) {
    const st = await stat(p).catch(() => undefined);
    if (st) found.push({ path: p, dir: st.isDirectory() });
  }
  return found;
}

/** The host's char device at `hostPath`, as the agent would stat it. */
async function statDevice(hostPath: string, containerPath: string): Promise<BundleDevice> {
  const st = await stat(hostPath).catch((e: unknown) => {
    throw new Error(
      `${hostPath} is needed here: a char device that no default rule allows and that opens without caps`,
      {
        cause: e,
      },
    );
  });
  assert.ok(st.isCharacterDevice(), `${hostPath} is a character device`);
  // glibc's gnu_dev_major/minor for the common (< 2^32) encodings.
  const major = (st.rdev >> 8) & 0xfff;
  const minor = (st.rdev & 0xff) | ((st.rdev >> 12) & 0xfff00);
  return {
    hostPath,
    containerPath,
    type: 'c',
    major,
    minor,
    fileMode: st.mode,
    uid: st.uid,
    gid: st.gid,
    access: 'rw',
  };
}

async function bundleFor(dir: string, app: Partial<AppSpec>, devices: BundleDevice[] = []) {
  const bundle = path.join(dir, 'bundle');
  const rootfs = path.join(bundle, 'rootfs');
  await mkdir(path.join(rootfs, 'bin'), { recursive: true });
  await copyFile(paths.busybox as string, path.join(rootfs, 'bin', 'busybox'));
  for (const applet of APPLETS) await symlink('busybox', path.join(rootfs, 'bin', applet));
  const etc = {
    hostname: path.join(dir, 'hostname'),
    hosts: path.join(dir, 'hosts'),
    resolvConf: path.join(dir, 'resolv'),
  };
  await writeFile(etc.hostname, 'bundle-test\n');
  await writeFile(etc.hosts, '127.0.0.1 localhost bundle-test\n');
  await writeFile(etc.resolvConf, 'nameserver 127.0.0.53\n');
  if (!existsSync(SECCOMP_JSON)) throw new Error(`${SECCOMP_JSON} is missing: run scripts/setup-host`);
  const id = `gantry-bundle-${process.pid}-${++seq}`;
  const spec = buildRuntimeSpec({
    app: { name: 'bundle-test', image: 'busybox', ...app },
    resources: { memoryMiB: MEMORY_MIB, cpus: 0.5, pids: 64 },
    imageConfig: { Env: ['PATH=/bin'], Cmd: ['sh'] },
    rootfs,
    hostname: 'bundle-test',
    etc,
    volumes: [],
    devices,
    hostRlimits: await hostRlimits(),
    seccompProfile: JSON.parse(await readFile(SECCOMP_JSON, 'utf8')),
    cgroupsPath: `/${id}`,
    cgroupVersion: await cgroupVersion(),
    agentEnv: { GANTRY_APP: 'bundle-test' },
  });
  return { bundle, id, spec };
}

async function runSpec(
  dir: string,
  b: { bundle: string; id: string; spec: Record<string, unknown> },
): Promise<RunResult> {
  await writeFile(path.join(b.bundle, 'config.json'), JSON.stringify(b.spec, null, 2));
  const root = path.join(dir, 'runc-state');
  try {
    return await run(paths.runc as string, ['--root', root, 'run', '--bundle', b.bundle, b.id], { timeoutMs: 30_000 });
  } finally {
    await run(paths.runc as string, ['--root', root, 'delete', '--force', b.id]).catch(() => undefined);
  }
}

/** Run `script` with sh -c in a container built from `app`; stdout lines as KEY=VALUE pairs. */
async function runScript(dir: string, app: Partial<AppSpec>, script: string, devices?: BundleDevice[]) {
  const res = await runSpec(dir, await bundleFor(dir, { ...app, command: ['-c', script] }, devices));
  return { res, out: res.stdout };
}

test('the kernel enforces what the spec says: no_new_privs, seccomp filter, capabilities, limits', async ({ dir }) => {
  const script = [
    'grep -E "^(NoNewPrivs|Seccomp|CapEff|CapBnd|CapInh|CapAmb):" /proc/self/status',
    'echo "mem=$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max)"',
    'echo "pids=$(cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max)"',
    'echo "nofile=$(ulimit -n)"',
    // A masked file is /dev/null bound over it; a masked directory an empty read-only tmpfs.
    ...(await maskedOnHost()).map((m) =>
      m.dir ? `echo "masked ${m.path}=$(ls -A ${m.path} | wc -l)"` : `[ -c ${m.path} ] && echo "masked ${m.path}=0"`,
    ),
    'grep " /proc/" /proc/self/mountinfo',
    'echo "net=$(ls /sys/class/net)"',
    'echo "host=$(hostname) app=$GANTRY_APP uid=$(id -u)"',
  ].join('; ');
  const { res, out } = await runScript(dir.path, { entrypoint: ['sh'] }, script);
  assert.is(res.code, 0, res.stderr);
  const mask = DEFAULT_CAPABILITIES.reduce((m, c) => m | (1n << BigInt(CAP_BITS[c] as number)), 0n);
  const capHex = mask.toString(16).padStart(16, '0');
  assert.match(out, /^NoNewPrivs:\s+1$/m);
  assert.match(out, /^Seccomp:\s+2$/m);
  assert.match(out, new RegExp(`^CapEff:\\s+${capHex}$`, 'm'));
  assert.match(out, new RegExp(`^CapBnd:\\s+${capHex}$`, 'm'));
  assert.match(out, /^CapInh:\s+0{16}$/m);
  assert.match(out, /^CapAmb:\s+0{16}$/m);
  assert.match(out, `mem=${MEMORY_MIB * 1024 * 1024}`);
  assert.match(out, 'pids=64');
  assert.match(out, 'nofile=1024');
  const masked = await maskedOnHost();
  assert.ok(masked.length >= 3, `expected some masked paths to exist here, found ${masked.map((m) => m.path)}`);
  for (const m of masked) assert.match(out, `masked ${m.path}=0`, `${m.path} is masked`);
  // mountinfo(5): field 5 is the mount point, field 6 its per-mount options.
  const mountOpts = new Map(
    out
      .split('\n')
      .map((l) => l.split(' '))
      .map((f) => [f[4], f[5] ?? '']),
  );
  for (const p of READONLY_PATHS.filter((p) => existsSync(p))) {
    assert.ok(mountOpts.get(p)?.split(',').includes('ro'), `${p} is mounted read-only`);
  }
  assert.match(out, /^net=lo$/m, 'network none: only loopback');
  assert.match(out, 'host=bundle-test app=bundle-test uid=0');
});

test('writes to / fail on a read-only rootfs; /tmp and /run stay writable', async ({ dir }) => {
  const script = 'touch /x 2>&1 || echo root-ro; touch /tmp/x && echo tmp-ok; touch /run/x && echo run-ok';
  const { res, out } = await runScript(dir.path, { entrypoint: ['sh'], readOnlyRootfs: true }, script);
  assert.is(res.code, 0, res.stderr);
  assert.match(out, 'Read-only file system');
  assert.match(out, 'root-ro');
  assert.match(out, 'tmp-ok');
  assert.match(out, 'run-ok');
});

test('the same rootfs is writable when not read-only', async ({ dir }) => {
  const { res, out } = await runScript(dir.path, { entrypoint: ['sh'] }, 'touch /x && echo root-rw');
  assert.is(res.code, 0, res.stderr);
  assert.match(out, 'root-rw');
});

test('a granted device opens; /dev/mem does not exist', async ({ dir }) => {
  const fuse = await statDevice('/dev/fuse', '/dev/granted-fuse');
  const script = 'exec 3<>/dev/granted-fuse && echo granted-ok; [ -e /dev/mem ] && echo mem-present || echo no-mem';
  const { res, out } = await runScript(dir.path, { entrypoint: ['sh'] }, script, [fuse]);
  assert.is(res.code, 0, res.stderr);
  assert.match(out, 'granted-ok');
  assert.match(out, 'no-mem');
});

test('a device node without a grant is refused by the device cgroup', async ({ dir }) => {
  // The same /dev/fuse, but as a node only: no allow rule, so the default deny-all applies.
  const fuse = await statDevice('/dev/fuse', '/dev/ungranted-fuse');
  const b = await bundleFor(dir.path, {
    entrypoint: ['sh'],
    command: ['-c', 'exec 3<>/dev/ungranted-fuse && echo opened'],
  });
  const linux = b.spec.linux as { devices: unknown[] };
  linux.devices.push({ ...fuse, path: fuse.containerPath, fileMode: 0o600 });
  const res = await runSpec(dir.path, b);
  assert.not.match(res.stdout, 'opened');
  assert.match(res.stderr, 'Operation not permitted');
});

test('a non-root user has no effective capabilities; unconfined means no seccomp filter', async ({ dir }) => {
  const script = 'grep -E "^(Seccomp|CapEff):" /proc/self/status; id -u; id -g';
  const { res, out } = await runScript(
    dir.path,
    { entrypoint: ['sh'], user: '1000:1000', seccomp: 'unconfined' },
    script,
  );
  assert.is(res.code, 0, res.stderr);
  assert.match(out, /^Seccomp:\s+0$/m);
  assert.match(out, /^CapEff:\s+0{16}$/m);
  assert.match(out, /^1000\n1000$/m);
});

test.run();
