/**
 * What a rollout looks like to a person: a summary object (also the --json
 * output and what `status` prints) and its renderings: the live per-wave bars
 * on a TTY, plain lines otherwise, and the final report. Pure.
 */
import { formatDuration, renderTable } from '../../agent/src/cli/output.js';
import {
  type DeviceState,
  isFailure,
  type Observations,
  type Phase,
  type RestoreState,
  type RolloutState,
} from './rollout-machine.js';
import { formatMs } from './rollout-plan.js';

/** Display buckets: the machine's states, with non-finished gateways that report offline split out. */
export const BUCKETS = [
  'waiting',
  'pending',
  'offline',
  'applying',
  'verifying',
  'healthy',
  'failed',
  'rolled-back',
  'timed-out',
] as const;
export type Bucket = (typeof BUCKETS)[number];
export type Counts = Record<Bucket, number>;
export type RestoreCounts = Record<RestoreState, number>;

export interface RolloutSummary {
  id: string;
  revision: number;
  document: string;
  group: string;
  phase: Phase;
  haltReason?: string;
  createdAt: string;
  finishedAt?: string;
  elapsedSec: number;
  policy: RolloutState['policy'];
  gateways: number;
  waves: Array<{
    wave: number;
    size: number;
    state: 'waiting' | 'running' | 'done';
    counts: Counts;
  }>;
  totals: Counts;
  failures: Array<{ device: string; wave: number; state: DeviceState; reason: string }>;
  rollback?: {
    revision: number;
    reason: string;
    counts: RestoreCounts;
    failures: Array<{ device: string; state: RestoreState; reason: string }>;
  };
}

const DONE: ReadonlySet<DeviceState> = new Set(['healthy', 'failed', 'rolled-back', 'timed-out']);

const zero = (): Counts => Object.fromEntries(BUCKETS.map((b) => [b, 0])) as Counts;

export function summarize(state: RolloutState, obs: Observations, now: number): RolloutSummary {
  const totals = zero();
  const waves = state.waves.map((w, wave) => {
    const counts = zero();
    for (const id of w.devices) {
      const d = state.devices[id];
      if (!d) continue;
      const bucket: Bucket =
        !DONE.has(d.state) && d.state !== 'waiting' && obs.get(id)?.online === false ? 'offline' : d.state;
      counts[bucket] += 1;
      totals[bucket] += 1;
    }
    const done =
      w.finishedAt !== undefined ||
      (w.startedAt !== undefined && w.devices.every((id) => DONE.has(state.devices[id]?.state ?? 'waiting')));
    return {
      wave: wave + 1,
      size: w.devices.length,
      state: w.startedAt === undefined ? ('waiting' as const) : done ? ('done' as const) : ('running' as const),
      counts,
    };
  });
  const failures = Object.entries(state.devices)
    .filter(([, d]) => isFailure(d.state))
    .map(([device, d]) => ({ device, wave: d.wave + 1, state: d.state, reason: d.reason ?? '' }))
    .sort((a, b) => a.wave - b.wave || (a.device < b.device ? -1 : 1));
  const summary: RolloutSummary = {
    id: state.id,
    revision: state.revision,
    document: state.documentFile,
    group: state.group,
    phase: state.phase,
    createdAt: new Date(state.createdAt).toISOString(),
    elapsedSec: Math.round(((state.finishedAt ?? now) - state.createdAt) / 100) / 10,
    policy: state.policy,
    gateways: Object.keys(state.devices).length,
    waves,
    totals,
    failures,
  };
  if (state.haltReason !== undefined) summary.haltReason = state.haltReason;
  if (state.finishedAt !== undefined) summary.finishedAt = new Date(state.finishedAt).toISOString();
  if (state.rollback) {
    const counts: RestoreCounts = { pending: 0, applying: 0, verifying: 0, restored: 0, failed: 0, 'timed-out': 0 };
    const rbFailures: NonNullable<RolloutSummary['rollback']>['failures'] = [];
    for (const [device, d] of Object.entries(state.devices)) {
      if (!d.restore) continue;
      counts[d.restore.state] += 1;
      if (d.restore.state === 'failed' || d.restore.state === 'timed-out') {
        rbFailures.push({ device, state: d.restore.state, reason: d.restore.reason ?? '' });
      }
    }
    summary.rollback = {
      revision: state.rollback.revision,
      reason: state.rollback.reason,
      counts,
      failures: rbFailures,
    };
  }
  return summary;
}

const SHOWN: Bucket[] = [
  'pending',
  'offline',
  'applying',
  'verifying',
  'healthy',
  'failed',
  'rolled-back',
  'timed-out',
];

function countsText(c: Counts, all = false): string {
  return SHOWN.filter((b) => all || c[b] > 0)
    .map((b) => `${b} ${c[b]}`)
    .join('  ');
}

