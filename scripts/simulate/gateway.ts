/**
 * One simulated gateway: the agent's real cloud path (startCloud: MQTT
 * session with birth and last will, signed desired-state intake, replay
 * checks, reported state, commands) over the real DeployService (SQLite
 * store, checkDeployment against the firmware profile, the planner, apply
 * with its health gate and automatic rollback), wired exactly as the agent
 * wires them (deploymentSink / deploymentReport); only the container runtime
 * underneath is in memory (sim-ports.ts).
 */
import type { KeyObject } from 'node:crypto';
import type { Logger } from 'pino';
import { deploymentReport, deploymentSink } from '../../agent/src/cloud/deploy-sink.js';
import { type Cloud, type ResolvedCloudConfig, startCloud } from '../../agent/src/cloud/index.js';
import type { FirmwareProfile } from '../../agent/src/config/profile-types.js';
import { checkDeployment } from '../../agent/src/deploy/document.js';
import { plan } from '../../agent/src/deploy/planner.js';
import { DeployService } from '../../agent/src/deploy/service.js';
import { DeploymentStore } from '../../agent/src/deploy/store.js';
import { invalid } from '../../agent/src/errors.js';
import { type Db, openDatabase } from '../../agent/src/state/database.js';
import { agentVersion } from '../../agent/src/version.js';
import { SimPorts } from './sim-ports.js';

export interface SimGatewayOptions {
  id: string;
  brokerUrl: string;
  trustedKeys: ReadonlyMap<string, KeyObject>;
  profile: FirmwareProfile;
  log: Logger;
  /** Container start delay. */
  startDelayMs: number;
  /** Containers of these images exit right after they start; `true`: of every image. */
  failImages: ReadonlySet<string> | true | undefined;
  /** The deploy service's stable window for apps without a health check. */
  stableMs: number;
  reportDebounceMs: number;
}

const RESOURCES = {
  cpuPercent: 3,
  memory: { usedBytes: 180 * 1024 * 1024, totalBytes: 512 * 1024 * 1024 },
  disk: { usedBytes: 1024 * 1024 * 1024, totalBytes: 4 * 1024 * 1024 * 1024 },
};
const VERSION = agentVersion();

export class SimGateway {
  readonly id: string;
  readonly ports: SimPorts;
  readonly deploy: DeployService;
  private readonly db: Db;
  private readonly startedAt = Date.now();
  private cloud: Cloud | undefined;
  private connecting: Promise<void> | undefined;

  constructor(private readonly opts: SimGatewayOptions) {
    this.id = opts.id;
    const { profile, failImages } = opts;
    this.ports = new SimPorts({
      startDelayMs: opts.startDelayMs,
      fails: (image) => failImages === true || (failImages?.has(image) ?? false),
      failAfterMs: Math.min(200, Math.max(20, opts.stableMs / 4)),
      onChange: () => this.cloud?.reportChanged(),
    });
    // A private in-memory database per gateway, with the agent's real schema and migrations.
    this.db = openDatabase(':memory:');
    this.deploy = new DeployService({
      store: new DeploymentStore(this.db),
      ports: this.ports,
      plan: (doc, current, resolve) => plan(doc, current, resolve, profile),
      validate: (input) =>
        checkDeployment('text' in input ? input.text : JSON.stringify(input.value, null, 2), input.source, profile),
      setAppRevision: this.ports.setAppRevision,
      log: opts.log,
      stableMs: opts.stableMs,
    });
    this.deploy.subscribe(() => this.cloud?.reportChanged());
  }

  get online(): boolean {
    return this.cloud?.session.isOnline ?? false;
  }

  /** Start the cloud session; resolves once it is online (birth published, subscriptions in place). */
  connect(): Promise<void> {
    if (this.cloud) return this.connecting ?? Promise.resolve();
    const { opts } = this;
    const config: ResolvedCloudConfig = {
      broker: { kind: 'url', url: opts.brokerUrl },
      tls: {},
      protocolVersion: 5,
      trustedKeys: new Map(opts.trustedKeys),
      reportCron: '0 0 1 1 *', // on change and on demand only: a thousand gateways on a 5-minute cron is noise here
    };
    const cloudReady = startCloud({
      config,
      deviceId: opts.id,
      identity: { agentVersion: VERSION, model: opts.profile.model, arch: archOf(opts.profile) },
      sink: deploymentSink(this.deploy),
      reported: {
        apps: async () => this.ports.apps(),
        resources: async () => RESOURCES,
        agent: () => ({
          version: VERSION,
          uptimeSec: Math.round((Date.now() - this.startedAt) / 1000),
          deviceId: opts.id,
          model: opts.profile.model,
          arch: archOf(opts.profile),
        }),
        extra: () => ({ simulated: true }),
        deployment: () => deploymentReport(this.deploy),
      },
      commands: {
        'restart-app': async (args) => {
          const app = appArg(args, 'restart-app');
          await this.ports.restart(app);
          return { restarted: app };
        },
        'logs-tail': (args) => {
          const app = appArg(args, 'logs-tail');
          if (!this.ports.appNames().includes(app)) throw invalid(`app ${app} does not run on ${opts.id}`);
          const raw = (args as { lines?: unknown }).lines;
          const n = typeof raw === 'number' && raw > 0 ? Math.min(raw, 1000) : 20;
          return { app, lines: Array.from({ length: n }, (_, i) => `${opts.id} ${app}: simulated log line ${i + 1}`) };
        },
        diagnostics: () => ({ simulated: true, deploy: this.deploy.status() }),
      },
      reportDebounceMs: opts.reportDebounceMs,
      backoff: { initialMs: 250, maxMs: 5000 },
    });
    this.connecting = cloudReady.then(
      (cloud) =>
        new Promise<void>((resolve) => {
          this.cloud = cloud;
          if (cloud.session.isOnline) resolve();
          else {
            const off = cloud.session.onOnline(() => {
              off();
              resolve();
            });
          }
        }),
    );
    return this.connecting;
  }

  /** A clean disconnect: the gateway publishes `offline` (shutdown), its apps keep running. */
  async disconnect(): Promise<void> {
    const cloud = this.cloud;
    this.cloud = undefined;
    this.connecting = undefined;
    await cloud?.stop();
  }

  async stop(): Promise<void> {
    await this.disconnect();
    await this.deploy.close();
    this.ports.close();
    this.db.close();
  }
}

/** As the agent reports it (daemon/edge.ts): the architecture without the variant. */
function archOf(profile: FirmwareProfile): string {
  return profile.arch.architecture;
}

function appArg(args: unknown, command: string): string {
  const app = typeof args === 'object' && args !== null ? (args as { app?: unknown }).app : undefined;
  if (typeof app !== 'string' || app === '') throw invalid(`${command} needs args.app (an app name)`);
  return app;
}
