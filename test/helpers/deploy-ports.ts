/**
 * An in-memory ApplyPorts for deployment tests, built on SimRuntime: the
 * containers and the image store live in a SimState, and every call is
 * logged in `calls`. Like the real runtime ports, `create` creates and starts
 * (runOwned), so a `start` step appears only for a stopped container.
 *
 * Knobs, by image ref (a bad release is an image): a pull that fails, a pull
 * held on a promise the test releases (to supersede mid-apply), and a
 * Behaviour for containers of an image: exit with a code, OOM kill, become
 * unhealthy, restart, or take a while to pass their health check. Behaviours
 * are timed on a FakeClock from the container's start, so nothing sleeps.
 */
import type { FirmwareProfile } from '../../agent/src/config/profile-types.js';
import type { ApplyPorts, Clock, ContainerProbe } from '../../agent/src/deploy/apply.js';
import type { CurrentContainer, DeploymentDocument, ImageResolver, Step } from '../../agent/src/deploy/types.js';
import type { PullEvent } from '../../agent/src/images/ports.js';
import { SimRuntime, type SimState } from './deploy-sim.js';

/** A Clock whose sleep advances time at once (and yields to pending I/O), so a health gate runs in microseconds. */
export class FakeClock implements Clock {
  constructor(public t = Date.parse('2030-01-01T00:00:00.000Z')) {}

  now(): number {
    return this.t;
  }

  advance(ms: number): void {
    this.t += ms;
  }

  async sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return;
    this.t += ms;
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** What the containers of one image do once started; times are ms after the start. */
export interface Behaviour {
  /** Exits with this code (0 ms: right after start, so the start does not stick). */
  exit?: { code: number; afterMs?: number };
  /** Killed by the OOM killer (exit code 137). */
  oom?: { afterMs?: number };
  /** Its health check starts failing (the container keeps running). */
  unhealthy?: { afterMs?: number };
  /** Restarted by the runtime once (restart count up, start time renewed). */
  restart?: { afterMs?: number };
  /** With a health check: reported `starting` until then, `healthy` after. Default 0; Infinity: never healthy. */
  healthyAfterMs?: number;
}

/** A pull held until the test says so. */
export interface HeldPull {
  /** Resolves when apply has called pull for the image. */
  readonly reached: Promise<void>;
  /** Let the pull finish (it succeeds unless failPull says otherwise). */
  release(): void;
}

interface Life {
  image: string;
  hasHealthCheck: boolean;
  startedAt?: number;
  restarts: number;
  oomKills: number;
  lastExit?: { code: number; at: string };
  health?: 'starting' | 'healthy' | 'unhealthy';
  /** Behaviour events already fired since the last start. */
  fired: Set<keyof Behaviour>;
}

const NO_DOC: DeploymentDocument = { revision: 0, apps: {} };
const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

export class FakePorts implements ApplyPorts {
  state: SimState;
  /** Every runtime call in order: "pull IMG", "create C", "start C", "stop C", "remove C". */
  readonly calls: string[] = [];
  readonly sim: SimRuntime;
  private readonly lives = new Map<string, Life>();
  private readonly behaviours = new Map<string, Behaviour>();
  private readonly pullFailures = new Map<string, string>();
  private readonly holds = new Map<string, { gate: Promise<void>; reached: () => void }>();

  constructor(
    /** What a pull of a ref gets: ref -> digest. */
    registry: ReadonlyMap<string, string>,
    profile: FirmwareProfile,
    readonly clock: FakeClock,
    /** Images already in the local store. */
    local: Iterable<[string, string]> = [],
  ) {
    this.sim = new SimRuntime(registry, profile);
    this.state = { containers: [], local: new Map(local) };
  }

  /** Containers of `image` behave like this from their next start on. */
  behave(image: string, b: Behaviour): this {
    this.behaviours.set(image, b);
    return this;
  }

  /** Pulls of `image` fail with `message`. */
  failPull(image: string, message = `manifest unknown: ${image}`): this {
    this.pullFailures.set(image, message);
    return this;
  }

  /** The next pull of `image` waits until released (or until apply aborts it, as a real pull does). */
  holdPull(image: string): HeldPull {
    let reached!: () => void;
    let release!: () => void;
    const reachedP = new Promise<void>((r) => {
      reached = r;
    });
    const gate = new Promise<void>((r) => {
      release = r;
    });
    this.holds.set(image, { gate, reached });
    return { reached: reachedP, release };
  }

  /** What the service's setAppRevision does to the real runtime's records. */
  setAppRevision = (app: string, revision: number): void => {
    this.state = {
      ...this.state,
      containers: this.state.containers.map((c) => (c.app === app ? { ...c, revision } : c)),
    };
  };

  /** The containers as "name app@revision status image", sorted: one string per container for assertions. */
  snapshot(): string[] {
    this.tick();
    return this.state.containers
      .map((c) => `${c.container} ${c.app}@${c.revision} ${c.status} ${this.lives.get(c.container)?.image ?? '?'}`)
      .sort();
  }

