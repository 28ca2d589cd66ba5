import type { Logger } from 'pino';
import { messageOf } from '../errors.js';
import type { ContainerRecords } from './container-records.js';
import { backoffMs, nextStreak, shouldRestart } from './restart-policy.js';
import type { AppSpec, ContainerRuntime, ExitInfo } from './types.js';

export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const realTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export interface SupervisorDeps {
  runtime: ContainerRuntime;
  records: ContainerRecords;
  /** Launch the container again (the service's relaunch); the supervisor calls watch() again through it. */
  relaunch: (name: string) => Promise<void>;
  log: Logger;
  timers?: Timers;
  now?: () => number;
}

interface Watch {
  spec: AppSpec;
  abort: AbortController;
  startedAt: number;
  /** Restarts in the current crash streak (reset after a long healthy run). */
  streak: number;
  healthTimer?: unknown;
  restartTimer?: unknown;
  healthFails: number;
}

/**
 * Watches each running container: records its exit (code, OOM), applies its
 * restart policy with backoff, and runs its health probe. Containers do not
 * depend on it: when the agent stops, the supervisor just stops watching.
 */
export class Supervisor {
  private readonly watches = new Map<string, Watch>();
  private readonly timers: Timers;
  private readonly now: () => number;

  constructor(private readonly deps: SupervisorDeps) {
    this.timers = deps.timers ?? realTimers;
    this.now = deps.now ?? Date.now;
  }

  /** Start (or resume, after a relaunch) watching `name`. */
  watch(spec: AppSpec): void {
    const previous = this.watches.get(spec.name);
    this.stopTimers(previous);
    previous?.abort.abort();
    const w: Watch = {
      spec,
      abort: new AbortController(),
      startedAt: this.now(),
      streak: previous?.streak ?? 0,
      healthFails: 0,
    };
    this.watches.set(spec.name, w);
    if (spec.healthCheck) {
      this.deps.records.setHealth(spec.name, 'starting');
      this.scheduleProbe(w);
    }
    this.deps.runtime.waitExit(spec.name, w.abort.signal).then(
      (exit) => this.guard(spec.name, 'handling an exit', () => this.onExit(w, exit)),
      (e: unknown) => {
        if (!w.abort.signal.aborted) this.deps.log.error({ err: e, app: spec.name }, 'lost track of a container');
      },
    );
  }

  /** Stop watching (the user stopped or removed it, or the agent is shutting down). */
  unwatch(name: string): void {
    const w = this.watches.get(name);
    if (!w) return;
    this.stopTimers(w);
    w.abort.abort();
    this.watches.delete(name);
  }

  close(): void {
    for (const name of [...this.watches.keys()]) this.unwatch(name);
  }

  /** Errors in timer and promise callbacks (a full disk failing an SQLite write) are logged, never left to crash the agent. */
  private guard(name: string, what: string, fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.deps.log.error({ err: e, app: name }, `supervisor failed ${what}`);
    }
  }

  private stopTimers(w: Watch | undefined): void {
    if (w?.healthTimer !== undefined) this.timers.clearTimeout(w.healthTimer);
    if (w?.restartTimer !== undefined) this.timers.clearTimeout(w.restartTimer);
  }

  private onExit(w: Watch, exit: ExitInfo): void {
    if (this.watches.get(w.spec.name) !== w) return;
    const { name } = w.spec;
    if (w.healthTimer !== undefined) this.timers.clearTimeout(w.healthTimer);
    this.deps.records.recordExit(name, exit);
    this.deps.log.info({ app: name, exitCode: exit.exitCode, oomKilled: exit.oomKilled }, 'container exited');
    const rec = this.deps.records.get(name);
    if (rec?.desired !== 'running') return;
    w.streak = nextStreak(w.streak, this.now() - w.startedAt);
    if (!shouldRestart(w.spec.restart, exit, w.streak)) return;
    const delay = backoffMs(w.streak);
    w.streak++;
    this.deps.records.addEvent(name, 'restarting', { inMs: delay, attempt: w.streak });
    w.restartTimer = this.timers.setTimeout(() => {
      if (this.watches.get(name) !== w) return;
      this.deps.relaunch(name).catch((e: unknown) => {
        this.deps.log.error({ err: e, app: name }, 'restart failed');
        this.guard(name, 'recording a failed restart', () =>
          this.deps.records.addEvent(name, 'exited', { restartError: messageOf(e) }),
        );
      });
    }, delay);
  }

  private scheduleProbe(w: Watch): void {
    const hc = w.spec.healthCheck;
    if (!hc) return;
    w.healthTimer = this.timers.setTimeout(
      () => {
        this.probe(w).catch((e: unknown) => this.deps.log.error({ err: e, app: w.spec.name }, 'health probe failed'));
      },
      (hc.intervalSec ?? 30) * 1000,
    );
  }

  private async probe(w: Watch): Promise<void> {
    const hc = w.spec.healthCheck;
    if (!hc || this.watches.get(w.spec.name) !== w) return;
    const { name } = w.spec;
    const state = await this.deps.runtime.state(name).catch(() => undefined);
    if (state?.status === 'running') {
      const res = await this.deps.runtime
        .exec(name, hc.command, (hc.timeoutSec ?? 10) * 1000)
        .catch((e: unknown) => ({ exitCode: -1, output: messageOf(e), timedOut: false }));
      if (this.watches.get(name) !== w) return;
      const inStartPeriod = this.now() - w.startedAt < (hc.startPeriodSec ?? 0) * 1000;
      if (res.exitCode === 0) {
        w.healthFails = 0;
        if (this.deps.records.get(name)?.health !== 'healthy') this.deps.records.setHealth(name, 'healthy', 'healthy');
      } else if (!inStartPeriod && ++w.healthFails >= (hc.retries ?? 3)) {
        this.deps.records.setHealth(name, 'unhealthy', 'unhealthy', {
          exitCode: res.exitCode,
          timedOut: res.timedOut,
          output: res.output.slice(-512),
        });
        // An unhealthy app is restarted like a crashed one, unless its policy says never.
        if ((w.spec.restart?.policy ?? 'never') !== 'never') {
          await this.deps.runtime.kill(name, 'SIGKILL').catch(() => undefined);
          return;
        }
      }
    }
    this.scheduleProbe(w);
  }
}
