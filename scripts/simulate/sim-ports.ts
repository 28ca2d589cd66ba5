/**
 * An in-memory container runtime and image store behind the deploy service's
 * ApplyPorts, on real timers: what a simulated gateway "runs". Pulls take
 * `pullDelayMs`; a create (which, like the real runtime's runOwned, also
 * starts) takes `startDelayMs`; a container whose image `fails()` exits with
 * code 1 `failAfterMs` after it started, so the real health gate fails and the
 * real rollback runs. Containers with a health check report `starting`, then
 * `healthy` after `healthyAfterMs`.
 *
 * Every change of a container calls `onChange` (the gateway's reported state).
 */
import { createHash } from 'node:crypto';
import type { AppReport } from '../../agent/src/cloud/reported.js';
import { type ApplyPorts, type ContainerProbe, realClock } from '../../agent/src/deploy/apply.js';
import type { CurrentContainer, DeploymentDocument, ImageResolver, Step } from '../../agent/src/deploy/types.js';
import type { PullEvent } from '../../agent/src/images/ports.js';

export interface SimPortsOptions {
  startDelayMs: number;
  pullDelayMs?: number;
  /** Containers of this image exit soon after they start. */
  fails: (image: string) => boolean;
  failAfterMs?: number;
  healthyAfterMs?: number;
  onChange?: () => void;
}

interface SimContainer extends CurrentContainer {
  image: string;
  digest: string;
  hasHealthCheck: boolean;
  startedAt?: number;
  restarts: number;
  lastExit?: { code: number; at: string };
  health?: 'starting' | 'healthy' | 'unhealthy';
  /** The pending exit/health timers of the current run. */
  timers: NodeJS.Timeout[];
}

const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

/** A digest reference pulls as its digest; a tag as a digest derived from the reference. */
export function simulatedDigest(ref: string): string {
  const at = ref.lastIndexOf('@sha256:');
  if (at >= 0) return ref.slice(at + 1);
  return `sha256:${createHash('sha256').update(ref).digest('hex')}`;
}

export class SimPorts implements ApplyPorts {
  private readonly containers = new Map<string, SimContainer>();
  private readonly local = new Map<string, string>();
  private stopped = false;

  constructor(private readonly opts: SimPortsOptions) {}

  async current(): Promise<CurrentContainer[]> {
    return [...this.containers.values()].map(({ container, app, revision, specHash, status }) => ({
      container,
      app,
      revision,
      specHash,
      status,
    }));
  }

  resolveImage: ImageResolver = (ref) => this.local.get(ref);

  async pull(image: string, signal: AbortSignal, onEvent: (e: PullEvent) => void): Promise<void> {
    await delay(this.opts.pullDelayMs ?? 20, signal);
    signal.throwIfAborted();
    const digest = simulatedDigest(image);
    this.local.set(image, digest);
    onEvent({ type: 'resolved', source: image, digest, mediaType: MANIFEST });
  }

  async create(step: Extract<Step, { kind: 'create' }>, doc: DeploymentDocument): Promise<void> {
    const app = doc.apps[step.app];
    if (!app) throw new Error(`create step for ${step.app}, which revision ${doc.revision} does not have`);
    if (this.containers.has(step.container)) throw new Error(`container name ${step.container} is already in use`);
    const digest = this.local.get(app.image);
    if (digest === undefined) throw new Error(`image ${app.image} is not in the local store`);
    this.containers.set(step.container, {
      container: step.container,
      app: step.app,
      revision: doc.revision,
      specHash: step.specHash,
      status: 'created',
      image: app.image,
      digest,
      hasHealthCheck: app.healthCheck !== undefined,
      restarts: 0,
      timers: [],
    });
    this.changed();
    await this.launch(step.container);
  }

  async start(container: string): Promise<void> {
    await this.launch(container);
  }

  async stop(container: string): Promise<void> {
    const c = this.get(container);
    this.clearTimers(c);
    if (c.status === 'running' || c.status === 'paused') {
      c.status = 'stopped';
      c.lastExit = { code: 137, at: new Date().toISOString() };
    }
    this.changed();
  }

  async remove(container: string): Promise<void> {
    const c = this.containers.get(container);
    if (!c) return;
    this.clearTimers(c);
    this.containers.delete(container);
    this.changed();
  }

  async probe(container: string): Promise<ContainerProbe | undefined> {
    const c = this.containers.get(container);
    if (!c) return undefined;
    const p: ContainerProbe = {
      status: c.status,
      hasHealthCheck: c.hasHealthCheck,
      restarts: c.restarts,
      oomKills: 0,
    };
    if (c.health) p.health = c.health;
    if (c.lastExit) p.lastExit = { ...c.lastExit };
    if (c.startedAt !== undefined) p.startedAt = new Date(c.startedAt).toISOString();
    return p;
  }

  /** The deploy service's setAppRevision: kept containers now belong to `revision`. */
  setAppRevision = (app: string, revision: number): void => {
    for (const c of this.containers.values()) if (c.app === app) c.revision = revision;
  };

  /** For the reported state: one entry per container, named by its app, as the agent reports them. */
  apps(): AppReport[] {
    return [...this.containers.values()].map((c) => ({
      name: c.app,
      revision: c.revision,
      imageDigest: c.digest,
      state: c.status,
      restarts: c.restarts,
      oomKills: 0,
      ...(c.health ? { health: c.health } : {}),
      ...(c.lastExit ? { lastExit: { ...c.lastExit } } : {}),
    }));
  }

  /** The restart-app command: stop and start again in place. */
  async restart(app: string): Promise<void> {
    const c = [...this.containers.values()].find((x) => x.app === app || x.container === app);
    if (!c) throw new Error(`no container of app ${app}`);
    await this.stop(c.container);
    c.restarts += 1;
    await this.launch(c.container);
  }

  appNames(): string[] {
    return [...new Set([...this.containers.values()].map((c) => c.app))];
  }

  /** Stop every timer (the simulation is over). */
  close(): void {
    this.stopped = true;
    for (const c of this.containers.values()) this.clearTimers(c);
  }

  private async launch(container: string): Promise<void> {
    await delay(this.opts.startDelayMs);
    const c = this.get(container);
    if (this.stopped) return;
    this.clearTimers(c);
    c.status = 'running';
    c.startedAt = Date.now();
    if (c.hasHealthCheck) c.health = 'starting';
    const failing = this.opts.fails(c.image);
    if (failing) {
      c.timers.push(
        later(this.opts.failAfterMs ?? 100, () => {
          c.status = 'stopped';
          c.lastExit = { code: 1, at: new Date().toISOString() };
          if (c.hasHealthCheck) c.health = 'unhealthy';
          this.changed();
        }),
      );
    } else if (c.hasHealthCheck) {
      c.timers.push(
        later(this.opts.healthyAfterMs ?? 100, () => {
          c.health = 'healthy';
          this.changed();
        }),
      );
    }
    this.changed();
  }

  private get(container: string): SimContainer {
    const c = this.containers.get(container);
    if (!c) throw new Error(`no such container: ${container}`);
    return c;
  }

  private clearTimers(c: SimContainer): void {
    for (const t of c.timers) clearTimeout(t);
    c.timers = [];
  }

  private changed(): void {
    this.opts.onChange?.();
  }
}

function later(ms: number, fn: () => void): NodeJS.Timeout {
  const t = setTimeout(fn, ms);
  t.unref();
  return t;
}

function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return ms <= 0 ? Promise.resolve() : realClock.sleep(ms, signal);
}
