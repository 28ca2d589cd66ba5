/**
 * The rollout as a pure state machine: (state, what the gateways report, the
 * time) -> (new state, actions). The MQTT shell (run-rollout.ts) feeds it
 * observations from the broker's retained status/reported messages and the
 * events stream, executes the actions (publish a signed desired state) and
 * saves the state to a file, which is all a resumed run needs.
 *
 * A gateway given the new revision N is
 *  - healthy    once its reported deployment runs N (`deployment.revision`),
 *               is not applying, and every app is running (and healthy when it
 *               has a check), held for `healthyForMs` without a break;
 *  - failed     when its reported last outcome for N is failed/superseded, a
 *               `deployment` event says failed/refused, a `rejected` event
 *               names N (or names no revision and came after our publish), or
 *               it already accepted a revision above N;
 *  - rolled-back when it reports (or an event says) it rolled N back by itself;
 *  - timed-out  when none of the above happened within the wave timeout
 *               (offline gateways are pending until then, not failed).
 * Failed, rolled-back and timed-out all count as failures. The rollout halts
 * as soon as the failures among every gateway published to so far exceed the
 * budget (rollout-plan.ts). On halt with rollbackOnHalt (or an abort that asks
 * for it) every gateway published to gets its previous document again under a
 * NEW revision above N and above anything it reported (a gateway refuses a
 * revision at or below the highest it accepted); "previous" is the retained
 * desired document captured before the first publish (none: no apps).
 */
import {
  allowedFailures,
  type FailureBudget,
  formatBudget,
  formatMs,
  parseFailureBudget,
  splitWaves,
  type WaveStep,
} from './rollout-plan.js';

export type DeviceState =
  | 'waiting'
  | 'pending'
  | 'applying'
  | 'verifying'
  | 'healthy'
  | 'failed'
  | 'rolled-back'
  | 'timed-out';

export type RestoreState = 'pending' | 'applying' | 'verifying' | 'restored' | 'failed' | 'timed-out';

export type Phase = 'running' | 'completed' | 'halted' | 'rolling-back' | 'rolled-back' | 'aborted';

export interface DeviceRecord {
  wave: number;
  state: DeviceState;
  /** When the gateway was first seen healthy in the current unbroken stretch (verifying). */
  healthySince?: number;
  /** When the desired state was published to it (rejected events without a revision count after this). */
  publishedAt?: number;
  reason?: string;
  /** Key into RolloutState.previousDocs of the desired it had before the rollout; null: it had none. */
  previous: string | null;
  restore?: { state: RestoreState; healthySince?: number; reason?: string; publishedAt?: number };
}

export interface RolloutPolicy {
  waves: string;
  maxFailures: string;
  waveTimeoutMs: number;
  healthyForMs: number;
  rollbackOnHalt: boolean;
}

export interface RolloutState {
  v: 1;
  id: string;
  createdAt: number;
  revision: number;
  /** The deployment document exactly as signed (the same bytes are published again on resume). */
  document: string;
  documentFile: string;
  kid: string;
  keyFile: string;
  group: string;
  policy: RolloutPolicy;
  waves: Array<{ devices: string[]; startedAt?: number; finishedAt?: number }>;
  devices: Record<string, DeviceRecord>;
  /** The retained desired documents found before the rollout, by sha256 of their text. */
  previousDocs: Record<string, string>;
  phase: Phase;
  currentWave: number;
  haltReason?: string;
  rollback?: { revision: number; startedAt: number; finishedAt?: number; reason: string };
  finishedAt?: number;
  /** Bumped on every change: the shell saves when it moved. */
  seq: number;
}

/** What the fleet tool knows of one gateway from the broker. */
export interface DeviceObservation {
  /** From the retained status; undefined when the gateway was never seen. */
  online?: boolean;
  deployment?: {
    revision?: number;
    target?: number;
    highest?: number;
    applying?: boolean;
    last?: { revision: number; status: string; reasons?: string[] };
  };
  apps?: ReadonlyArray<{ name: string; revision?: number; state: string; health?: string }>;
  /** `deployment` and `rejected` events seen while the tool ran, oldest first, stamped with the tool's clock. */
  events: ReadonlyArray<DeviceEvent>;
}

export interface DeviceEvent {
  type: 'deployment' | 'rejected';
  receivedAt: number;
  revision?: number;
  outcome?: string;
  reason?: string;
  detail?: string;
  reasons?: string[];
}

export type Observations = ReadonlyMap<string, DeviceObservation>;

export type Action =
  | { kind: 'publish-target'; devices: string[] }
  | { kind: 'publish-rollback'; revision: number; devices: Array<{ id: string; previous: string | null }> };

