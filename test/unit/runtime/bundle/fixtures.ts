import { existsSync, readFileSync } from 'node:fs';
import type { FirmwareProfile } from '../../../../agent/src/config/profile-types.js';
import type { BundleInput } from '../../../../agent/src/runtime/bundle/index.js';
import type { AppSpec } from '../../../../agent/src/runtime/types.js';

/** A small gateway: 448 MiB, 1.5 CPUs and 256 pids for apps; 64 MiB / 0.25 CPU / 32 pids by default. */
export function profile(over: Partial<FirmwareProfile> = {}): FirmwareProfile {
  return {
    schemaVersion: 1,
    model: 'test-gw',
    vendor: 'test',
    arch: { architecture: 'arm64', variant: 'v8' },
    memory: { totalMiB: 1024 },
    cpu: { cores: 2 },
    appBudget: { memoryMiB: 448, cpus: 1.5, pids: 256, defaults: { memoryMiB: 64, cpus: 0.25, pids: 32 } },
    agentReserve: { memoryMiB: 128, cpus: 0.25 },
    storage: { dataDir: '/var/lib/gantry', minFreeMiB: 64 },
    ...over,
  };
}

export const SECCOMP_JSON = '/usr/share/containers/seccomp.json';

/** The host's containers-common profile, or undefined when the package is missing. */
export function hostSeccompProfile(): unknown {
  return existsSync(SECCOMP_JSON) ? JSON.parse(readFileSync(SECCOMP_JSON, 'utf8')) : undefined;
}

/** A tiny stand-in profile for spec tests that do not look at seccomp itself. */
export const MINI_SECCOMP = {
  defaultAction: 'SCMP_ACT_ERRNO',
  defaultErrnoRet: 38,
  archMap: [{ architecture: 'SCMP_ARCH_X86_64', subArchitectures: ['SCMP_ARCH_X86'] }],
  syscalls: [{ names: ['read', 'write'], action: 'SCMP_ACT_ALLOW', args: [], includes: {}, excludes: {} }],
};

/** A valid BundleInput for app `meter`; `app` and top-level fields can be overridden. */
export function bundleInput(app: Partial<AppSpec> = {}, over: Partial<BundleInput> = {}): BundleInput {
  return {
    app: { name: 'meter', image: 'example/meter:1', ...app },
    resources: { memoryMiB: 64, cpus: 0.5, pids: 32 },
    imageConfig: { Entrypoint: ['/bin/meter'], Cmd: ['--port', '/dev/ttyS1'], Env: ['PATH=/bin:/usr/bin', 'LANG=C'] },
    rootfs: '/var/lib/gantry/containers/meter/rootfs',
    hostname: 'meter',
    etc: {
      hostname: '/var/lib/gantry/containers/meter/hostname',
      hosts: '/var/lib/gantry/containers/meter/hosts',
      resolvConf: '/var/lib/gantry/containers/meter/resolv.conf',
    },
    volumes: [],
    devices: [],
    hostRlimits: [{ type: 'RLIMIT_NOFILE', soft: 1024, hard: 20000 }],
    seccompProfile: MINI_SECCOMP,
    cgroupsPath: '/gantry/meter',
    cgroupVersion: 'v1',
    agentEnv: { GANTRY_APP: 'meter' },
    arch: 'amd64',
    ...over,
  };
}

/** Typed views of the spec's parts, for assertions. */
export interface SpecView {
  process: {
    args: string[];
    env: string[];
    cwd: string;
    user: { uid: number; gid: number; additionalGids?: number[] };
    rlimits: Array<{ type: string; soft: number; hard: number }>;
    capabilities: Record<string, string[]>;
    noNewPrivileges: boolean;
    terminal: boolean;
    oomScoreAdj: number;
  };
  root: { path: string; readonly: boolean };
  mounts: Array<{ destination: string; type: string; source: string; options?: string[] }>;
  linux: {
    namespaces: Array<{ type: string }>;
    uidMappings?: unknown[];
    gidMappings?: unknown[];
    devices: Array<Record<string, unknown>>;
    resources: {
      devices: Array<{ allow: boolean; type?: string; major?: number; minor?: number; access: string }>;
      memory: { limit: number; reservation?: number; swap: number };
      cpu: { quota: number; period: number; shares?: number; cpus?: string };
      pids: { limit: number };
      blockIO?: { weight: number };
    };
    seccomp?: Record<string, unknown>;
    maskedPaths: string[];
    readonlyPaths: string[];
    cgroupsPath: string;
  };
  hostname: string;
  ociVersion: string;
}

export const view = (spec: Record<string, unknown>): SpecView => spec as unknown as SpecView;
