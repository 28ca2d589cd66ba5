import { invalid, messageOf } from '../errors.js';
import { type CronTimer, cronTimer, isCronExpression } from './cron-timer.js';

/**
 * Reported state: what the device runs and how it is doing, published
 * retained on `…/reported`. It is published
 *  - on change (`changed()`): debounced, and only when something other than
 *    timestamps, uptime, resource use or counters differs from the last one;
 *  - on a node-cron schedule (default every 5 min), with fresh resource use,
 *    unless nothing but timestamps changed;
 *  - on demand (`publishNow()`: each (re)connection, the resend-state command).
 */
export interface AppReport {
  name: string;
  revision?: number;
  imageDigest: string;
  state: string;
  health?: string;
  restarts: number;
  lastExit?: { code?: number; signal?: string; at?: string; oomKilled?: boolean };
  oomKills: number;
  /** From the runtime's cgroup stats, when known. */
  memoryBytes?: number;
  cpuPercent?: number;
}

export interface ResourceReport {
  cpuPercent: number;
  memory: { usedBytes: number; totalBytes: number };
  disk: { usedBytes: number; totalBytes: number };
  temperatureC?: number;
}

export interface AgentReport {
  version: string;
  uptimeSec: number;
  deviceId: string;
  model: string;
  arch: string;
}

export interface ReportedSource {
  apps(): Promise<AppReport[]>;
  resources(): Promise<ResourceReport>;
  agent(): AgentReport;
  /** Telemetry and outbox counters, and anything else worth reporting. */
  extra(): Record<string, unknown>;
  /** Where deployments stand: the fleet tool follows rollouts by this. */
  deployment?(): DeploymentReport;
}

export interface DeploymentReport {
  /** The revision the apps run (the last good one). */
  revision?: number;
  /** The revision being converged to (the newest accepted, or the last good during a rollback). */
  target?: number;
  /** The highest revision ever accepted: a document must be above it. */
  highest?: number;
  applying: boolean;
  /** How the newest accepted revision ended (absent while it applies). */
  last?: { revision: number; status: string; reasons: string[] };
}

export interface ReportedState {
  v: 1;
  at: string;
  agent: AgentReport;
  deployment: DeploymentReport | { revision?: number };
  apps: AppReport[];
  resources?: ResourceReport;
  counters: Record<string, unknown>;
}

/** Pure: assemble the reported document. */
export function buildReported(parts: {
  agent: AgentReport;
  deployment: DeploymentReport | undefined;
  apps: AppReport[];
  resources: ResourceReport | undefined;
  counters: Record<string, unknown>;
  at: Date;
}): ReportedState {
  return {
    v: 1,
    at: parts.at.toISOString(),
    agent: parts.agent,
    deployment: parts.deployment ?? {},
    apps: [...parts.apps].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
    ...(parts.resources ? { resources: parts.resources } : {}),
    counters: parts.counters,
  };
}

/**
 * Pure: the part of a report that decides "changed?". 'state' ignores what
 * moves all the time (timestamps, uptime, resource use, counters); 'full'
 * ignores only timestamps and uptime.
 */
export function reportKey(report: ReportedState, scope: 'state' | 'full'): string {
  const { at: _at, agent, resources, counters, ...rest } = report;
  const { uptimeSec: _uptime, ...stableAgent } = agent;
  return JSON.stringify(
    scope === 'state' ? { ...rest, agent: stableAgent } : { ...rest, agent: stableAgent, resources, counters },
  );
}

export interface ReporterOptions {
  source: ReportedSource;
  /** Publish the encoded report retained (QoS 1); rejects when offline. */
  publish: (report: ReportedState) => Promise<void>;
  debounceMs?: number;
  /** node-cron expression; default every 5 minutes. */
  cron?: string;
  log?: { warn(obj: object, msg: string): void };
  now?: () => Date;
}

export const DEFAULT_REPORT_CRON = '*/5 * * * *';

export class Reporter {
  private readonly opts: ReporterOptions;
  private task: CronTimer | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private pendingChange: Promise<void> | undefined;
  private firePendingChange: ((done: Promise<void>) => void) | undefined;
  private chain: Promise<unknown> = Promise.resolve();
  private lastResources: ResourceReport | undefined;
  private last: { state: string; full: string } | undefined;
  private stopped = false;

  constructor(opts: ReporterOptions) {
    const expression = opts.cron ?? DEFAULT_REPORT_CRON;
    if (!isCronExpression(expression))
      throw invalid(`reported-state schedule ${JSON.stringify(expression)} is not a cron expression`);
    this.opts = opts;
  }

  start(): void {
    if (this.task || this.stopped) return;
    this.task = cronTimer(this.opts.cron ?? DEFAULT_REPORT_CRON, () => void this.enqueue('schedule'));
  }

  /** Something reportable may have changed: publish within the debounce window if it really did. */
  changed(): void {
    if (this.stopped) return;
    clearTimeout(this.debounce);
    if (this.pendingChange === undefined) {
      this.pendingChange = new Promise<void>((resolve) => {
        this.firePendingChange = resolve;
      });
    }
    this.debounce = setTimeout(() => {
      const resolve = this.firePendingChange;
      this.pendingChange = undefined;
      this.firePendingChange = undefined;
      resolve?.(this.enqueue('change'));
    }, this.opts.debounceMs ?? 1000);
  }

  /** Resolves once a pending debounced check (if any) and every queued publish are done. */
  async idle(): Promise<void> {
    await this.pendingChange;
    await this.chain;
  }

  /** Publish a fresh full report now, changed or not. Resolves when it is out (or failed). */
  publishNow(): Promise<void> {
    return this.enqueue('now');
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.debounce);
    this.firePendingChange?.(Promise.resolve());
    this.pendingChange = undefined;
    this.task?.stop();
    this.task = undefined;
    await this.chain;
  }

  private enqueue(trigger: 'change' | 'schedule' | 'now'): Promise<void> {
    const next = this.chain.then(() => this.report(trigger));
    this.chain = next.catch(() => {});
    return next.catch((e) => this.opts.log?.warn({ err: messageOf(e), trigger }, 'reported state not published'));
  }

  private async report(trigger: 'change' | 'schedule' | 'now'): Promise<void> {
    if (this.stopped && trigger !== 'now') return;
    const { source } = this.opts;
    // A change never waits on resource sampling (systeminformation is slow-ish); it reuses the last sample.
    if (trigger !== 'change' || this.lastResources === undefined) {
      try {
        this.lastResources = await source.resources();
      } catch (e) {
        this.opts.log?.warn({ err: messageOf(e) }, 'resource use not available for the reported state');
      }
    }
    const report = buildReported({
      agent: source.agent(),
      deployment: source.deployment?.(),
      apps: await source.apps(),
      resources: this.lastResources,
      counters: source.extra(),
      at: (this.opts.now ?? (() => new Date()))(),
    });
    const keys = { state: reportKey(report, 'state'), full: reportKey(report, 'full') };
    if (trigger === 'change' && this.last?.state === keys.state) return;
    if (trigger === 'schedule' && this.last?.full === keys.full) return;
    await this.opts.publish(report);
    this.last = keys;
  }
}
