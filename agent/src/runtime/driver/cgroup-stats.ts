import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { errnoCode, failedPrecondition } from '../../errors.js';
import type { CgroupLayout } from '../../host/cgroups.js';
import type { ContainerStats } from '../types.js';

/**
 * Where a container's stats live. On v1 (and hybrid hosts, where runc puts
 * every resource controller on v1) each controller has its own directory; on
 * v2 all three are the same directory.
 */
export interface CgroupPaths {
  version: 'v1' | 'v2';
  memory?: string;
  cpu?: string;
  pids?: string;
}

/** Files read for stats, by cgroup file name; an absent one is undefined. */
export type CgroupFiles = Partial<Record<CgroupFileName, string>>;

const V1_FILES = {
  memory: [
    'memory.usage_in_bytes',
    'memory.limit_in_bytes',
    'memory.max_usage_in_bytes',
    'memory.stat',
    'memory.oom_control',
  ],
  cpu: ['cpuacct.usage'],
  pids: ['pids.current'],
} as const;
const V2_FILES = {
  memory: ['memory.current', 'memory.max', 'memory.peak', 'memory.stat', 'memory.events'],
  cpu: ['cpu.stat'],
  pids: ['pids.current'],
} as const;
type CgroupFileName =
  | (typeof V1_FILES)[keyof typeof V1_FILES][number]
  | (typeof V2_FILES)[keyof typeof V2_FILES][number];

/** v1 reports "no limit" as PAGE_COUNTER_MAX pages (9223372036854771712 with 4 KiB pages); anything this big is no limit. */
const V1_UNLIMITED = 2 ** 62;

/**
 * Pure: stats from the contents of a container's cgroup files.
 *  - memoryBytes is the working set, usage minus inactive file cache (what
 *    docker and kubelet show): page cache the kernel can drop is not pressure.
 *  - memoryLimitBytes is 0 when there is no limit (v2 "max", v1 PAGE_COUNTER_MAX).
 *  - memoryPeakBytes: v1 memory.max_usage_in_bytes, v2 memory.peak (kernel 5.19+).
 *  - cpuUsageNs: v1 cpuacct.usage (ns), v2 cpu.stat usage_usec × 1000.
 *  - oomKills: v1 memory.oom_control `oom_kill` (kernel 4.13+), v2 memory.events `oom_kill`.
 */
export function parseCgroupStats(version: 'v1' | 'v2', files: CgroupFiles): ContainerStats {
  if (version === 'v1') {
    const usage = int(files['memory.usage_in_bytes']) ?? 0;
    const limit = int(files['memory.limit_in_bytes']) ?? 0;
    const inactiveFile = keyed(files['memory.stat'], 'total_inactive_file') ?? 0;
    return withOptional(
      {
        memoryBytes: Math.max(0, usage - inactiveFile),
        memoryLimitBytes: limit >= V1_UNLIMITED ? 0 : limit,
        cpuUsageNs: int(files['cpuacct.usage']) ?? 0,
        pids: int(files['pids.current']) ?? 0,
      },
      int(files['memory.max_usage_in_bytes']),
      keyed(files['memory.oom_control'], 'oom_kill'),
    );
  }
  const usage = int(files['memory.current']) ?? 0;
  const inactiveFile = keyed(files['memory.stat'], 'inactive_file') ?? 0;
  const usageUsec = keyed(files['cpu.stat'], 'usage_usec') ?? 0;
  return withOptional(
    {
      memoryBytes: Math.max(0, usage - inactiveFile),
      memoryLimitBytes: files['memory.max']?.trim() === 'max' ? 0 : (int(files['memory.max']) ?? 0),
      cpuUsageNs: usageUsec * 1000,
      pids: int(files['pids.current']) ?? 0,
    },
    int(files['memory.peak']),
    keyed(files['memory.events'], 'oom_kill'),
  );
}

