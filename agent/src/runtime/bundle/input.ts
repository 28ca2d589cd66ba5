import type { AppSpec, ResolvedResources } from '../types.js';

/** A granted device node, with what the caller read from the host by stat. */
export interface BundleDevice {
  hostPath: string;
  containerPath: string;
  type: 'c' | 'b';
  major: number;
  minor: number;
  /** Permission bits (st_mode & 07777; file-type bits are ignored). */
  fileMode: number;
  uid: number;
  gid: number;
  access: 'r' | 'rw' | 'rwm';
}

/** Everything buildRuntimeSpec needs; the caller did all the I/O. */
export interface BundleInput {
  app: AppSpec;
  resources: ResolvedResources;
  /** The image config's runtime part: Entrypoint, Cmd, Env, WorkingDir, User (image-spec config.config). */
  imageConfig: Record<string, unknown>;
  /** Absolute path of the (already mounted) rootfs directory. */
  rootfs: string;
  hostname: string;
  /** Host files bind-mounted read-only at /etc/hostname, /etc/hosts, /etc/resolv.conf. */
  etc: { hostname: string; hosts: string; resolvConf: string };
  /** Named volumes already resolved to host directories. */
  volumes: Array<{ source: string; target: string; readOnly: boolean }>;
  /** Host directory holding the app's eSDK socket, mounted at /run/gantry (GANTRY_ESDK_SOCKET=/run/gantry/esdk.sock). */
  esdkDir?: string;
  /** Granted device nodes. */
  devices: BundleDevice[];
  /** Contents of the image's /etc/passwd and /etc/group, for resolving user names (undefined if absent). */
  passwd?: string;
  group?: string;
  /** The agent's own rlimits (getrlimit); container rlimits are clamped to these hard limits (no CAP_SYS_RESOURCE). */
  hostRlimits: Array<{ type: string; soft: number; hard: number }>;
  /** Parsed /usr/share/containers/seccomp.json (containers-common format); required unless app.seccomp === 'unconfined'. */
  seccompProfile?: unknown;
  /** cgroupsPath for the spec, e.g. "/gantry/<name>" (runc's cgroupfs driver, works on v1, v2 and hybrid). */
  cgroupsPath: string;
  /** cgroup version of the host: decides only what runc does not translate itself. */
  cgroupVersion: 'v1' | 'v2' | 'hybrid';
  /** Extra GANTRY_* environment the agent adds (GANTRY_APP, GANTRY_DEVICE_ID, ...). */
  agentEnv: Record<string, string>;
  /** Host uid/gid ranges for the optional user namespace. */
  idMap?: { hostUid: number; hostGid: number; size: number };
  /** GOARCH of the host, for the seccomp filter's architectures (default: from process.arch). */
  arch?: string;
}
