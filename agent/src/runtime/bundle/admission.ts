/**
 * Admission: every app gets limits (its own, or the profile's appBudget
 * defaults — never unlimited), and the apps together must fit the budget the
 * firmware profile leaves for apps. Pure: the same apps and profile always
 * give the same answer.
 */
import type { FirmwareProfile } from '../../config/profile-types.js';
import { invalid } from '../../errors.js';
import type { AppSpec, ResolvedResources, Resources } from '../types.js';

/** Integer thousandths of a CPU, so that sums of 0.1 + 0.2 compare exactly. */
const milli = (cpus: number): number => Math.round(cpus * 1000);
const fmtCpus = (m: number): string => String(m / 1000);

type Issue = string;

/**
 * Pure: what is wrong with one app's resources (as asked, before defaults),
 * each naming the app and the field; `cores` bounds cpus and cpuset when known.
 */
export function resourceProblems(app: string, r: Resources, cores?: number): Issue[] {
  const issues: Issue[] = [];
  const at = (field: string) => `app ${app}: resources.${field}`;
  const positiveInt = (field: keyof Resources, v: unknown) => {
    if (v !== undefined && !(Number.isSafeInteger(v) && (v as number) > 0))
      issues.push(`${at(field)} must be a positive integer (got ${String(v)})`);
  };
  const intRange = (field: keyof Resources, v: unknown, lo: number, hi: number) => {
    if (v !== undefined && !(Number.isSafeInteger(v) && (v as number) >= lo && (v as number) <= hi))
      issues.push(`${at(field)} must be an integer from ${lo} to ${hi} (got ${String(v)})`);
  };
  positiveInt('memoryMiB', r.memoryMiB);
  positiveInt('memoryReservationMiB', r.memoryReservationMiB);
  positiveInt('pids', r.pids);
  if (r.cpus !== undefined) {
    // The kernel refuses a CFS quota under 1 ms (cpu.cfs_quota_us >= 1000): 0.01 CPU of a 100 ms period.
    if (typeof r.cpus !== 'number' || !Number.isFinite(r.cpus) || milli(r.cpus) < 10) {
      issues.push(`${at('cpus')} must be a number of at least 0.01 (got ${String(r.cpus)})`);
    } else if (cores !== undefined && r.cpus > cores) {
      issues.push(`${at('cpus')} is ${r.cpus} but the board has ${cores} cores`);
    }
  }
  // cgroup v2 cpu.weight range (runc maps it to v1 shares); blkio/io weight range (config-linux.md "Block IO").
  intRange('cpuWeight', r.cpuWeight, 1, 10_000);
  intRange('ioWeight', r.ioWeight, 10, 1000);
  if (r.cpuset !== undefined) {
    const problem = cpusetProblem(r.cpuset, cores);
    if (problem) issues.push(`${at('cpuset')} ${problem}`);
  }
  return issues;
}

/**
 * cpuset.cpus list syntax (kernel Documentation/admin-guide/cgroup-v1/cpusets.rst
 * "List format"): comma-separated CPU numbers and ascending ranges, e.g. "0-1,3".
 * Returns what is wrong, or undefined.
 */
export function cpusetProblem(cpuset: string, cores?: number): string | undefined {
  if (typeof cpuset !== 'string' || !/^\d+(-\d+)?(,\d+(-\d+)?)*$/.test(cpuset))
    return `"${String(cpuset)}" is not a CPU list like "0-1" or "0,2"`;
  for (const part of cpuset.split(',')) {
    const [lo, hi = lo] = part.split('-').map(Number) as [number, number?];
    if (hi < lo) return `"${cpuset}" has a descending range ${part}`;
    if (cores !== undefined && hi >= cores) return `"${cpuset}" names CPU ${hi} but the board has CPUs 0-${cores - 1}`;
  }
  return undefined;
}

/** Fill in the profile's defaults for what the app leaves open. */
function resolve(r: Resources, defaults: FirmwareProfile['appBudget']['defaults']): ResolvedResources {
  return {
    ...r,
    memoryMiB: r.memoryMiB ?? defaults.memoryMiB,
    cpus: r.cpus ?? defaults.cpus,
    pids: r.pids ?? defaults.pids,
  };
}

interface Dimension {
  key: 'memoryMiB' | 'cpus' | 'pids';
  /** Words after the total, when the unit alone does not say what it is. */
  of: string;
  /** Comparable integer amount. */
  amount: (v: number) => number;
  show: (amount: number) => string;
}

const DIMENSIONS: Dimension[] = [
  { key: 'memoryMiB', of: ' of memory', amount: (v) => v, show: (a) => `${a} MiB` },
  { key: 'cpus', of: '', amount: milli, show: (a) => `${fmtCpus(a)} CPUs` },
  { key: 'pids', of: '', amount: (v) => v, show: (a) => `${a} pids` },
];

/** One sentence per budget dimension the apps overrun, listing each app's share. */
function budgetIssues(
  apps: AppSpec[],
  resolved: Map<string, ResolvedResources>,
  budget: FirmwareProfile['appBudget'],
): Issue[] {
  const issues: Issue[] = [];
  for (const d of DIMENSIONS) {
    let total = 0;
    const shares: string[] = [];
    for (const app of apps) {
      const amount = d.amount((resolved.get(app.name) as ResolvedResources)[d.key]);
      total += amount;
      const byDefault = app.resources?.[d.key] === undefined ? ' (default)' : '';
      shares.push(`${app.name} ${d.show(amount)}${byDefault}`);
    }
    const limit = d.amount(budget[d.key]);
    if (total > limit) {
      issues.push(
        `apps ask for ${d.show(total)}${d.of}; the profile's app budget is ${d.show(limit)} (${shares.join(', ')})`,
      );
    }
  }
  return issues;
}

/**
 * Pure: admission. Fills each app's missing limits from the profile's
 * appBudget.defaults (never unlimited) and checks that the sum over all apps of
 * memoryMiB, cpus and pids fits the appBudget. Throws GantryError `invalid`
 * listing every problem (bad values per app, then each overrun budget with
 * every app's share); `details` carries the same lines as `issues`.
 */
export function admit(apps: AppSpec[], profile: FirmwareProfile): Map<string, ResolvedResources> {
  const issues: Issue[] = [];
  const resolved = new Map<string, ResolvedResources>();
  for (const app of apps) {
    if (resolved.has(app.name)) {
      issues.push(`app ${app.name} is listed twice`);
      continue;
    }
    const asked = app.resources ?? {};
    issues.push(...resourceProblems(app.name, asked, profile.cpu?.cores));
    const r = resolve(asked, profile.appBudget.defaults);
    if (r.memoryReservationMiB !== undefined && r.memoryReservationMiB > r.memoryMiB) {
      const of = asked.memoryMiB === undefined ? "the profile's default memoryMiB" : 'memoryMiB';
      issues.push(
        `app ${app.name}: resources.memoryReservationMiB (${r.memoryReservationMiB}) is more than ${of} (${r.memoryMiB})`,
      );
    }
    resolved.set(app.name, r);
  }
  // Sums only mean something once every value is valid.
  if (issues.length === 0) issues.push(...budgetIssues(apps, resolved, profile.appBudget));
  if (issues.length > 0) {
    const message = issues.length === 1 ? (issues[0] as string) : `admission failed:\n  ${issues.join('\n  ')}`;
    throw invalid(message, { details: { issues } });
  }
  return resolved;
}