function withOptional(base: ContainerStats, peak: number | undefined, oomKills: number | undefined): ContainerStats {
  return {
    ...base,
    ...(peak !== undefined ? { memoryPeakBytes: peak } : {}),
    ...(oomKills !== undefined ? { oomKills } : {}),
  };
}

function int(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const t = text.trim();
  return /^\d+$/.test(t) ? Number(t) : undefined;
}

/** A value from a flat-keyed file ("key value" per line: memory.stat, cpu.stat, memory.events, memory.oom_control). */
export function keyed(text: string | undefined, key: string): number | undefined {
  if (text === undefined) return undefined;
  for (const line of text.split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k === key) return int(v);
  }
  return undefined;
}

/**
 * Pure: a process's cgroup directories from its /proc/<pid>/cgroup
 * (`hierarchy-id:controller,list:/path` per line, cgroups(7)) and the host's
 * layout. Paths are taken as relative to each mount's root, which holds when
 * the agent runs in the host's cgroup namespace.
 */
export function resolveCgroupPaths(procCgroup: string, layout: CgroupLayout): CgroupPaths | undefined {
  const lines = procCgroup
    .split('\n')
    .map((l) => /^(\d+):([^:]*):(.*)$/.exec(l))
    .filter((m) => m !== null);
  if (layout.version === 'v2') {
    const unified = lines.find((m) => m[1] === '0' && m[2] === '');
    if (unified?.[3] === undefined || layout.unifiedMount === undefined) return undefined;
    const dir = path.join(layout.unifiedMount, unified[3]);
    return { version: 'v2', memory: dir, cpu: dir, pids: dir };
  }
  if (layout.version === 'none') return undefined;
  const dirOf = (controller: string): string | undefined => {
    const mount = layout.v1Controllers[controller];
    const line = lines.find((m) => m[2]?.split(',').includes(controller));
    return mount === undefined || line?.[3] === undefined ? undefined : path.join(mount, line[3]);
  };
  const result: CgroupPaths = { version: 'v1' };
  const memory = dirOf('memory');
  const cpu = dirOf('cpuacct');
  const pids = dirOf('pids');
  if (memory !== undefined) result.memory = memory;
  if (cpu !== undefined) result.cpu = cpu;
  if (pids !== undefined) result.pids = pids;
  return result;
}

/** Read a container's cgroup files and parse them; fails if its memory cgroup is gone (container deleted). */
export async function readCgroupStats(id: string, paths: CgroupPaths): Promise<ContainerStats> {
  const names = paths.version === 'v1' ? V1_FILES : V2_FILES;
  const files: CgroupFiles = {};
  const jobs: Promise<void>[] = [];
  for (const group of ['memory', 'cpu', 'pids'] as const) {
    const dir = paths[group];
    if (dir === undefined) continue;
    for (const name of names[group]) {
      jobs.push(
        readOptional(path.join(dir, name)).then((text) => {
          if (text !== undefined) files[name] = text;
        }),
      );
    }
  }
  await Promise.all(jobs);
  const usageFile = paths.version === 'v1' ? 'memory.usage_in_bytes' : 'memory.current';
  if (files[usageFile] === undefined) {
    throw failedPrecondition(`container ${id} has no cgroup to read stats from (was it deleted?)`, {
      details: { cgroup: paths.memory },
    });
  }
  return parseCgroupStats(paths.version, files);
}

/** OOM kills counted by the container's memory cgroup, or undefined when the cgroup (or the counter) is gone. */
export async function readOomKills(paths: CgroupPaths): Promise<number | undefined> {
  if (paths.memory === undefined) return undefined;
  const [file, key] = paths.version === 'v1' ? ['memory.oom_control', 'oom_kill'] : ['memory.events', 'oom_kill'];
  return keyed(await readOptional(path.join(paths.memory, file)), key);
}

async function readOptional(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (e) {
    if (errnoCode(e) === 'ENOENT' || errnoCode(e) === 'ENODEV') return undefined;
    throw e;
  }
}
