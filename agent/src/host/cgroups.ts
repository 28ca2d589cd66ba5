import { readFile } from 'node:fs/promises';

/**
 * Which cgroup hierarchy the host runs. It decides how the runtime writes
 * limits and reads stats:
 *  - `v2`: one unified cgroup2 mount at the root (`/sys/fs/cgroup`).
 *  - `v1`: per-controller cgroup (v1) mounts, no cgroup2 at all.
 *  - `hybrid`: v1 controllers plus a cgroup2 mount beside them (systemd's
 *    `/sys/fs/cgroup/unified`, or a v2 mount holding e.g. only hugetlb). runc
 *    handles it; crun 1.8 refuses it.
 */
export type CgroupVersion = 'v1' | 'v2' | 'hybrid' | 'none';

export interface CgroupLayout {
  version: CgroupVersion;
  /** Mount point of the cgroup2 hierarchy, if any. */
  unifiedMount?: string;
  /** v1 controller name -> mount point (a co-mounted "cpu,cpuacct" appears under both names). */
  v1Controllers: Record<string, string>;
}

/**
 * Pure: derive the layout from the text of /proc/self/mountinfo.
 * Field layout per proc(5): `id parent major:minor root mountpoint options [optional...] - fstype source superopts`.
 */
export function parseCgroupLayout(mountinfo: string, root = '/sys/fs/cgroup'): CgroupLayout {
  const v1Controllers: Record<string, string> = {};
  let unifiedMount: string | undefined;
  for (const line of mountinfo.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const pre = line.slice(0, sep).split(' ');
    const post = line.slice(sep + 3).split(' ');
    const mountPoint = unescapeMountField(pre[4] ?? '');
    const fsType = post[0];
    const superOpts = post[2] ?? '';
    if (!mountPoint.startsWith(root)) continue;
    if (fsType === 'cgroup2') {
      // The shallowest cgroup2 mount wins: a root mount means pure v2.
      if (unifiedMount === undefined || mountPoint.length < unifiedMount.length) unifiedMount = mountPoint;
    } else if (fsType === 'cgroup') {
      for (const opt of superOpts.split(',')) {
        if (KNOWN_V1_CONTROLLERS.has(opt) || opt.startsWith('name=')) v1Controllers[opt] = mountPoint;
      }
    }
  }
  const hasV1 = Object.keys(v1Controllers).length > 0;
  let version: CgroupVersion = 'none';
  if (unifiedMount !== undefined && !hasV1 && unifiedMount === root) version = 'v2';
  else if (hasV1 && unifiedMount !== undefined) version = 'hybrid';
  else if (hasV1) version = 'v1';
  else if (unifiedMount !== undefined) version = 'v2';
  return unifiedMount === undefined ? { version, v1Controllers } : { version, unifiedMount, v1Controllers };
}

const KNOWN_V1_CONTROLLERS = new Set([
  'cpu',
  'cpuacct',
  'cpuset',
  'memory',
  'devices',
  'freezer',
  'net_cls',
  'net_prio',
  'blkio',
  'perf_event',
  'hugetlb',
  'pids',
  'rdma',
  'misc',
]);

/** mountinfo escapes space, tab, newline and backslash as octal (\040 ...). */
function unescapeMountField(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(Number.parseInt(oct, 8)));
}

export async function detectCgroupLayout(mountinfoPath = '/proc/self/mountinfo'): Promise<CgroupLayout> {
  return parseCgroupLayout(await readFile(mountinfoPath, 'utf8'));
}
