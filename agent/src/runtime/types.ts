/**
 * The runtime's shared vocabulary. An AppSpec is what an operator asks for
 * (`gantry run`, later a deployment document); the bundle writer turns it
 * into an OCI runtime spec; a ContainerRuntime (conmon + runc) runs that.
 */

export interface AppSpec {
  /** Container and app name: lowercase letters, digits, inner dashes; at most 63. */
  name: string;
  /**
   * The deployment app this container runs (default: name). Its eSDK socket
   * directory and GANTRY_APP follow the app, so the container of a
   * start-then-stop update (named app--b) reaches the same socket.
   */
  app?: string;
  /** Image reference as stored in the image store (its canonical ref or digest). */
  image: string;
  /** Replaces the image's Entrypoint. */
  entrypoint?: string[];
  /** Replaces the image's Cmd (the arguments after the entrypoint). */
  command?: string[];
  /** Added to (and overriding) the image's Env. */
  env?: Record<string, string>;
  workingDir?: string;
  /** "uid", "uid:gid", "name" or "name:group"; names resolve in the image's /etc/passwd and /etc/group. */
  user?: string;
  resources?: Resources;
  /** Host device nodes passed through into the container, e.g. /dev/ttyS1. */
  devices?: DeviceGrant[];
  /** none: own network namespace with only loopback; host: the host's network. Default none. */
  network?: 'none' | 'host';
  readOnlyRootfs?: boolean;
  restart?: RestartPolicy;
  healthCheck?: HealthCheck;
  /** Named persistent volumes under the data dir. */
  volumes?: VolumeMount[];
  /** Size of /dev/shm, MiB (default 16). */
  shmSizeMiB?: number;
  /** 'unconfined' only by explicit request; default is the containers-common profile. */
  seccomp?: 'default' | 'unconfined';
  /** Run in a user namespace mapping container root to an unprivileged host range. */
  userNamespace?: boolean;
  /** Default 500: apps die before the agent under memory pressure. */
  oomScoreAdj?: number;
}

export interface Resources {
  memoryMiB?: number;
  memoryReservationMiB?: number;
  /** Fraction of cores, e.g. 0.5. */
  cpus?: number;
  /** Relative CPU weight, 1..10000 (cgroup v2 cpu.weight; converted to shares on v1). */
  cpuWeight?: number;
  /** cpuset.cpus syntax, e.g. "0-1" or "1". */
  cpuset?: string;
  pids?: number;
  /** Block I/O weight, 10..1000. */
  ioWeight?: number;
}

/** Resources after admission: the limits that always apply (never unlimited). */
export interface ResolvedResources extends Resources {
  memoryMiB: number;
  cpus: number;
  pids: number;
}

export interface DeviceGrant {
  /** Host path of the device node. */
  path: string;
  /** cgroup device access: r, rw or rwm. Default rw. */
  access?: 'r' | 'rw' | 'rwm';
  /** Path inside the container (default: the same as on the host). */
  containerPath?: string;
}

export type RestartPolicy = { policy: 'always' | 'never' } | { policy: 'on-failure'; maxRetries?: number };

export interface HealthCheck {
  /** Exec probe run inside the container; exit 0 = healthy. */
  command: string[];
  intervalSec?: number;
  timeoutSec?: number;
  retries?: number;
  startPeriodSec?: number;
}

export interface VolumeMount {
  name: string;
  target: string;
  readOnly?: boolean;
}

/** How a container ended, read from conmon's exit file (and the cgroup for OOM). */
export interface ExitInfo {
  exitCode: number;
  /** The kernel's OOM killer ended it. */
  oomKilled: boolean;
  finishedAt: string;
}

export type ContainerStatus = 'created' | 'running' | 'paused' | 'stopped';

export interface ContainerState {
  id: string;
  status: ContainerStatus;
  /** Host pid of the container's init process (0 once stopped). */
  pid: number;
  /** Pid of its conmon. */
  conmonPid?: number;
  exit?: ExitInfo;
}

export interface ContainerStats {
  memoryBytes: number;
  memoryLimitBytes: number;
  memoryPeakBytes?: number;
  /** Total CPU time used, nanoseconds (rates are computed by the caller from two samples). */
  cpuUsageNs: number;
  pids: number;
  oomKills?: number;
}

export interface LogLine {
  /** RFC 3339 with nanoseconds, as conmon writes it. */
  time: string;
  stream: 'stdout' | 'stderr';
  /** false when conmon split a long line (k8s-file "P" tag): the next record continues it. */
  complete: boolean;
  text: string;
}

/**
 * The OCI runtime as the agent drives it: runc (or crun) under one conmon per
 * container. Containers outlive the agent; everything here can be called by
 * a new agent process about containers an old one created.
 */
export interface ContainerRuntime {
  /** Spawn conmon, which runs `runc create`; resolves once the container exists (status created). */
  create(id: string, bundle: string, opts: { logPath: string; logSizeMax: number }): Promise<ContainerState>;
  start(id: string): Promise<void>;
  /** undefined when the runtime has no such container. */
  state(id: string): Promise<ContainerState | undefined>;
  /** Ids of every container under this runtime's root. */
  list(): Promise<string[]>;
  kill(id: string, signal: NodeJS.Signals): Promise<void>;
  /** SIGTERM, wait up to graceMs, then SIGKILL; resolves with how it ended. */
  stop(id: string, graceMs: number): Promise<ExitInfo>;
  /**
   * Set the CPU quota of a created container. The launcher creates containers
   * without their quota and sets it before start: runc's own init work
   * (compiling the seccomp filter) would otherwise run throttled to the
   * app's share, which made a 0.1-CPU app take ~150 ms longer to create.
   */
  setCpuQuota(id: string, quota: number, period: number): Promise<void>;
  pause(id: string): Promise<void>;
  resume(id: string): Promise<void>;
  /** Remove the container from the runtime (force: kill it first); idempotent. */
  delete(id: string, opts?: { force?: boolean }): Promise<void>;
  /** Resolves when the container has exited, with its exit (immediately if it already has). */
  waitExit(id: string, signal?: AbortSignal): Promise<ExitInfo>;
  /** Run a command in the container (health probes), bounded by timeoutMs. */
  exec(id: string, args: string[], timeoutMs: number): Promise<{ exitCode: number; output: string; timedOut: boolean }>;
  stats(id: string): Promise<ContainerStats>;
}
