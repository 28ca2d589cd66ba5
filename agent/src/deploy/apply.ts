import { messageOf } from '../errors.js';
import type { PullEvent } from '../images/ports.js';
import type { CurrentContainer, DeploymentDocument, ImageResolver, Step } from './types.js';

/** What apply sees of one container while it waits for it to become healthy. */
export interface ContainerProbe {
  status: CurrentContainer['status'];
  /** Only for containers with a health check. */
  health?: 'starting' | 'healthy' | 'unhealthy';
  hasHealthCheck: boolean;
  restarts: number;
  oomKills: number;
  lastExit?: { code: number; at: string };
  startedAt?: string;
}

/** The outside world of apply: the runtime and the image store, behind one small interface. */
export interface ApplyPorts {
  current(): Promise<CurrentContainer[]>;
  resolveImage: ImageResolver;
  pull(image: string, signal: AbortSignal, onEvent: (e: PullEvent) => void): Promise<void>;
  /** Create and start the container of a create step from the document's app. */
  create(step: Extract<Step, { kind: 'create' }>, doc: DeploymentDocument): Promise<void>;
  start(container: string): Promise<void>;
  stop(container: string): Promise<void>;
  remove(container: string): Promise<void>;
  probe(container: string): Promise<ContainerProbe | undefined>;
}

export type ApplyEvent =
  | { type: 'step'; revision: number; step: Step; state: 'started' | 'done' | 'failed'; error?: string }
  | { type: 'pull'; revision: number; image: string; event: PullEvent }
  | {
      type: 'health';
      revision: number;
      app: string;
      container: string;
      state: 'waiting' | 'healthy' | 'failed';
      reason?: string;
    }
  | { type: 'phase'; revision: number; phase: 'converging' | 'health-gate' | 'rolling-back'; target?: number };

export type Planner = (doc: DeploymentDocument, current: CurrentContainer[], images: ImageResolver) => Step[];

/** An apply that could not finish; `reasons` say why in words an operator can act on. */
export class ApplyFailure extends Error {
  constructor(readonly reasons: string[]) {
    super(reasons.join('; '));
  }
}

/** A newer document arrived: this apply stopped at a safe point. */
export class Superseded extends Error {
  constructor() {
    super('superseded by a newer revision');
  }
}

export interface Clock {
  now(): number;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const realClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      signal?.addEventListener(
        'abort',
        () => {
          clearTimeout(t);
          resolve();
        },
        { once: true },
      );
    }),
};

const describe = (s: Step): string =>
  s.kind === 'pull'
    ? `pull ${s.image} for ${s.app}`
    : `${s.kind} ${s.container}${s.kind !== 'keep' && s.container !== s.app ? ` (app ${s.app})` : ''}`;

/**
 * Drive the runtime to a document: plan, run the first step, plan again.
 * Re-planning after every step is what makes a crash at any point safe:
 * the plan depends only on what exists now. Every pull of the document
 * runs before any container is touched, so a failed pull stops nothing.
 * Returns the containers it created or started (the health gate watches them).
 */
export async function converge(
  doc: DeploymentDocument,
  ports: ApplyPorts,
  plan: Planner,
  signal: AbortSignal,
  emit: (e: ApplyEvent) => void,
): Promise<Set<string>> {
  const touched = new Set<string>();
  const done = new Set<string>();
  for (;;) {
    if (signal.aborted) throw new Superseded();
    const steps = plan(doc, await ports.current(), ports.resolveImage).filter((s) => s.kind !== 'keep');
    if (steps.length === 0) return touched;
    const pulls = steps.filter((s) => s.kind === 'pull');
    const batch = pulls.length > 0 ? pulls : [steps[0] as Step];
    if (signal.aborted) throw new Superseded();
    for (const step of batch) {
      const key = `${step.kind} ${step.kind === 'pull' ? step.image : step.container}`;
      // The plan asks again for what was already done: the step did not stick (a container that exited at once).
      if (done.has(key)) throw new ApplyFailure([await didNotStick(step, ports)]);
      done.add(key);
    }
    // Pulls of one revision run together (the image store bounds layer downloads); other steps one by one.
    const results = await Promise.allSettled(
      batch.map(async (step) => {
        emit({ type: 'step', revision: doc.revision, step, state: 'started' });
        try {
          await runStep(step, doc, ports, signal, emit);
        } catch (e) {
          if (!signal.aborted)
            emit({ type: 'step', revision: doc.revision, step, state: 'failed', error: messageOf(e) });
          throw new ApplyFailure([`${describe(step)} failed: ${messageOf(e)}`]);
        }
        emit({ type: 'step', revision: doc.revision, step, state: 'done' });
      }),
    );
    if (signal.aborted) throw new Superseded();
    const failed = results.flatMap((r) => (r.status === 'rejected' ? (r.reason as ApplyFailure).reasons : []));
    if (failed.length > 0) throw new ApplyFailure(failed);
    for (const step of batch) {
      if (step.kind === 'create' || step.kind === 'start') touched.add(step.container);
      if (step.kind === 'stop' || step.kind === 'remove') touched.delete(step.container);
    }
  }
}