export interface Step {
  state: RolloutState;
  actions: Action[];
}

export interface NewRollout {
  id: string;
  now: number;
  revision: number;
  document: string;
  documentFile: string;
  kid: string;
  keyFile: string;
  group: string;
  devices: readonly string[];
  waves: readonly WaveStep[];
  policy: RolloutPolicy;
  /** Per device, the text of the retained desired document before the rollout (absent: none). */
  previous: ReadonlyMap<string, string>;
  /** sha256 hex of a text (injected: this file stays free of I/O and crypto). */
  hash: (text: string) => string;
}

export function createRollout(r: NewRollout): RolloutState {
  const waves = splitWaves(r.devices, r.waves).map((devices) => ({ devices }));
  const devices: Record<string, DeviceRecord> = {};
  const previousDocs: Record<string, string> = {};
  waves.forEach((w, wave) => {
    for (const id of w.devices) {
      const text = r.previous.get(id);
      let key: string | null = null;
      if (text !== undefined) {
        key = r.hash(text);
        previousDocs[key] = text;
      }
      devices[id] = { wave, state: 'waiting', previous: key };
    }
  });
  return {
    v: 1,
    id: r.id,
    createdAt: r.now,
    revision: r.revision,
    document: r.document,
    documentFile: r.documentFile,
    kid: r.kid,
    keyFile: r.keyFile,
    group: r.group,
    policy: r.policy,
    waves,
    devices,
    previousDocs,
    phase: waves.length === 0 ? 'completed' : 'running',
    currentWave: 0,
    ...(waves.length === 0 ? { finishedAt: r.now } : {}),
    seq: 0,
  };
}

export const TERMINAL_PHASES: ReadonlySet<Phase> = new Set(['completed', 'halted', 'rolled-back', 'aborted']);
const DONE: ReadonlySet<DeviceState> = new Set(['healthy', 'failed', 'rolled-back', 'timed-out']);
const FAILED: ReadonlySet<DeviceState> = new Set(['failed', 'rolled-back', 'timed-out']);
const RESTORE_DONE: ReadonlySet<RestoreState> = new Set(['restored', 'failed', 'timed-out']);

export const isFailure = (s: DeviceState): boolean => FAILED.has(s);

export interface StepInput {
  /** An operator asked to abort (`abort STATE [--rollback]`). */
  abort?: { rollback: boolean };
}

/** Advance the rollout to `now` given what the gateways report. Never mutates its arguments. */
export function advance(prev: RolloutState, obs: Observations, now: number, input: StepInput = {}): Step {
  const state = structuredClone(prev);
  const actions: Action[] = [];
  const before = JSON.stringify(prev);
  if (!TERMINAL_PHASES.has(state.phase)) {
    if (input.abort && state.phase !== 'rolling-back') {
      const reason = 'aborted by the operator';
      if (input.abort.rollback && published(state).length > 0) startRollback(state, obs, now, reason, actions);
      else finish(state, 'aborted', now, reason);
    } else if (state.phase === 'running') runWaves(state, obs, now, actions);
    else if (state.phase === 'rolling-back') runRollback(state, obs, now);
  }
  if (JSON.stringify(state) !== before) state.seq = prev.seq + 1;
  return { state, actions };
}

/**
 * A run picking up a saved state: publish again what may not have gone out
 * (the same signed bytes: gateways that have it ignore it), and restart every
 * "held healthy for" window, since nobody watched while the tool was away.
 * The current wave's (or rollback's) timeout starts again too: time the tool
 * was away must not count against gateways, or a resume after a long gap
 * would time out (and roll back) a healthy wave at its first tick.
 */
export function resume(prev: RolloutState, now: number): Step {
  const state = structuredClone(prev);
  const actions: Action[] = [];
  const current = state.waves[state.currentWave];
  if (state.phase === 'running' && current?.startedAt !== undefined) current.startedAt = now;
  if (state.phase === 'rolling-back' && state.rollback) state.rollback.startedAt = now;
  if (state.phase === 'running') {
    const wave = state.waves[state.currentWave];
    if (wave?.startedAt !== undefined) {
      const again = wave.devices.filter((id) => !DONE.has(dev(state, id).state));
      if (again.length > 0) actions.push({ kind: 'publish-target', devices: again });
    }
  }
  if (state.phase === 'rolling-back' && state.rollback) {
    const again = published(state).filter((id) => !RESTORE_DONE.has(dev(state, id).restore?.state ?? 'pending'));
    if (again.length > 0) {
      actions.push({
        kind: 'publish-rollback',
        revision: state.rollback.revision,
        devices: again.map((id) => ({ id, previous: dev(state, id).previous })),
      });
    }
  }
  for (const d of Object.values(state.devices)) {
    if (d.state === 'verifying') {
      d.state = 'applying';
      delete d.healthySince;
    }
    if (d.restore?.state === 'verifying') {
      d.restore.state = 'applying';
      delete d.restore.healthySince;
    }
  }
  state.seq = prev.seq + 1;
  return { state, actions };
}

