/**
 * The spec's `mounts` (config.md "Mounts"; config-linux.md "Default
 * Filesystems"). Order matters: runc mounts them in list order, so a parent
 * (/run) always comes before what is mounted under it (/run/gantry).
 */
import path from 'node:path';
import { invalid } from '../../errors.js';
import { DEFAULT_SHM_MIB, ESDK_MOUNT } from './defaults.js';
import type { BundleInput } from './input.js';
import type { OciMount } from './oci-types.js';

const NOSUID_NOEXEC_NODEV = ['nosuid', 'noexec', 'nodev'];

/** True for "/a/b": absolute, with no ".", ".." or empty segments and no trailing slash. */
export function isCleanAbsolute(p: string): boolean {
  return typeof p === 'string' && p.startsWith('/') && path.posix.normalize(p) === p && !p.includes('\0');
}

const under = (p: string, dir: string): boolean => p === dir || p.startsWith(`${dir}/`);

/** Kernel filesystems every container gets (the set `runc spec` writes, with podman's /proc options). */
function kernelMounts(input: BundleInput): OciMount[] {
  const shm = input.app.shmSizeMiB ?? DEFAULT_SHM_MIB;
  if (!Number.isSafeInteger(shm) || shm <= 0)
    throw invalid(`app ${input.app.name}: shmSizeMiB must be a positive integer (got ${shm})`);
  const userns = input.app.userNamespace === true;
  // devpts gid=5 (tty) only works when gid 5 is mapped into the user namespace.
  const ttyGidMapped = !userns || (input.idMap?.size ?? 0) > 5;
  // A user namespace that does not own the network namespace (host network) may not mount sysfs:
  // bind the host's /sys read-only instead, as podman does for rootless containers.
  const sys: OciMount =
    userns && input.app.network === 'host'
      ? { destination: '/sys', type: 'bind', source: '/sys', options: ['rbind', 'ro', ...NOSUID_NOEXEC_NODEV] }
      : { destination: '/sys', type: 'sysfs', source: 'sysfs', options: [...NOSUID_NOEXEC_NODEV, 'ro'] };
  return [
    { destination: '/proc', type: 'proc', source: 'proc', options: [...NOSUID_NOEXEC_NODEV] },
    {
      destination: '/dev',
      type: 'tmpfs',
      source: 'tmpfs',
      options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'],
    },
    {
      destination: '/dev/pts',
      type: 'devpts',
      source: 'devpts',
      options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', ...(ttyGidMapped ? ['gid=5'] : [])],
    },
    {
      destination: '/dev/shm',
      type: 'tmpfs',
      source: 'shm',
      options: [...NOSUID_NOEXEC_NODEV, 'mode=1777', `size=${shm * 1024}k`],
    },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: [...NOSUID_NOEXEC_NODEV] },
    sys,
    {
      destination: '/sys/fs/cgroup',
      type: 'cgroup',
      source: 'cgroup',
      options: [...NOSUID_NOEXEC_NODEV, 'relatime', 'ro'],
    },
  ];
}

function etcMounts(etc: BundleInput['etc']): OciMount[] {
  const files: Array<[string, string]> = [
    ['/etc/hostname', etc.hostname],
    ['/etc/hosts', etc.hosts],
    ['/etc/resolv.conf', etc.resolvConf],
  ];
  return files.map(([destination, source]) => {
    if (!isCleanAbsolute(source))
      throw invalid(`etc file for ${destination} must be an absolute path (got "${source}")`);
    return { destination, type: 'bind', source, options: ['bind', 'ro', ...NOSUID_NOEXEC_NODEV] };
  });
}

/** Targets a volume may not cover: kernel filesystems, the agent-managed files, the eSDK dir. */
function checkVolumeTarget(target: string, input: BundleInput): void {
  const what = `app ${input.app.name}: volume target "${target}"`;
  if (!isCleanAbsolute(target) || target === '/') throw invalid(`${what} must be an absolute path below /`);
  for (const reserved of ['/proc', '/sys', '/dev']) {
    if (under(target, reserved)) throw invalid(`${what} is inside ${reserved}`);
  }
  if (['/etc/hostname', '/etc/hosts', '/etc/resolv.conf'].includes(target))
    throw invalid(`${what} is managed by the agent`);
  if (input.esdkDir !== undefined && under(target, ESDK_MOUNT)) throw invalid(`${what} is inside ${ESDK_MOUNT}`);
}

/** Named volumes, parents before children (as Docker sorts mounts by depth). No device nodes, no setuid. */
function volumeMounts(input: BundleInput): OciMount[] {
  const seen = new Set<string>();
  for (const v of input.volumes) {
    checkVolumeTarget(v.target, input);
    if (seen.has(v.target)) throw invalid(`app ${input.app.name}: two volumes at ${v.target}`);
    seen.add(v.target);
    if (!isCleanAbsolute(v.source)) throw invalid(`volume source for ${v.target} must be an absolute path`);
  }
  const depth = (p: string) => p.split('/').length;
  return [...input.volumes]
    .sort((a, b) => depth(a.target) - depth(b.target))
    .map((v) => ({
      destination: v.target,
      type: 'bind',
      source: v.source,
      options: ['rbind', 'nosuid', 'nodev', ...(v.readOnly ? ['ro'] : [])],
    }));
}

/**
 * Granted devices are bind mounts of the host's own nodes (host path ->
 * container path), as podman does rootless, rather than nodes runc mknods:
 * a bind keeps the host inode, so a pty-backed serial port (socat, a USB
 * adapter's pts) works as well as /dev/ttyS1, and it works in a user
 * namespace where mknod does not. The device cgroup rules still decide
 * access. No nodev here, on purpose.
 */
function deviceBindMounts(input: BundleInput): OciMount[] {
  return input.devices.map((d) => ({
    destination: d.containerPath,
    type: 'bind',
    source: d.hostPath,
    options: ['bind', 'nosuid', 'noexec'],
  }));
}

/** All mounts, in the order runc must make them. */
export function buildMounts(input: BundleInput): OciMount[] {
  const mounts = [...kernelMounts(input), ...etcMounts(input.etc)];
  if (input.app.readOnlyRootfs === true) {
    // A read-only rootfs still needs somewhere to write scratch and runtime files (podman --read-only-tmpfs).
    mounts.push(
      { destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=1777'] },
      { destination: '/run', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=755'] },
    );
  }
  mounts.push(...volumeMounts(input));
  if (input.esdkDir !== undefined) {
    if (!isCleanAbsolute(input.esdkDir)) throw invalid(`esdkDir must be an absolute path (got "${input.esdkDir}")`);
    mounts.push({
      destination: ESDK_MOUNT,
      type: 'bind',
      source: input.esdkDir,
      options: ['bind', ...NOSUID_NOEXEC_NODEV],
    });
  }
  mounts.push(...deviceBindMounts(input));
  return mounts;
}
