import path from 'node:path';
import type { Logger } from 'pino';
import { deploymentReport, deploymentSink } from '../cloud/deploy-sink.js';
import type { Cloud } from '../cloud/index.js';
import { Outbox, OutboxLink } from '../cloud/outbox/index.js';
import type { AppReport, ReportedSource } from '../cloud/reported.js';
import { systemResources } from '../cloud/system-resources.js';
import { deviceTopics } from '../cloud/topics.js';
import { notFound } from '../errors.js';
import type { EsdkServer } from '../esdk/index.js';
import { readLogs } from '../runtime/driver/index.js';
import { TelemetryPipeline } from '../telemetry/pipeline.js';
import { agentVersion } from '../version.js';
import { startAppSockets } from './app-sockets.js';
import type { ServiceContext, Services } from './services.js';

export interface EdgeServices {
  outbox: Outbox;
  telemetry: TelemetryPipeline;
  esdk: EsdkServer;
  /** Absent when the config has no `cloud` section: telemetry then waits in the outbox. */
  cloud?: Cloud;
}

const MiB = 1024 * 1024;
/** Restarts of one app within this window that count as a crash loop (reported once per window). */
const CRASH_LOOP = { restarts: 3, windowMs: 10 * 60_000 };

/**
 * The edge half of the agent: the durable outbox, the telemetry rules in
 * front of it, and (when configured) the MQTT session that drains it,
 * takes signed desired state in and reports state out.
 */
export async function buildEdgeServices(ctx: ServiceContext, core: Services, startedAt: number): Promise<EdgeServices> {
  const { config, log, deviceId, profile } = ctx;
  const outbox = await Outbox.open(path.join(ctx.dataDir, 'outbox.db'), {
    capBytes: (config.telemetry?.outboxCapMiB ?? 64) * MiB,
    log,
  });
  ctx.onStop(() => outbox.close());
  const topics = deviceTopics(deviceId);
  const telemetry = new TelemetryPipeline({ outbox, topicFor: (app, stream) => topics.telemetry(app, stream), log });
  ctx.onStop(() => telemetry.close());
  // Rules are those of the revision the apps run under (the last good one); apps it no longer has are forgotten.
  let ruled = new Set<string>();
  const applyRules = () => {
    const rev = core.deploy.status().lastGoodRevision;
    const doc = rev !== undefined ? core.deploy.list().find((d) => d.revision === rev)?.document : undefined;
    const apps = Object.entries(doc?.apps ?? {});
    for (const [app, spec] of apps) telemetry.setRules(app, spec.telemetry ?? {});
    for (const app of ruled) if (!doc?.apps[app]) telemetry.removeApp(app);
    ruled = new Set(apps.map(([app]) => app));
  };
  applyRules();
  core.deploy.subscribe((e) => {
    if (e.type === 'result') applyRules();
  });
  const esdk = await startAppSockets({
    appsDir: path.join(ctx.dataDir, 'apps'),
    profile,
    deploy: core.deploy,
    telemetry,
    log,
    ...(config.devices?.sysfsRoot ? { sysfsRoot: config.devices.sysfsRoot } : {}),
    ...(config.devices?.gpioBackend ? { gpioBackend: config.devices.gpioBackend } : {}),
    onStop: ctx.onStop,
  });
  if (!config.cloud) return { outbox, telemetry, esdk };

  // The MQTT stack (~20 MB of RSS) is loaded only when a cloud is configured.
  const { resolveCloudConfig, startCloud } = await import('../cloud/index.js');
  const link = new OutboxLink(outbox, {
    ...(config.telemetry?.bandwidthBytesPerSec ? { bytesPerSec: config.telemetry.bandwidthBytesPerSec } : {}),
    log,
  });
  ctx.onStop(() => link.stop());
  const cloud = await startCloud({
    config: await resolveCloudConfig(config.cloud),
    deviceId,
    identity: { agentVersion: agentVersion(), model: profile.model, arch: profile.arch.architecture },
    sink: deploymentSink(core.deploy),
    reported: reportedSource(ctx, core, telemetry, outbox, startedAt),
    commands: commandHandlers(core),
    outbox: link,
    log,
  });
  ctx.onStop(() => cloud.stop());
  watchForEvents(core, cloud, log);
  return { outbox, telemetry, esdk, cloud };
}