function bar(c: Counts, size: number, width: number): string {
  if (size === 0) return ' '.repeat(width);
  const cells = (n: number) => Math.round((n / size) * width);
  const ok = cells(c.healthy);
  const bad = Math.min(width - ok, cells(c.failed + c['rolled-back'] + c['timed-out']));
  const busy = Math.min(width - ok - bad, cells(c.applying + c.verifying));
  return `${'#'.repeat(ok)}${'x'.repeat(bad)}${'~'.repeat(busy)}${'.'.repeat(width - ok - bad - busy)}`;
}

function header(s: RolloutSummary): string {
  return `rollout ${s.id}: revision ${s.revision} (${s.document}) to ${s.gateways} gateways [${s.group}]  ${s.phase}  ${formatDuration(Math.floor(s.elapsedSec))}`;
}

/** The live block on a TTY: a header, one bar per wave, the rollback if any. */
export function renderLive(s: RolloutSummary, width = 30): string[] {
  const lines = [header(s)];
  const w = String(s.waves.length).length;
  for (const wave of s.waves) {
    const label = `wave ${String(wave.wave).padStart(w)}/${s.waves.length}`;
    const size = String(wave.size).padStart(5);
    if (wave.state === 'waiting') lines.push(`  ${label} [${' '.repeat(width)}] ${size}  waiting`);
    else lines.push(`  ${label} [${bar(wave.counts, wave.size, width)}] ${size}  ${countsText(wave.counts)}`);
  }
  if (s.haltReason) lines.push(`  halted: ${s.haltReason}`);
  if (s.rollback) {
    const c = s.rollback.counts;
    lines.push(
      `  rollback to the previous apps as revision ${s.rollback.revision}: restored ${c.restored}  pending ${c.pending + c.applying + c.verifying}  failed ${c.failed}  timed-out ${c['timed-out']}`,
    );
  }
  return lines;
}

/** One plain line for logs (no TTY): the phase and the totals. */
export function renderLine(s: RolloutSummary): string {
  const running = s.waves.find((w) => w.state === 'running');
  const where = s.phase === 'running' && running ? `wave ${running.wave}/${s.waves.length}` : s.phase;
  const rb = s.rollback
    ? `; rollback (revision ${s.rollback.revision}): restored ${s.rollback.counts.restored} of ${Object.values(s.rollback.counts).reduce((a, b) => a + b, 0)}`
    : '';
  return `[${formatDuration(Math.floor(s.elapsedSec))}] ${where}: ${countsText(s.totals) || 'starting'}${rb}`;
}

/** The final report. */
export function renderReport(s: RolloutSummary): string {
  const out: string[] = [header(s), ''];
  out.push(
    renderTable(
      ['WAVE', 'SIZE', 'STATE', 'HEALTHY', 'FAILED', 'ROLLED-BACK', 'TIMED-OUT', 'PENDING'],
      s.waves.map((w) => [
        String(w.wave),
        String(w.size),
        w.state,
        String(w.counts.healthy),
        String(w.counts.failed),
        String(w.counts['rolled-back']),
        String(w.counts['timed-out']),
        String(w.counts.pending + w.counts.offline + w.counts.applying + w.counts.verifying),
      ]),
    ),
  );
  if (s.failures.length > 0) {
    out.push('', `failed gateways (${s.failures.length}):`);
    for (const f of s.failures.slice(0, 50)) out.push(`  ${f.device} (wave ${f.wave}) ${f.state}: ${f.reason}`);
    if (s.failures.length > 50) out.push(`  ... and ${s.failures.length - 50} more (--json lists all)`);
  }
  if (s.haltReason) out.push('', `halted: ${s.haltReason}`);
  if (s.rollback) {
    const c = s.rollback.counts;
    out.push(
      `rolled back to the previous apps as revision ${s.rollback.revision}: ${c.restored} restored, ${c.failed} failed, ${c['timed-out']} timed out, ${c.pending + c.applying + c.verifying} pending`,
    );
    for (const f of s.rollback.failures.slice(0, 50)) out.push(`  ${f.device} ${f.state}: ${f.reason}`);
  }
  const verdict: Record<Phase, string> = {
    running: 'still running',
    completed: `completed: ${s.totals.healthy} of ${s.gateways} gateways healthy on revision ${s.revision}`,
    halted: 'halted; nothing was rolled back (gateways that failed rolled themselves back)',
    'rolling-back': 'rolling back',
    'rolled-back': 'halted and rolled back',
    aborted: 'aborted by the operator',
  };
  out.push('', `${verdict[s.phase]} (${formatMs(s.elapsedSec * 1000)})`);
  return out.join('\n');
}
