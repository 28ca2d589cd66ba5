import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import path from 'node:path';
import { failedPrecondition } from '../../errors.js';
import type { CgroupLayout } from '../../host/cgroups.js';
import { runCommand } from './command.js';

/** Debian installs runc in /usr/sbin, which a service's PATH may lack. */
const SBIN = ['/usr/local/sbin', '/usr/sbin', '/sbin'];

/** Absolute path of an executable found on PATH (then the sbin dirs), or undefined. */
export async function findExecutable(name: string, envPath = process.env.PATH ?? ''): Promise<string | undefined> {
  const dirs = [...envPath.split(':').filter((d) => d !== ''), ...SBIN];
  for (const dir of dirs) {
    const candidate = path.resolve(dir, name);
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // next
    }
  }
  return undefined;
}

/**
 * The OCI runtime to use when none is configured: runc, which works on v1,
 * v2 and hybrid hosts. crun only when runc is missing, its binary runs, and
 * the host is not hybrid: crun 1.8 refuses hybrid cgroup layouts (a v2 mount
 * beside v1 controllers) when it creates a container.
 */
export async function defaultRuntime(layout: CgroupLayout): Promise<string> {
  const runc = await findExecutable('runc');
  if (runc !== undefined) return runc;
  const crun = await findExecutable('crun');
  if (crun !== undefined && layout.version !== 'hybrid') {
    const probe = await runCommand(crun, ['--version'], { timeoutMs: 5000 }).catch(() => undefined);
    if (probe?.code === 0) return crun;
  }
  throw failedPrecondition(
    layout.version === 'hybrid' && crun !== undefined
      ? 'runc is not installed, and crun cannot run containers on this hybrid cgroup host: install runc'
      : 'no OCI runtime found: install runc (or crun on a cgroup v1 or v2 host)',
  );
}