function reportedSource(
  ctx: ServiceContext,
  core: Services,
  telemetry: TelemetryPipeline,
  outbox: Outbox,
  startedAt: number,
): ReportedSource {
  const resources = systemResources(ctx.dataDir);
  return {
    async apps() {
      const memory = new Map((await core.runtime.stats()).map((s) => [s.name, s.stats.memoryBytes]));
      return (await core.runtime.list(true)).map((v) => {
        const r: AppReport = {
          name: v.app ?? v.name,
          imageDigest: v.imageDigest,
          state: v.status,
          restarts: v.restarts,
          oomKills: v.oomKills,
        };
        if (v.revision !== undefined) r.revision = v.revision;
        if (v.health) r.health = v.health;
        if (v.lastExit) r.lastExit = v.lastExit;
        const mem = memory.get(v.name);
        if (mem !== undefined) r.memoryBytes = mem;
        return r;
      });
    },
    resources,
    agent: () => ({
      version: agentVersion(),
      uptimeSec: Math.floor((Date.now() - startedAt) / 1000),
      deviceId: ctx.deviceId,
      model: ctx.profile.model,
      arch: ctx.profile.arch.architecture,
    }),
    extra: () => {
      const { streams: _streams, ...totals } = telemetry.stats();
      return { telemetry: totals, outbox: outbox.stats() };
    },
    deployment: () => deploymentReport(core.deploy),
  };
}

function commandHandlers(core: Services) {
  // Commands reach the deployment's apps only: the cloud did not start gantry run apps and has no business with them.
  const appArg = async (args: unknown): Promise<string> => {
    const app = (args as { app?: unknown } | null)?.app;
    if (typeof app !== 'string' || app === '') throw new TypeError('args.app (the app name) is required');
    if (!(await core.runtime.owned()).some((o) => o.owner.app === app))
      throw notFound(`app ${app} is not one of this gateway's deployed apps`);
    return app;
  };
  return {
    'restart-app': async (args: unknown) => {
      const v = await core.runtime.restart(await appArg(args));
      return { app: v.app ?? v.name, status: v.status, pid: v.pid };
    },
    'logs-tail': async (args: unknown, cmd: { signal: AbortSignal }) => {
      const app = await appArg(args);
      const n = Number((args as { lines?: unknown }).lines ?? 100);
      const lines = [];
      for await (const l of readLogs(core.runtime.logPath(app), {
        tail: Number.isInteger(n) && n > 0 ? Math.min(n, 1000) : 100,
        signal: cmd.signal,
      }))
        lines.push(l);
      return { app, lines };
    },
    diagnostics: async () => ({
      apps: await core.runtime.list(true),
      deployments: core.deploy.status(),
      images: core.images.list().map((i) => ({ ref: i.ref, digest: i.digest, size: i.size })),
    }),
  };
}

/** Container and deployment happenings the cloud should hear about: reported state changes, OOM kills, crash loops. */
function watchForEvents(core: Services, cloud: Cloud, log: Logger): void {
  const restarts = new Map<string, number[]>();
  const emit = (event: Parameters<Cloud['emitEvent']>[0]) =>
    cloud.emitEvent(event).catch((e: unknown) => log.warn({ err: e }, 'could not queue a cloud event'));
  core.runtime.onEvent((e) => {
    cloud.reportChanged();
    const at = new Date().toISOString();
    if (e.type === 'oom-killed') void emit({ type: 'oom-kill', app: e.name, at });
    if (e.type === 'unhealthy') void emit({ type: 'unhealthy', app: e.name, at });
    if (e.type === 'started' && e.detail?.restart === true) {
      const now = Date.now();
      const recent = [...(restarts.get(e.name) ?? []), now].filter((t) => now - t < CRASH_LOOP.windowMs);
      restarts.set(e.name, recent);
      if (recent.length === CRASH_LOOP.restarts)
        void emit({
          type: 'crash-loop',
          app: e.name,
          at,
          restarts: recent.length,
          windowSec: CRASH_LOOP.windowMs / 1000,
        });
    }
  });
  core.deploy.subscribe((e) => {
    if (e.type !== 'result') return;
    cloud.reportChanged();
    // The intake reports outcomes of documents from the cloud itself; these came from gantry deploy / rollback.
    const rec = core.deploy.list(20).find((d) => d.revision === e.result.revision);
    if (rec && rec.source !== 'cloud')
      void emit({ type: 'deployment', ...e.result, source: rec.source, at: new Date().toISOString() });
  });
}