/** Why a step the plan asks for again did not hold: for a start, how the container ended. */
async function didNotStick(step: Step, ports: ApplyPorts): Promise<string> {
  if (step.kind !== 'start' && step.kind !== 'create') return `${describe(step)} did not take effect`;
  const p = await ports.probe(step.container).catch(() => undefined);
  if (p && p.oomKills > 0) return `${step.app} was killed by the OOM killer right after it started`;
  if (p?.lastExit) return `${step.app} exited with code ${p.lastExit.code} right after it started`;
  return `${step.app} stopped right after it started`;
}

async function runStep(
  step: Step,
  doc: DeploymentDocument,
  ports: ApplyPorts,
  signal: AbortSignal,
  emit: (e: ApplyEvent) => void,
): Promise<void> {
  switch (step.kind) {
    case 'pull':
      return ports.pull(step.image, signal, (event) =>
        emit({ type: 'pull', revision: doc.revision, image: step.image, event }),
      );
    case 'create':
      return ports.create(step, doc);
    case 'start':
      return ports.start(step.container);
    case 'stop':
      return ports.stop(step.container);
    case 'remove':
      return ports.remove(step.container);
    case 'keep':
      return;
  }
}

export interface HealthGateOptions {
  /** The whole window: every container must be healthy by then. */
  withinMs: number;
  /** A container without a health check counts as healthy once it has run this long without exiting. */
  stableMs: number;
  pollMs?: number;
}

/**
 * Wait until every touched container is running and healthy. Any exit,
 * restart, OOM kill or unhealthy report fails the gate at once with the
 * reason; still starting at the end of the window fails it too.
 */
export async function healthGate(
  doc: DeploymentDocument,
  containers: Map<string, string>,
  ports: ApplyPorts,
  opts: HealthGateOptions,
  clock: Clock,
  signal: AbortSignal,
  emit: (e: ApplyEvent) => void,
): Promise<void> {
  const baseline = new Map<string, ContainerProbe | undefined>();
  for (const c of containers.keys()) baseline.set(c, await ports.probe(c));
  const started = clock.now();
  const deadline = started + opts.withinMs;
  const pending = new Map(containers);
  const lastState = new Map<string, string>();
  for (const [container, app] of pending)
    emit({ type: 'health', revision: doc.revision, app, container, state: 'waiting' });
  for (;;) {
    if (signal.aborted) throw new Superseded();
    for (const [container, app] of [...pending]) {
      const p = await ports.probe(container);
      const failure = failureOf(app, p, baseline.get(container));
      if (failure) {
        emit({ type: 'health', revision: doc.revision, app, container, state: 'failed', reason: failure });
        throw new ApplyFailure([failure]);
      }
      lastState.set(container, p?.health ?? p?.status ?? 'missing');
      const ranFor = p?.startedAt ? clock.now() - Math.max(Date.parse(p.startedAt), started) : 0;
      if (p && (p.hasHealthCheck ? p.health === 'healthy' : ranFor >= opts.stableMs)) {
        pending.delete(container);
        emit({ type: 'health', revision: doc.revision, app, container, state: 'healthy' });
      }
    }
    if (pending.size === 0) return;
    if (clock.now() >= deadline) {
      const reasons = [...pending].map(
        ([c, app]) => `${app} was not healthy within ${Math.round(opts.withinMs / 1000)} s (${lastState.get(c)})`,
      );
      throw new ApplyFailure(reasons);
    }
    await clock.sleep(opts.pollMs ?? 250, signal);
  }
}

/** Why a container failed since the gate began, or undefined while it may still become healthy. */
export function failureOf(
  app: string,
  now: ContainerProbe | undefined,
  before: ContainerProbe | undefined,
): string | undefined {
  if (!now || now.status === 'missing') return `${app} is gone from the runtime`;
  const oom = now.oomKills > (before?.oomKills ?? 0);
  const exited = now.lastExit && now.lastExit.at !== before?.lastExit?.at;
  if (oom) return `${app} was killed by the OOM killer (memory limit reached)`;
  if (exited && now.lastExit) return `${app} exited with code ${now.lastExit.code}`;
  if (now.restarts > (before?.restarts ?? 0)) return `${app} restarted`;
  // Stopped with an exit on record: it exited after converge started it, maybe before the gate's baseline probe.
  if (now.status === 'stopped' && now.lastExit) return `${app} exited with code ${now.lastExit.code}`;
  if (now.status === 'stopped' || now.status === 'created') return `${app} is not running (${now.status})`;
  if (now.status === 'paused') return `${app} is paused`;
  if (now.health === 'unhealthy') return `${app} is unhealthy (its health check failed)`;
  return undefined;
}
