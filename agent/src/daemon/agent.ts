import { randomBytes } from 'node:crypto';
import { chmod, mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { addDeployRoutes } from '../api/deploy-routes.js';
import { addImageRoutes } from '../api/image-routes.js';
import { Router } from '../api/router.js';
import { type AgentHealth, type AgentInfo, addInfoRoutes } from '../api/routes.js';
import { addRuntimeRoutes } from '../api/runtime-routes.js';
import { type ApiServer, startApiServer } from '../api/server.js';
import { loadAgentConfig } from '../config/agent-config.js';
import { type FirmwareProfile, loadProfile, ProfileValidator } from '../config/profile.js';
import { messageOf } from '../errors.js';
import { type CgroupLayout, detectCgroupLayout } from '../host/cgroups.js';
import { formatPlatform, hostPlatform } from '../host/platform.js';
import { readLogs } from '../runtime/driver/index.js';
import { type Db, MetaStore, openDatabase } from '../state/database.js';
import { agentVersion } from '../version.js';
import { lockDataDir } from './data-dir-lock.js';
import { buildEdgeServices } from './edge.js';
import { createLogger, type Logger } from './log.js';
import { buildServices } from './services.js';

export interface AgentOptions {
  dataDir: string;
  /** Profile name or file; overrides the config file's `profile`. */
  profile?: string;
  configFile?: string;
  /** Overrides the config's devices.sysfsRoot. */
  sysfsRoot?: string;
  logger?: Logger;
  now?: () => number;
}

export interface RunningAgent {
  readonly socketPath: string;
  readonly info: () => AgentInfo;
  stop(): Promise<void>;
}

export const DEFAULT_PROFILE = 'generic-x86_64';
export const SOCKET_NAME = 'gantry.sock';
export const DB_NAME = 'state.db';

/**
 * The composition root: the only place that picks concrete classes. Start
 * order is "cheap checks first, then take the data dir": a bad config or
 * profile fails before anything on disk is touched. Stop order is the reverse.
 */
export async function startAgent(opts: AgentOptions): Promise<RunningAgent> {
  const now = opts.now ?? Date.now;
  const loaded = await loadAgentConfig(opts.configFile);
  const config = opts.sysfsRoot
    ? { ...loaded, devices: { ...loaded.devices, sysfsRoot: path.resolve(opts.sysfsRoot) } }
    : loaded;
  const log = opts.logger ?? createLogger(config.logLevel);
  const validator = await ProfileValidator.load();
  const { profile, source } = await loadProfile(opts.profile ?? config.profile ?? DEFAULT_PROFILE, validator);

  await mkdir(opts.dataDir, { recursive: true, mode: 0o700 });
  // mkdir keeps an existing dir's mode: enforce it, the app sockets inside rely on it being root's alone.
  await chmod(opts.dataDir, 0o700);
  const lock = await lockDataDir(opts.dataDir);
  const undo: Array<() => Promise<void> | void> = [() => lock.release()];
  // Every step runs even if an earlier one fails: the DB must close and the lock go whatever happened before.
  const unwind = async () => {
    for (const step of undo.reverse()) {
      await Promise.resolve()
        .then(step)
        .catch((e: unknown) => log.error({ err: e }, 'shutdown step failed'));
    }
  };
  try {
    const db = openDatabase(path.join(lock.dataDir, DB_NAME));
    undo.push(() => {
      db.close();
    });
    const deviceId =
      config.deviceId ?? new MetaStore(db).getOrInsert('device-id', () => `gw-${randomBytes(6).toString('hex')}`);
    const cgroup = await detectCgroupLayout();
    const info = infoProvider({ deviceId, profile, profileSource: source, dataDir: lock.dataDir, cgroup, now, log });
    const onStop = (step: () => Promise<void> | void) => {
      undo.push(step);
    };
    const { images, runtime, deploy } = await buildServices({
      dataDir: lock.dataDir,
      db,
      config,
      profile,
      cgroup,
      deviceId,
      log,
      onStop,
    });
    const core = { images, runtime, deploy };
    await buildEdgeServices({ dataDir: lock.dataDir, db, config, profile, cgroup, deviceId, log, onStop }, core, now());
    let router = addInfoRoutes(new Router(), { info, health: () => healthOf(db) });
    router = addDeployRoutes(addRuntimeRoutes(addImageRoutes(router, images), runtime, readLogs), deploy);

    // We hold the lock, so a socket file left here is a dead agent's.
    const socketPath = path.join(lock.dataDir, SOCKET_NAME);
    await rm(socketPath, { force: true });
    const api: ApiServer = await startApiServer(socketPath, router, log);
    undo.push(() => api.close());

    log.info(
      { dataDir: lock.dataDir, deviceId, profile: profile.model, cgroup: info().cgroup.version, socket: socketPath },
      'agent started',
    );
    let stopping: Promise<void> | undefined;
    return {
      socketPath,
      info,
      stop() {
        stopping ??= unwind().then(() => log.info('agent stopped'));
        return stopping;
      },
    };
  } catch (e) {
    await unwind();
    throw e;
  }
}

function infoProvider(o: {
  deviceId: string;
  profile: FirmwareProfile;
  profileSource: string;
  dataDir: string;
  cgroup: CgroupLayout;
  now: () => number;
  log: Logger;
}): () => AgentInfo {
  const { cgroup } = o;
  const platform = hostPlatform();
  if (platform.architecture !== o.profile.arch.architecture) {
    o.log.warn(
      { host: formatPlatform(platform), profile: formatPlatform(o.profile.arch) },
      'firmware profile is for another architecture',
    );
  }
  const startedAt = o.now();
  return () => ({
    version: agentVersion(),
    deviceId: o.deviceId,
    profile: { model: o.profile.model, vendor: o.profile.vendor, source: o.profileSource },
    platform: formatPlatform(platform),
    arch: { ...platform },
    dataDir: o.dataDir,
    pid: process.pid,
    node: process.version,
    startedAt: new Date(startedAt).toISOString(),
    uptimeSeconds: Math.floor((o.now() - startedAt) / 1000),
    cgroup: cgroup.unifiedMount
      ? { version: cgroup.version, unifiedMount: cgroup.unifiedMount }
      : { version: cgroup.version },
  });
}

function healthOf(db: Db): AgentHealth {
  const checks: AgentHealth['checks'] = {};
  try {
    db.prepare('SELECT 1').get();
    checks.database = { ok: true };
  } catch (e) {
    checks.database = { ok: false, message: messageOf(e) };
  }
  return { status: Object.values(checks).every((c) => c.ok) ? 'ok' : 'degraded', checks };
}
