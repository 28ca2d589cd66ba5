import { readFile } from 'node:fs/promises';

const NAMES: Record<string, string> = {
  'Max cpu time': 'RLIMIT_CPU',
  'Max file size': 'RLIMIT_FSIZE',
  'Max data size': 'RLIMIT_DATA',
  'Max stack size': 'RLIMIT_STACK',
  'Max core file size': 'RLIMIT_CORE',
  'Max resident set': 'RLIMIT_RSS',
  'Max processes': 'RLIMIT_NPROC',
  'Max open files': 'RLIMIT_NOFILE',
  'Max locked memory': 'RLIMIT_MEMLOCK',
  'Max address space': 'RLIMIT_AS',
  'Max file locks': 'RLIMIT_LOCKS',
  'Max pending signals': 'RLIMIT_SIGPENDING',
  'Max msgqueue size': 'RLIMIT_MSGQUEUE',
  'Max nice priority': 'RLIMIT_NICE',
  'Max realtime priority': 'RLIMIT_RTPRIO',
  'Max realtime timeout': 'RLIMIT_RTTIME',
};

/** "unlimited" as a number the runtime spec accepts (RLIM_INFINITY is 2^64-1; JSON numbers cannot say it exactly). */
const UNLIMITED = Number.MAX_SAFE_INTEGER;

/**
 * Pure: the process's rlimits from /proc/self/limits. Node has no
 * getrlimit(2), and the agent needs its own hard limits: without
 * CAP_SYS_RESOURCE a container cannot be given more.
 */
export function parseProcLimits(text: string): Array<{ type: string; soft: number; hard: number }> {
  const out: Array<{ type: string; soft: number; hard: number }> = [];
  for (const line of text.split('\n').slice(1)) {
    const m = /^(.+?)\s{2,}(\S+)\s+(\S+)/.exec(line);
    const type = m ? NAMES[m[1]?.trim() ?? ''] : undefined;
    if (!m || !type) continue;
    const num = (v: string) => (v === 'unlimited' ? UNLIMITED : Number(v));
    out.push({ type, soft: num(m[2] ?? ''), hard: num(m[3] ?? '') });
  }
  return out;
}

export async function hostRlimits(): Promise<Array<{ type: string; soft: number; hard: number }>> {
  return parseProcLimits(await readFile('/proc/self/limits', 'utf8'));
}
