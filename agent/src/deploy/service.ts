import type { Logger } from 'pino';
import { failedPrecondition, messageOf, notFound } from '../errors.js';
import {
  type ApplyEvent,
  ApplyFailure,
  type ApplyPorts,
  type Clock,
  converge,
  healthGate,
  type Planner,
  realClock,
  Superseded,
} from './apply.js';
import type { DeploymentRecord, DeploymentSource, DeploymentStore } from './store.js';
import type { DeployedApp, DeploymentDocument, Step } from './types.js';

export type ApplyOutcome = 'applied' | 'rolled-back' | 'failed' | 'superseded';

export interface ApplyResult {
  revision: number;
  outcome: ApplyOutcome;
  reasons: string[];
  /** For rolled-back: the revision the device runs now (0: no deployment apps). */
  runningRevision?: number;
}

/** A document as text (errors point at its lines) or as a parsed value (from the cloud). */
export type DeploymentInput = { text: string; source: string } | { value: unknown; source: string };

export type DeployEvent = ApplyEvent | { type: 'result'; result: ApplyResult };

export interface DeployServiceDeps {
  store: DeploymentStore;
  ports: ApplyPorts;
  plan: Planner;
  /** Schema and profile checks; throws an `invalid` error listing every issue. */
  validate: (input: DeploymentInput) => DeploymentDocument;
  /** The app's containers (kept unchanged) now belong to this revision. */
  setAppRevision: (app: string, revision: number) => void;
  log: Logger;
  clock?: Clock;
  /** Without a health check, an app must run this long without exiting to count as healthy (capped at half the window). */
  stableMs?: number;
}

const EMPTY = (revision: number): DeploymentDocument => ({ revision, apps: {} });
const DEFAULT_HEALTHY_WITHIN_SEC = 60;

/**
 * Deployments: accept a document, converge the runtime to it, gate on
 * health, roll back to the last good revision when it fails. One apply
 * runs at a time; a newer document aborts the running one at its next
 * safe point (between steps). Everything it decides is in the store first,
 * so `resume()` after a crash carries on from there.
 */
export class DeployService {
  private queue: Promise<unknown> = Promise.resolve();
  private abort = new AbortController();
  private readonly listeners = new Set<(e: DeployEvent) => void>();

  constructor(private readonly deps: DeployServiceDeps) {}

  /** After a restart: finish what a killed agent was doing (an apply or a rollback). */
  resume(): Promise<ApplyResult | undefined> {
    const st = this.deps.store.state();
    const target = st.targetRevision !== undefined ? this.deps.store.get(st.targetRevision) : undefined;
    if (st.rollingBackFrom === undefined && target?.status !== 'applying') return Promise.resolve(undefined);
    this.deps.log.info({ target: st.targetRevision, rollingBackFrom: st.rollingBackFrom }, 'resuming a deployment');
    return this.enqueue(undefined, true);
  }

  /** Everything submit() refuses a document for, without applying it: invalid, over budget, not newer. */
  check(input: DeploymentInput): DeploymentDocument {
    const doc = this.deps.validate(input);
    const highest = this.deps.store.highestRevision();
    if (highest !== undefined && doc.revision <= highest)
      throw failedPrecondition(
        `revision ${doc.revision} is not newer than revision ${highest}, the newest this gateway has accepted; revisions only go up`,
      );
    return doc;
  }

  /** Validate, admit and apply a document; resolves when it is applied, rolled back or superseded. */
  submit(input: DeploymentInput, source: DeploymentSource, onEvent?: (e: DeployEvent) => void): Promise<ApplyResult> {
    const doc = this.check(input);
    this.deps.store.begin(doc, source);
    this.deps.log.info({ revision: doc.revision, source, apps: Object.keys(doc.apps) }, 'deployment accepted');
    return this.enqueue(onEvent);
  }

  /** The plan for a document against what runs now, without doing anything. */
  async dryRun(input: DeploymentInput): Promise<{ revision: number; steps: Step[] }> {
    const doc = this.deps.validate(input);
    return {
      revision: doc.revision,
      steps: this.deps.plan(doc, await this.deps.ports.current(), this.deps.ports.resolveImage),
    };
  }

  /** The revision `rollback()` would return to; throws when there is none. */
  rollbackTarget(): { from: number; to: number } {
    const current = this.deps.store.state().targetRevision;
    if (current === undefined) throw failedPrecondition('nothing is deployed; there is no revision to roll back from');
    const previous = this.deps.store.previousGood(current);
    if (!previous) throw failedPrecondition(`revision ${current} has no earlier applied revision to roll back to`);
    return { from: current, to: previous.revision };
  }

