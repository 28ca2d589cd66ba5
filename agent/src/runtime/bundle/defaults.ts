import type { OciDeviceRule } from './oci-types.js';

/**
 * podman's default capability set: containers-common's containers.conf
 * `default_capabilities` (/usr/share/containers/containers.conf), with the
 * CAP_ prefix the runtime spec uses (config.md "capabilities"). Compared with
 * containerd's and Docker's set it leaves out CAP_MKNOD, CAP_NET_RAW and
 * CAP_AUDIT_WRITE.
 */
export const DEFAULT_CAPABILITIES: readonly string[] = Object.freeze([
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FOWNER',
  'CAP_FSETID',
  'CAP_KILL',
  'CAP_NET_BIND_SERVICE',
  'CAP_SETFCAP',
  'CAP_SETGID',
  'CAP_SETPCAP',
  'CAP_SETUID',
  'CAP_SYS_CHROOT',
]);

/**
 * Paths hidden from the container (config-linux.md "Masked Paths"): podman's
 * defaults (containers/common), which are containerd's oci/spec.go list with
 * /proc/asound moved to the read-only list and /sys/fs/selinux and
 * /sys/dev/block added; plus /sys/devices/virtual/powercap, which both now
 * mask (RAPL energy counters leak other tenants' activity, CVE-2020-8694).
 */
export const MASKED_PATHS: readonly string[] = Object.freeze([
  '/proc/acpi',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/sys/firmware',
  '/sys/fs/selinux',
  '/sys/dev/block',
  '/sys/devices/virtual/powercap',
]);

/** config-linux.md "Readonly Paths": podman's defaults (containerd's minus /proc/asound, which it masks). */
export const READONLY_PATHS: readonly string[] = Object.freeze([
  '/proc/asound',
  '/proc/bus',
  '/proc/fs',
  '/proc/irq',
  '/proc/sys',
  '/proc/sysrq-trigger',
]);

const allowChar = (major: number, minor?: number): OciDeviceRule =>
  minor === undefined
    ? { allow: true, type: 'c', major, access: 'rwm' }
    : { allow: true, type: 'c', major, minor, access: 'rwm' };

/**
 * The device cgroup list before any grant (config-linux.md "Allowed Device
 * list"): deny everything (containerd's populateDefaultUnixSpec starts the
 * same way), then allow the nodes every container has, as runc's
 * specconv.AllowedDevices and Docker's default spec do: null 1:3, zero 1:5,
 * full 1:7, random 1:8, urandom 1:9, tty 5:0, console 5:1, ptmx 5:2, and the
 * devpts slaves 136:*. No mknod rules: CAP_MKNOD is not in the default set.
 */
export const DEFAULT_DEVICE_RULES: readonly OciDeviceRule[] = Object.freeze([
  { allow: false, access: 'rwm' },
  allowChar(1, 3),
  allowChar(1, 5),
  allowChar(1, 7),
  allowChar(1, 8),
  allowChar(1, 9),
  allowChar(5, 0),
  allowChar(5, 1),
  allowChar(5, 2),
  allowChar(136),
]);

/** containerd's defaultUnixEnv (oci/spec.go), used when neither the image nor the app sets PATH. */
export const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** RLIMIT_NOFILE 1024:1024, as containerd's default spec and `runc spec` have it. */
export const DEFAULT_NOFILE = 1024;

/** Default oom_score_adj: under memory pressure the kernel kills an app before the agent (0). */
export const DEFAULT_OOM_SCORE_ADJ = 500;

/** Default /dev/shm size, MiB (Docker's and podman's default is 64 MiB; gateways have little RAM). */
export const DEFAULT_SHM_MIB = 16;

/** CFS period, microseconds (config-linux.md "CPU": period); quota = cpus × period. */
export const CPU_PERIOD_US = 100_000;

/** Where the app's eSDK socket directory is mounted, and the socket the agent announces in the env. */
export const ESDK_MOUNT = '/run/gantry';
export const ESDK_SOCKET = `${ESDK_MOUNT}/esdk.sock`;
