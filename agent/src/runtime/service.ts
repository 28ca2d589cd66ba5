import type { Logger } from 'pino';
import { alreadyExists, failedPrecondition, invalid, notFound } from '../errors.js';
import type { Db } from '../state/database.js';
import { validateAppSpec } from './app-spec.js';
import {
  type ContainerEvent,
  type ContainerRecord,
  ContainerRecords,
  type DeploymentOwner,
  type EventType,
  type Health,
} from './container-records.js';
import type { ImageLookup, Launcher } from './launcher.js';
import { Supervisor, type Timers } from './supervisor.js';
import type {
  AppSpec,
  ContainerRuntime,
  ContainerStats,
  ContainerStatus,
  ExitInfo,
  ResolvedResources,
} from './types.js';

/** What `gantry ps` shows for one container. */
export interface ContainerView {
  name: string;
  image: string;
  imageDigest: string;
  status: ContainerStatus | 'missing';
  desired: 'running' | 'stopped';
  pid: number;
  health?: Health;
  restarts: number;
  oomKills: number;
  startedAt?: string;
  lastExit?: { code: number; at: string };
  resources: ResolvedResources;
  /** The deployment app and revision that own it; absent for `gantry run` apps. */
  app?: string;
  revision?: number;
}

export interface ContainerEventNotice {
  name: string;
  type: EventType;
  detail?: Record<string, unknown>;
}

export interface RuntimeServiceDeps {
  db: Db;
  runtime: ContainerRuntime;
  launcher: Launcher;
  images: ImageLookup;
  /** Admission over the whole set of apps: fills defaults and checks the profile's budget. */
  admit: (apps: AppSpec[]) => Map<string, ResolvedResources>;
  log: Logger;
  timers?: Timers;
  /** Grace before SIGKILL on stop, ms. */
  stopGraceMs?: number;
}

/** The container runtime's public surface: run, list, stop/start, pause/resume, remove, inspect, stats, logs. */
export class RuntimeService {
  private readonly records: ContainerRecords;
  private readonly supervisor: Supervisor;

  constructor(private readonly deps: RuntimeServiceDeps) {
    this.records = new ContainerRecords(deps.db, undefined, (name, type, detail) => {
      for (const l of this.listeners) l({ name, type, ...(detail ? { detail } : {}) });
    });
    this.supervisor = new Supervisor({
      runtime: deps.runtime,
      records: this.records,
      // A restart the supervisor decided on waits its turn, and is dropped if the app was stopped meanwhile.
      relaunch: (name) =>
        this.exclusive(name, async () => {
          if (this.records.get(name)?.desired === 'running') await this.relaunch(name, true);
        }),
      log: deps.log,
      ...(deps.timers ? { timers: deps.timers } : {}),
    });
  }

  private readonly listeners = new Set<(e: ContainerEventNotice) => void>();

