/**
 * The spec's `linux` object (config-linux.md): namespaces, id mappings,
 * cgroup resources and device rules, device nodes, masked and read-only paths.
 */
import { invalid } from '../../errors.js';
import type { ResolvedResources } from '../types.js';
import { CPU_PERIOD_US, DEFAULT_DEVICE_RULES, MASKED_PATHS, READONLY_PATHS } from './defaults.js';
import type { BundleDevice, BundleInput } from './input.js';
import { isCleanAbsolute } from './mounts.js';
import type { OciDeviceRule, OciIdMapping, OciNamespace, OciResources } from './oci-types.js';

const MiB = 1024 * 1024;

/**
 * cgroup v2 cpu.weight (1..10000) -> v1 cpu.shares (2..262144): the inverse of
 * runc's ConvertCPUSharesToCgroupV2Value (weight = 1 + (shares-2)*9999/262142),
 * integer arithmetic as there. runc converts shares back to weight on v2.
 */
export function cpuWeightToShares(weight: number): number {
  return 2 + Math.floor(((weight - 1) * 262_142) / 9999);
}

/**
 * config-linux.md "Control groups". Memory swap equal to the limit means no
 * swap at all (v1 memsw = limit; runc writes memory.swap.max = swap - limit = 0
 * on v2). Reservation and blkio weight are translated by runc per version.
 */
export function buildResources(r: ResolvedResources, devices: BundleDevice[]): OciResources {
  const limit = r.memoryMiB * MiB;
  const out: OciResources = {
    devices: deviceRules(devices),
    memory: { limit, swap: limit },
    cpu: { quota: Math.round(r.cpus * CPU_PERIOD_US), period: CPU_PERIOD_US },
    pids: { limit: r.pids },
  };
  if (r.memoryReservationMiB !== undefined) out.memory.reservation = r.memoryReservationMiB * MiB;
  if (r.cpuWeight !== undefined) out.cpu.shares = cpuWeightToShares(r.cpuWeight);
  if (r.cpuset !== undefined) out.cpu.cpus = r.cpuset;
  if (r.ioWeight !== undefined) out.blockIO = { weight: r.ioWeight };
  return out;
}

/** Deny all, the nodes every container has, then one allow rule per granted device (exact major:minor). */
export function deviceRules(devices: BundleDevice[]): OciDeviceRule[] {
  const granted = devices.map(
    (d): OciDeviceRule => ({ allow: true, type: d.type, major: d.major, minor: d.minor, access: d.access }),
  );
  return [...DEFAULT_DEVICE_RULES.map((r) => ({ ...r })), ...granted];
}

function checkDevice(d: BundleDevice): void {
  const what = `device ${d.hostPath}`;
  if (!isCleanAbsolute(d.hostPath)) throw invalid(`${what}: host path must be absolute`);
  if (!isCleanAbsolute(d.containerPath) || d.containerPath === '/')
    throw invalid(`${what}: container path "${d.containerPath}" must be an absolute path below /`);
  if (d.type !== 'c' && d.type !== 'b') throw invalid(`${what}: type must be "c" or "b" (got "${String(d.type)}")`);
  for (const k of ['major', 'minor', 'uid', 'gid', 'fileMode'] as const) {
    if (!Number.isSafeInteger(d[k]) || d[k] < 0) throw invalid(`${what}: ${k} must be a non-negative integer`);
  }
  if (!['r', 'rw', 'rwm'].includes(d.access)) throw invalid(`${what}: access must be r, rw or rwm`);
}

/**
 * config-linux.md "Devices" stays empty: granted devices are bind mounts of
 * the host nodes (see mounts.ts; a bind keeps the host inode, which
 * pty-backed serial ports need). Their grants are still checked here.
 */
function checkDevices(input: BundleInput): void {
  input.devices.forEach(checkDevice);
}

/**
 * config-linux.md "Namespaces": containerd's default five (pid, ipc, uts,
 * mount, network), no network namespace for host networking, a cgroup
 * namespace only on v2 (on v1/hybrid runc would need every hierarchy to
 * support it, and Docker/podman do the same), and a user namespace on request.
 */
function namespaces(input: BundleInput): OciNamespace[] {
  const ns: OciNamespace[] = [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }];
  if (input.app.network !== 'host') ns.push({ type: 'network' });
  if (input.cgroupVersion === 'v2') ns.push({ type: 'cgroup' });
  if (input.app.userNamespace === true) ns.push({ type: 'user' });
  return ns;
}

/** config-linux.md "User namespace mappings": container ids 0..size-1 onto the host range. */
function idMappings(input: BundleInput): { uidMappings: OciIdMapping[]; gidMappings: OciIdMapping[] } | undefined {
  if (input.app.userNamespace !== true) return undefined;
  const m = input.idMap;
  if (!m) throw invalid(`app ${input.app.name}: userNamespace needs a host uid/gid range (idMap)`);
  for (const k of ['hostUid', 'hostGid', 'size'] as const) {
    if (!Number.isSafeInteger(m[k]) || m[k] < 0) throw invalid(`idMap.${k} must be a non-negative integer`);
  }
  if (m.size < 1) throw invalid('idMap.size must be at least 1');
  return {
    uidMappings: [{ containerID: 0, hostID: m.hostUid, size: m.size }],
    gidMappings: [{ containerID: 0, hostID: m.hostGid, size: m.size }],
  };
}

export function buildLinux(input: BundleInput, seccomp: Record<string, unknown> | undefined): Record<string, unknown> {
  if (!isCleanAbsolute(input.cgroupsPath))
    throw invalid(`cgroupsPath must be an absolute path (got "${input.cgroupsPath}")`);
  checkDevices(input);
  const linux: Record<string, unknown> = {
    namespaces: namespaces(input),
    ...idMappings(input),
    devices: [],
    cgroupsPath: input.cgroupsPath,
    resources: buildResources(input.resources, input.devices),
    maskedPaths: [...MASKED_PATHS],
    readonlyPaths: [...READONLY_PATHS],
  };
  if (seccomp) linux.seccomp = seccomp;
  return linux;
}