function runWaves(state: RolloutState, obs: Observations, now: number, actions: Action[]): void {
  const budget = parseFailureBudget(state.policy.maxFailures);
  for (;;) {
    const wave = state.waves[state.currentWave];
    if (!wave) {
      finish(state, 'completed', now);
      return;
    }
    if (wave.startedAt === undefined) {
      wave.startedAt = now;
      for (const id of wave.devices) Object.assign(dev(state, id), { state: 'pending', publishedAt: now });
      actions.push({ kind: 'publish-target', devices: [...wave.devices] });
    }
    for (const id of wave.devices) {
      const d = dev(state, id);
      if (!DONE.has(d.state)) track(d, obs.get(id), state.revision, now, state.policy.healthyForMs);
    }
    if (now - wave.startedAt >= state.policy.waveTimeoutMs) {
      for (const id of wave.devices) {
        const d = dev(state, id);
        if (DONE.has(d.state)) continue;
        const o = obs.get(id);
        d.reason =
          o?.online === false
            ? `offline for the whole wave timeout (${formatMs(state.policy.waveTimeoutMs)})`
            : `not healthy on revision ${state.revision} within the wave timeout (${formatMs(state.policy.waveTimeoutMs)}; was ${d.state})`;
        d.state = 'timed-out';
        delete d.healthySince;
      }
    }
    const halt = overBudget(state, budget);
    if (halt) {
      state.haltReason = halt;
      if (state.policy.rollbackOnHalt) startRollback(state, obs, now, halt, actions);
      else finish(state, 'halted', now, halt);
      return;
    }
    if (!wave.devices.every((id) => DONE.has(dev(state, id).state))) return;
    wave.finishedAt = now;
    state.currentWave += 1;
  }
}

function overBudget(state: RolloutState, budget: FailureBudget): string | undefined {
  const ids = published(state);
  const failures = ids.filter((id) => FAILED.has(dev(state, id).state)).length;
  const allowed = allowedFailures(budget, ids.length);
  if (failures <= allowed) return undefined;
  return `${failures} of ${ids.length} gateways failed, over the budget of ${formatBudget(budget)} (${allowed} allowed)`;
}

/** The tracked part of a gateway on one revision (the forward revision, or the rollback's). */
interface Tracked {
  state: string;
  healthySince?: number;
  reason?: string;
  publishedAt?: number;
}

/** Where one gateway stands on `revision`; updates `d` (state, healthySince, reason). */
function track(
  d: Tracked,
  o: DeviceObservation | undefined,
  revision: number,
  now: number,
  healthyForMs: number,
): void {
  const verdict = judge(o, revision, d.publishedAt);
  if (verdict.kind === 'failed' || verdict.kind === 'rolled-back') {
    d.state = verdict.kind;
    d.reason = verdict.reason;
    delete d.healthySince;
    return;
  }
  if (verdict.kind === 'healthy') {
    d.healthySince ??= now;
    d.state = now - d.healthySince >= healthyForMs ? 'healthy' : 'verifying';
    if (d.state === 'healthy') delete d.healthySince;
    return;
  }
  delete d.healthySince;
  d.state = verdict.kind;
}

export type Verdict =
  | { kind: 'pending' }
  | { kind: 'applying' }
  | { kind: 'healthy' }
  | { kind: 'failed'; reason: string }
  | { kind: 'rolled-back'; reason: string };

/** Pure: what a gateway's reports and events say about `revision` right now. */
export function judge(o: DeviceObservation | undefined, revision: number, publishedAt?: number): Verdict {
  if (!o) return { kind: 'pending' };
  for (const e of o.events) {
    if (e.type === 'rejected') {
      const ours = e.revision === revision || (e.revision === undefined && e.receivedAt >= (publishedAt ?? Infinity));
      if (ours) return { kind: 'failed', reason: `rejected (${e.reason ?? 'unknown'}): ${e.detail ?? ''}`.trim() };
    } else if (e.revision === revision && e.outcome !== 'applied') {
      const reason = (e.reasons ?? []).join('; ') || `${e.outcome}, no reason given`;
      return e.outcome === 'rolled-back' ? { kind: 'rolled-back', reason } : { kind: 'failed', reason };
    }
  }
  const dep = o.deployment;
  if (!dep) return { kind: 'pending' };
  const last = dep.last;
  if (last && last.revision === revision && last.status !== 'applied') {
    const reason = (last.reasons ?? []).join('; ') || `${last.status}, no reason given`;
    return last.status === 'rolled-back' ? { kind: 'rolled-back', reason } : { kind: 'failed', reason };
  }
  if (dep.highest !== undefined && dep.highest > revision) {
    return { kind: 'failed', reason: `the gateway already accepted revision ${dep.highest}, above ${revision}` };
  }
  if (dep.revision === revision && dep.applying !== true) {
    return appsHealthy(o.apps ?? []) ? { kind: 'healthy' } : { kind: 'applying' };
  }
  if (dep.target === revision || dep.highest === revision) return { kind: 'applying' };
  return { kind: 'pending' };
}