  /** Every container event (started, exited, oom-killed, unhealthy...) as it is recorded. */
  onEvent(listener: (e: ContainerEventNotice) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Re-adopt what the runtime has: containers that kept running while the
   * agent was away are watched again; exits that happened meanwhile are
   * recorded (and restart policies applied); containers the agent no longer
   * owns are removed.
   */
  async init(): Promise<void> {
    const owned = new Map(this.records.list().map((r) => [r.name, r]));
    for (const id of await this.deps.runtime.list()) {
      if (!owned.has(id)) {
        this.deps.log.warn({ container: id }, 'removing a container no app owns');
        await this.deps.launcher.teardown(id, true);
      }
    }
    for (const rec of owned.values()) await this.adopt(rec);
  }

  private async adopt(rec: ContainerRecord): Promise<void> {
    const state = await this.deps.runtime.state(rec.name);
    if (state && (state.status === 'running' || state.status === 'paused')) {
      this.records.addEvent(rec.name, 'adopted', { pid: state.pid });
      this.supervisor.watch(rec.spec);
      return;
    }
    if (state?.exit) this.records.recordExit(rec.name, state.exit, { whileAgentWasDown: true });
    if (rec.desired !== 'running') return;
    // Exited while we were away, or gone entirely (a reboot): the watch decides on a restart like for any exit.
    if (state?.exit) {
      this.supervisor.watch(rec.spec);
      return;
    }
    await this.relaunch(rec.name, true).catch((e: unknown) =>
      this.deps.log.error({ err: e, app: rec.name }, 'could not restart a container after the agent came back'),
    );
  }

  /**
   * INVARIANT: every change to one app (run, start, stop, restart, pause,
   * resume, rm, a supervisor restart) runs alone, in arrival order, so a stop
   * cannot slip between a restart's create and start.
   */
  private readonly turns = new Map<string, Promise<unknown>>();

  private exclusive<T>(name: string, work: () => Promise<T>): Promise<T> {
    const before = this.turns.get(name) ?? Promise.resolve();
    const turn = before.catch(() => undefined).then(work);
    this.turns.set(name, turn);
    const cleanup = () => {
      if (this.turns.get(name) === turn) this.turns.delete(name);
    };
    turn.then(cleanup, cleanup);
    return turn;
  }

  async run(input: unknown): Promise<ContainerView> {
    const spec = validateAppSpec(input);
    // Names and the eSDK dir belong to deployments: a manual app must not take a deployed app's
    // name, its start-then-stop slot (<app>--b), or its socket (the app field).
    if (spec.app !== undefined) throw invalid('app spec app: only deployments set it');
    if (spec.name.includes('--'))
      throw invalid(`app spec name: "${spec.name}" has "--", which deployments use for their update slots`);
    if (this.records.list().some((r) => r.owner?.app === spec.name))
      throw alreadyExists(`an app named ${spec.name} is deployed; gantry run cannot take its name`);
    return this.exclusive(spec.name, () => this.runUnlocked(spec));
  }

  /** Create and start a container a deployment owns (deploy/ calls this for its create steps). */
  async runOwned(input: AppSpec, owner: DeploymentOwner): Promise<ContainerView> {
    const spec = validateAppSpec(input);
    return this.exclusive(spec.name, () => this.runUnlocked(spec, owner));
  }

  /** Records the revision that now owns the containers of a deployment app it kept unchanged. */
  setAppRevision(app: string, revision: number): void {
    this.records.setAppRevision(app, revision);
  }

  /** Specs of the apps `gantry run` started: deployments share the budget and the name space with them. */
  manualSpecs(): AppSpec[] {
    return this.records
      .list()
      .filter((r) => !r.owner)
      .map((r) => r.spec);
  }

  /** Every container a deployment owns, with what it was created from and its runtime status. */
  async owned(): Promise<Array<{ name: string; owner: DeploymentOwner; view: ContainerView }>> {
    // Concurrently: each view asks runc for the container's state, and apply re-plans after every step.
    const owned = this.records.list().filter((r) => r.owner);
    return Promise.all(
      owned.map(async (rec) => ({
        name: rec.name,
        owner: rec.owner as DeploymentOwner,
        view: await this.view(rec.name),
      })),
    );
  }

  private async runUnlocked(spec: AppSpec, owner?: DeploymentOwner): Promise<ContainerView> {
    if (this.records.get(spec.name))
      throw alreadyExists(`an app named ${spec.name} exists; remove it first (gantry rm ${spec.name})`);
    const image = await this.deps.images.resolve(spec.image);
    const others = this.records.list().map((r) => r.spec);
    const resources = this.deps.admit([...others, spec]).get(spec.name) as ResolvedResources;
    this.records.insert({
      name: spec.name,
      spec,
      resources,
      imageRef: image.ref,
      imageDigest: image.manifestDigest,
      desired: 'running',
      ...(owner ? { owner } : {}),
    });
    try {
      await this.deps.launcher.launch(spec, resources, image.manifestDigest);
    } catch (e) {
      await this.deps.launcher.teardown(spec.name, true).catch(() => undefined);
      this.records.remove(spec.name);
      throw e;
    }
    this.records.markStarted(spec.name, false);
    this.supervisor.watch(spec);
    return this.view(spec.name);
  }

  private async relaunch(name: string, restarted: boolean): Promise<void> {
    const rec = this.mustGet(name);
    // By digest: the tag may have moved since; the app keeps the image it was created from.
    await this.deps.launcher.launch(rec.spec, rec.resources, rec.imageDigest);
    this.records.markStarted(name, restarted);
    this.supervisor.watch(rec.spec);
  }

  /** SIGTERM, then SIGKILL after `graceMs` (default 10 s); the app stays stopped. */
  stop(app: string, graceMs?: number): Promise<ExitInfo | undefined> {
    const name = this.containerOf(app);
    return this.exclusive(name, () => this.stopUnlocked(name, graceMs ?? this.deps.stopGraceMs ?? 10_000));
  }

  private async stopUnlocked(name: string, graceMs: number): Promise<ExitInfo | undefined> {
    this.mustGet(name);
    this.records.setDesired(name, 'stopped');
    this.supervisor.unwatch(name);
    const state = await this.deps.runtime.state(name);
    if (!state || state.status === 'stopped' || state.status === 'created') return state?.exit;
    if (state.status === 'paused') await this.deps.runtime.resume(name);
    const exit = await this.deps.runtime.stop(name, graceMs);
    this.records.recordExit(name, exit, { stoppedBy: 'user' });
    this.records.addEvent(name, 'stopped');
    return exit;
  }

  start(app: string): Promise<ContainerView> {
    const name = this.containerOf(app);
    return this.exclusive(name, () => this.startUnlocked(name));
  }

  private async startUnlocked(name: string): Promise<ContainerView> {
    const rec = this.mustGet(name);
    const state = await this.deps.runtime.state(name);
    if (state?.status === 'running' || state?.status === 'paused')
      throw failedPrecondition(`${name} is already ${state.status}`);
    this.records.setDesired(name, 'running');
    await this.relaunch(rec.name, false);
    return this.view(name);
  }

  restart(app: string, graceMs?: number): Promise<ContainerView> {
    const name = this.containerOf(app);
    return this.exclusive(name, async () => {
      await this.stopUnlocked(name, graceMs ?? this.deps.stopGraceMs ?? 10_000);
      return this.startUnlocked(name);
    });
  }

  pause(app: string): Promise<void> {
    const name = this.containerOf(app);
    return this.exclusive(name, async () => {
      this.mustGet(name);
      await this.deps.runtime.pause(name);
      this.records.addEvent(name, 'paused');
    });
  }

  resume(app: string): Promise<void> {
    const name = this.containerOf(app);
    return this.exclusive(name, async () => {
      this.mustGet(name);
      await this.deps.runtime.resume(name);
      this.records.addEvent(name, 'resumed');
    });
  }

  remove(app: string, force: boolean): Promise<void> {
    const name = this.containerOf(app);
    return this.exclusive(name, () => this.removeUnlocked(name, force));
  }

  private async removeUnlocked(name: string, force: boolean): Promise<void> {
    this.mustGet(name);
    const state = await this.deps.runtime.state(name);
    if (!force && (state?.status === 'running' || state?.status === 'paused')) {
      throw failedPrecondition(`${name} is ${state.status}; stop it first or use --force`);
    }
    this.supervisor.unwatch(name);
    // Forced removal does not wait for a graceful exit (docker rm -f): teardown kills it.
    await this.deps.launcher.teardown(name, true);
    this.records.remove(name);
  }

  async list(all: boolean): Promise<ContainerView[]> {
    const views = await Promise.all(this.records.list().map((r) => this.view(r.name)));
    return all ? views : views.filter((v) => v.status === 'running' || v.status === 'paused');
  }

  async inspect(app: string): Promise<ContainerView & { spec: AppSpec; events: ContainerEvent[] }> {
    const rec = this.mustGet(app);
    return { ...(await this.view(rec.name)), spec: rec.spec, events: this.records.events(rec.name) };
  }

  async stats(): Promise<Array<{ name: string; at: number; stats: ContainerStats }>> {
    const out = [];
    for (const rec of this.records.list()) {
      const state = await this.deps.runtime.state(rec.name);
      if (state?.status !== 'running' && state?.status !== 'paused') continue;
      const stats = await this.deps.runtime.stats(rec.name).catch(() => undefined);
      if (stats) out.push({ name: rec.name, at: Date.now(), stats });
    }
    return out;
  }

  logPath(app: string): string {
    return this.deps.launcher.logPath(this.mustGet(app).name);
  }

  /** Manifest digests of images apps use: never removed by rmi or prune. */
  imagesInUse(): Set<string> {
    return new Set(this.records.list().map((r) => r.imageDigest));
  }

  /** Stop watching; the containers keep running under their conmons. */
  close(): void {
    this.supervisor.close();
  }

  /** The container an operator means: unknown names pass through (the operation reports them). */
  private containerOf(app: string): string {
    return this.records.get(app) || !this.records.list().some((r) => r.owner?.app === app)
      ? app
      : this.mustGet(app).name;
  }

  /** By container name, or by deployment app name (its container may carry a slot suffix after a start-then-stop update). */
  private mustGet(name: string): ContainerRecord {
    const rec = this.records.get(name) ?? this.records.list().find((r) => r.owner?.app === name);
    if (!rec) throw notFound(`no app named ${name}`);
    return rec;
  }

  private async view(name: string): Promise<ContainerView> {
    const rec = this.mustGet(name);
    const state = await this.deps.runtime.state(rec.name).catch(() => undefined);
    const v: ContainerView = {
      name: rec.name,
      image: rec.imageRef,
      imageDigest: rec.imageDigest,
      status: state?.status ?? 'missing',
      desired: rec.desired,
      pid: state?.pid ?? 0,
      restarts: rec.restarts,
      oomKills: rec.oomKills,
      resources: rec.resources,
    };
    if (rec.health) v.health = rec.health;
    if (rec.startedAt) v.startedAt = rec.startedAt;
    if (rec.lastExit) v.lastExit = rec.lastExit;
    if (rec.owner) {
      v.app = rec.owner.app;
      v.revision = rec.owner.revision;
    }
    return v;
  }
}