  async current(): Promise<CurrentContainer[]> {
    this.tick();
    return this.state.containers.map((c) => ({ ...c }));
  }

  resolveImage: ImageResolver = (ref) => this.state.local.get(ref);

  async pull(image: string, signal: AbortSignal, onEvent: (e: PullEvent) => void): Promise<void> {
    this.calls.push(`pull ${image}`);
    const hold = this.holds.get(image);
    if (hold) {
      this.holds.delete(image);
      hold.reached();
      await Promise.race([
        hold.gate,
        new Promise<never>((_, reject) => {
          const fail = () => reject(signal.reason ?? new Error('aborted'));
          if (signal.aborted) fail();
          else signal.addEventListener('abort', fail, { once: true });
        }),
      ]);
    }
    signal.throwIfAborted();
    const failure = this.pullFailures.get(image);
    if (failure !== undefined) throw new Error(failure);
    this.state = this.sim.apply(this.state, { kind: 'pull', app: '-', image }, NO_DOC);
    onEvent({ type: 'resolved', source: image, digest: this.state.local.get(image) as string, mediaType: MANIFEST });
  }

  async create(step: Extract<Step, { kind: 'create' }>, doc: DeploymentDocument): Promise<void> {
    this.calls.push(`create ${step.container}`);
    const app = doc.apps[step.app];
    if (!app) throw new Error(`create step for ${step.app}, which revision ${doc.revision} does not have`);
    this.state = this.sim.apply(this.state, step, doc);
    this.lives.set(step.container, {
      image: app.image,
      hasHealthCheck: app.healthCheck !== undefined,
      restarts: 0,
      oomKills: 0,
      fired: new Set(),
    });
    this.launch(step.app, step.container);
  }

  async start(container: string): Promise<void> {
    this.calls.push(`start ${container}`);
    const app = this.state.containers.find((c) => c.container === container)?.app ?? '?';
    this.launch(app, container);
  }

  async stop(container: string): Promise<void> {
    this.calls.push(`stop ${container}`);
    this.tick();
    const app = this.state.containers.find((c) => c.container === container)?.app ?? '?';
    this.state = this.sim.apply(this.state, { kind: 'stop', app, container, reason: 'changed' }, NO_DOC);
  }

  async remove(container: string): Promise<void> {
    this.calls.push(`remove ${container}`);
    const app = this.state.containers.find((c) => c.container === container)?.app ?? '?';
    this.state = this.sim.apply(this.state, { kind: 'remove', app, container, reason: 'changed' }, NO_DOC);
    this.lives.delete(container);
  }

  async probe(container: string): Promise<ContainerProbe | undefined> {
    this.tick();
    const c = this.state.containers.find((x) => x.container === container);
    const life = this.lives.get(container);
    if (!c || !life) return undefined;
    const p: ContainerProbe = {
      status: c.status,
      hasHealthCheck: life.hasHealthCheck,
      restarts: life.restarts,
      oomKills: life.oomKills,
    };
    if (life.health) p.health = life.health;
    if (life.lastExit) p.lastExit = { ...life.lastExit };
    if (life.startedAt !== undefined) p.startedAt = new Date(life.startedAt).toISOString();
    return p;
  }

  private launch(app: string, container: string): void {
    this.state = this.sim.apply(this.state, { kind: 'start', app, container }, NO_DOC);
    const life = this.lives.get(container);
    if (!life) throw new Error(`start ${container}: the fake has no record of it`);
    life.startedAt = this.clock.now();
    life.fired = new Set();
    if (life.hasHealthCheck) life.health = 'starting';
    this.tick();
  }

  /** Fire every behaviour that is due at the clock's time. */
  private tick(): void {
    for (const c of this.state.containers) {
      const life = this.lives.get(c.container);
      if (!life || c.status !== 'running' || life.startedAt === undefined) continue;
      const b = this.behaviours.get(life.image) ?? {};
      const due = (key: 'exit' | 'oom' | 'unhealthy' | 'restart') => {
        const at = b[key] && (life.startedAt as number) + (b[key].afterMs ?? 0);
        if (at === undefined || life.fired.has(key) || this.clock.now() < at) return undefined;
        life.fired.add(key);
        return at;
      };
      const oomAt = due('oom');
      const exitAt = oomAt === undefined ? due('exit') : undefined;
      if (oomAt !== undefined || exitAt !== undefined) {
        if (oomAt !== undefined) life.oomKills++;
        const code = oomAt !== undefined ? 137 : (b.exit?.code ?? 0);
        life.lastExit = { code, at: new Date(oomAt ?? (exitAt as number)).toISOString() };
        c.status = 'stopped';
        continue;
      }
      const restartAt = due('restart');
      if (restartAt !== undefined) {
        life.restarts++;
        life.startedAt = restartAt;
      }
      if (!life.hasHealthCheck) continue;
      if (due('unhealthy') !== undefined || life.health === 'unhealthy') life.health = 'unhealthy';
      else life.health = this.clock.now() >= life.startedAt + (b.healthyAfterMs ?? 0) ? 'healthy' : 'starting';
    }
  }
}