/** The deployment's apps run and are healthy; apps outside deployments (no revision: `gantry run`) do not count. */
export function appsHealthy(apps: DeviceObservation['apps'] & object): boolean {
  return apps
    .filter((a) => a.revision !== undefined)
    .every((a) => a.state === 'running' && (a.health === undefined || a.health === 'healthy'));
}

function startRollback(state: RolloutState, obs: Observations, now: number, reason: string, actions: Action[]): void {
  const ids = published(state);
  let highest = state.revision;
  for (const id of ids) {
    const d = obs.get(id)?.deployment;
    for (const r of [d?.highest, d?.target, d?.revision, d?.last?.revision])
      if (r !== undefined && r > highest) highest = r;
  }
  const revision = highest + 1;
  state.phase = 'rolling-back';
  state.haltReason ??= reason;
  state.rollback = { revision, startedAt: now, reason };
  for (const id of ids) dev(state, id).restore = { state: 'pending', publishedAt: now };
  actions.push({
    kind: 'publish-rollback',
    revision,
    devices: ids.map((id) => ({ id, previous: dev(state, id).previous })),
  });
}

function runRollback(state: RolloutState, obs: Observations, now: number): void {
  const rb = state.rollback;
  if (!rb) {
    finish(state, 'halted', now);
    return;
  }
  for (const id of published(state)) {
    const d = dev(state, id);
    const r = d.restore ?? { state: 'pending', publishedAt: rb.startedAt };
    if (RESTORE_DONE.has(r.state)) continue;
    const t: Tracked = { state: r.state };
    if (r.healthySince !== undefined) t.healthySince = r.healthySince;
    if (r.publishedAt !== undefined) t.publishedAt = r.publishedAt;
    track(t, obs.get(id), rb.revision, now, state.policy.healthyForMs);
    const next: RestoreState =
      t.state === 'healthy'
        ? 'restored'
        : t.state === 'failed' || t.state === 'rolled-back'
          ? 'failed'
          : (t.state as 'pending' | 'applying' | 'verifying');
    const restore: NonNullable<DeviceRecord['restore']> = { state: next };
    if (r.publishedAt !== undefined) restore.publishedAt = r.publishedAt;
    if (next === 'verifying' && t.healthySince !== undefined) restore.healthySince = t.healthySince;
    if (next === 'failed' && t.reason !== undefined) restore.reason = t.reason;
    if (!RESTORE_DONE.has(next) && now - rb.startedAt >= state.policy.waveTimeoutMs) {
      restore.state = 'timed-out';
      delete restore.healthySince;
      restore.reason = `not back on the previous apps (revision ${rb.revision}) within ${formatMs(state.policy.waveTimeoutMs)}`;
    }
    d.restore = restore;
  }
  if (published(state).every((id) => RESTORE_DONE.has(dev(state, id).restore?.state ?? 'pending'))) {
    rb.finishedAt = now;
    finish(state, 'rolled-back', now);
  }
}

function finish(state: RolloutState, phase: Phase, now: number, reason?: string): void {
  state.phase = phase;
  state.finishedAt = now;
  if (reason !== undefined && phase !== 'completed') state.haltReason ??= reason;
}

/** Every gateway the new revision was published to (the started waves). */
export function published(state: RolloutState): string[] {
  return state.waves.filter((w) => w.startedAt !== undefined).flatMap((w) => w.devices);
}

function dev(state: RolloutState, id: string): DeviceRecord {
  const d = state.devices[id];
  if (!d) throw new Error(`rollout state has no record of gateway ${id}`);
  return d;
}

/** The document to publish on rollback: the previous one under the new revision, or no apps. */
export function rollbackDocument(state: RolloutState, previous: string | null, revision: number): string {
  const text = previous === null ? undefined : state.previousDocs[previous];
  if (text === undefined) return `${JSON.stringify({ revision, apps: {} }, null, 2)}\n`;
  const doc = JSON.parse(text) as Record<string, unknown>;
  return `${JSON.stringify({ ...doc, revision }, null, 2)}\n`;
}