  /** Back to the applied revision before the current one. */
  rollback(onEvent?: (e: DeployEvent) => void): Promise<ApplyResult> {
    const { from, to } = this.rollbackTarget();
    this.deps.store.reapply(to, `re-applied by gantry rollback from revision ${from}`);
    return this.enqueue(onEvent);
  }

  list(limit?: number): DeploymentRecord[] {
    return this.deps.store.list(limit);
  }

  get(revision: number): DeploymentRecord {
    const rec = this.deps.store.get(revision);
    if (!rec) throw notFound(`no deployment with revision ${revision}`);
    return rec;
  }

  status(): { targetRevision?: number; lastGoodRevision?: number; rollingBackFrom?: number; applying: boolean } {
    const st = this.deps.store.state();
    const target = st.targetRevision !== undefined ? this.deps.store.get(st.targetRevision) : undefined;
    return { ...st, applying: target?.status === 'applying' || st.rollingBackFrom !== undefined };
  }

  /** The highest revision accepted (the replay bound for the cloud). */
  highestRevision(): number | undefined {
    return this.deps.store.highestRevision();
  }

  /** The document entry an app runs under (for the eSDK: grants, sensors, config). */
  appOf(app: string, revision: number): DeployedApp | undefined {
    return this.deps.store.get(revision)?.document.apps[app];
  }

  /** Image refs of the target and last good revisions: kept in the store even when no container runs them. */
  pinnedImages(): string[] {
    const st = this.deps.store.state();
    const refs = new Set<string>();
    for (const rev of [st.targetRevision, st.lastGoodRevision]) {
      if (rev === undefined) continue;
      for (const app of Object.values(this.deps.store.get(rev)?.document.apps ?? {})) refs.add(app.image);
    }
    return [...refs];
  }

