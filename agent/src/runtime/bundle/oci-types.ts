/**
 * The parts of the OCI runtime spec (runtime-spec v1.0.2, config.md and
 * config-linux.md) that the bundle writer fills in. Optional fields are left
 * out of the JSON rather than written as null.
 */

/** config.md "Mounts". */
export interface OciMount {
  destination: string;
  type: string;
  source: string;
  options?: string[];
}

/** config-linux.md "Allowed Device list" (cgroup device rules). */
export interface OciDeviceRule {
  allow: boolean;
  type?: 'a' | 'c' | 'b';
  major?: number;
  minor?: number;
  access: string;
}

/** config-linux.md "Devices": a node the runtime creates in the container. */
export interface OciDevice {
  path: string;
  type: 'c' | 'b';
  major: number;
  minor: number;
  fileMode: number;
  uid: number;
  gid: number;
}

/** config.md "POSIX process": rlimits. */
export interface OciRlimit {
  type: string;
  soft: number;
  hard: number;
}

/** config-linux.md "Namespaces". */
export interface OciNamespace {
  type: 'pid' | 'network' | 'mount' | 'ipc' | 'uts' | 'user' | 'cgroup';
  path?: string;
}

/** config-linux.md "User namespace mappings". */
export interface OciIdMapping {
  containerID: number;
  hostID: number;
  size: number;
}

/** config.md "User" (POSIX platforms). */
export interface OciUser {
  uid: number;
  gid: number;
  additionalGids?: number[];
}

/** config-linux.md "Control groups": the subset of linux.resources the agent sets. */
export interface OciResources {
  devices: OciDeviceRule[];
  memory: { limit: number; reservation?: number; swap: number };
  cpu: { quota: number; period: number; shares?: number; cpus?: string };
  pids: { limit: number };
  blockIO?: { weight: number };
}