  /** Every event of every apply (the cloud reports outcomes from here). */
  subscribe(listener: (e: DeployEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Stop at the next safe point; containers stay as they are, and resume() continues on the next start. */
  async close(): Promise<void> {
    this.abort.abort();
    await this.queue.catch(() => undefined);
  }

  private enqueue(onEvent: ((e: DeployEvent) => void) | undefined, resumed = false): Promise<ApplyResult> {
    this.abort.abort();
    const abort = new AbortController();
    this.abort = abort;
    const emit = (e: DeployEvent) => {
      onEvent?.(e);
      for (const l of this.listeners) l(e);
    };
    const run = this.queue
      .catch(() => undefined)
      .then(() => this.runTarget(abort.signal, emit, resumed))
      .then((result) => {
        emit({ type: 'result', result });
        this.deps.log.info(result, 'deployment finished');
        return result;
      });
    this.queue = run;
    return run;
  }

  /** Converge to whatever the store says the target is: a revision, or a rollback of one. */
  private async runTarget(signal: AbortSignal, emit: (e: DeployEvent) => void, resumed: boolean): Promise<ApplyResult> {
    const st = this.deps.store.state();
    if (st.rollingBackFrom !== undefined) return this.rollBack(st.rollingBackFrom, signal, emit, resumed);
    const rec = st.targetRevision !== undefined ? this.deps.store.get(st.targetRevision) : undefined;
    if (rec?.status !== 'applying')
      return { revision: rec?.revision ?? 0, outcome: 'superseded', reasons: ['a newer revision took over'] };
    const doc = rec.document;
    let pulled = false;
    try {
      emit({ type: 'phase', revision: doc.revision, phase: 'converging' });
      const touched = await converge(doc, this.deps.ports, this.deps.plan, signal, (e) => {
        if (e.type === 'step' && e.step.kind !== 'pull' && e.state === 'started') pulled = true;
        emit(e);
      });
      if (resumed) await this.addCreatedBefore(doc, touched);
      await this.gate(doc, touched, signal, emit);
      this.deps.store.markApplied(doc.revision, () => this.claim(doc));
      return { revision: doc.revision, outcome: 'applied', reasons: [] };
    } catch (e) {
      if (e instanceof Superseded || signal.aborted)
        return { revision: doc.revision, outcome: 'superseded', reasons: ['a newer revision took over'] };
      const reasons = e instanceof ApplyFailure ? e.reasons : [`internal error: ${messageOf(e)}`];
      this.deps.log.warn({ revision: doc.revision, reasons }, 'deployment failed');
      const drifted = pulled || (await this.driftedFromLastGood());
      // A newer revision may have been accepted during that await: it is the target now, not ours to overwrite.
      if (signal.aborted)
        return { revision: doc.revision, outcome: 'superseded', reasons: ['a newer revision took over'] };
      if (!drifted) {
        // Nothing was stopped or started yet: the last good revision still runs untouched.
        const all = [...reasons, 'nothing was changed: pulls run before any app is stopped'];
        this.deps.store.abandon(doc.revision, all);
        return { revision: doc.revision, outcome: 'failed', reasons: all };
      }
      if (doc.rollout?.rollbackOnFailure === false) {
        this.deps.store.markFailed(doc.revision, reasons);
        return { revision: doc.revision, outcome: 'failed', reasons };
      }
      this.deps.store.beginRollback(doc.revision, reasons);
      return this.rollBack(doc.revision, signal, emit, false);
    }
  }

  /** After a crash: the containers this revision created before it count as touched (the gate was cut short). */
  private async addCreatedBefore(doc: DeploymentDocument, touched: Set<string>): Promise<void> {
    for (const c of await this.deps.ports.current())
      if (c.revision === doc.revision && c.status !== 'missing') touched.add(c.container);
  }

  /** Whether the runtime differs from the last good revision (an apply this one superseded got part-way). */
  private async driftedFromLastGood(): Promise<boolean> {
    const lastGood = this.deps.store.state().lastGoodRevision;
    const doc = lastGood !== undefined ? (this.deps.store.get(lastGood)?.document ?? EMPTY(0)) : EMPTY(0);
    const steps = this.deps.plan(doc, await this.deps.ports.current(), this.deps.ports.resolveImage);
    return steps.some((s) => s.kind !== 'keep');
  }

  private async rollBack(
    failed: number,
    signal: AbortSignal,
    emit: (e: DeployEvent) => void,
    resumed: boolean,
  ): Promise<ApplyResult> {
    const reasons = this.deps.store.get(failed)?.reasons ?? [];
    const lastGood = this.deps.store.state().lastGoodRevision;
    const doc = lastGood !== undefined ? (this.deps.store.get(lastGood)?.document ?? EMPTY(0)) : EMPTY(0);
    try {
      emit({ type: 'phase', revision: failed, phase: 'rolling-back', target: doc.revision });
      const touched = await converge(doc, this.deps.ports, this.deps.plan, signal, emit);
      if (resumed) await this.addCreatedBefore(doc, touched);
      await this.gate(doc, touched, signal, emit);
      this.deps.store.markRolledBack(failed, () => this.claim(doc));
      return { revision: failed, outcome: 'rolled-back', reasons, runningRevision: doc.revision };
    } catch (e) {
      if (e instanceof Superseded || signal.aborted)
        return { revision: failed, outcome: 'superseded', reasons: ['a newer revision took over'] };
      const why = e instanceof ApplyFailure ? e.reasons.join('; ') : messageOf(e);
      const all = [...reasons, `rollback to revision ${doc.revision} failed: ${why}`];
      this.deps.log.error({ revision: failed, reasons: all }, 'rollback failed');
      this.deps.store.markFailed(failed, all);
      return { revision: failed, outcome: 'failed', reasons: all };
    }
  }

  private async gate(
    doc: DeploymentDocument,
    touched: Set<string>,
    signal: AbortSignal,
    emit: (e: DeployEvent) => void,
  ): Promise<void> {
    if (touched.size === 0) return;
    const current = await this.deps.ports.current();
    const apps = new Map([...touched].map((c) => [c, current.find((x) => x.container === c)?.app ?? c]));
    const withinMs = (doc.rollout?.healthyWithinSec ?? DEFAULT_HEALTHY_WITHIN_SEC) * 1000;
    emit({ type: 'phase', revision: doc.revision, phase: 'health-gate' });
    await healthGate(
      doc,
      apps,
      this.deps.ports,
      { withinMs, stableMs: Math.min(this.deps.stableMs ?? 5000, withinMs / 2) },
      this.deps.clock ?? realClock,
      signal,
      emit,
    );
  }

  /** The document's containers that were kept unchanged now belong to its revision. */
  private claim(doc: DeploymentDocument): void {
    // Synchronous on purpose: it runs inside the store's transaction.
    for (const app of Object.keys(doc.apps)) this.deps.setAppRevision(app, doc.revision);
  }
}
