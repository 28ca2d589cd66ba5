import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import type { AgentConfig } from '../config/agent-config.js';
import type { FirmwareProfile } from '../config/profile.js';
import { checkDeployment } from '../deploy/document.js';
import { plan } from '../deploy/planner.js';
import { runtimePorts } from '../deploy/runtime-ports.js';
import { DeployService } from '../deploy/service.js';
import { DeploymentStore } from '../deploy/store.js';
import type { CgroupLayout } from '../host/cgroups.js';
import type { Digest } from '../images/digest.js';
import { RegistryClient } from '../images/registry/index.js';
import { ImageService } from '../images/service.js';
import { unpackLayer } from '../images/unpack/index.js';
import { admit } from '../runtime/bundle/index.js';
import { ConmonRuntime } from '../runtime/driver/index.js';
import { hostRlimits } from '../runtime/host-limits.js';
import { DEFAULT_LOG_SIZE_MAX, Launcher } from '../runtime/launcher.js';
import { RuntimeService } from '../runtime/service.js';
import type { Db } from '../state/database.js';

/** The containers-common seccomp profile podman uses; absent means apps must opt out of seccomp explicitly. */
export const SECCOMP_PROFILE = '/usr/share/containers/seccomp.json';

export interface ServiceContext {
  dataDir: string;
  db: Db;
  config: AgentConfig;
  profile: FirmwareProfile;
  cgroup: CgroupLayout;
  deviceId: string;
  log: Logger;
  /** Steps run in reverse at shutdown. */
  onStop: (step: () => Promise<void> | void) => void;
}

/**
 * Builds the agent's services from their concrete parts. The only place
 * that chooses implementations (registry client, unpacker, conmon + runc).
 */
export interface Services {
  images: ImageService;
  runtime: RuntimeService;
  deploy: DeployService;
}

export async function buildServices(ctx: ServiceContext): Promise<Services> {
  const { config, profile, log } = ctx;
  const registry = new RegistryClient({
    registries: config.registries ?? {},
    ...(config.pull?.maxManifestBytes ? { maxManifestBytes: config.pull.maxManifestBytes } : {}),
    ...(config.pull?.retries ? { retries: config.pull.retries } : {}),
    log,
  });
  ctx.onStop(() => registry.close());
  let runtime: RuntimeService | undefined;
  let deploy: DeployService | undefined;
  const images = new ImageService({
    root: path.join(ctx.dataDir, 'images'),
    db: ctx.db,
    registry,
    unpack: unpackLayer,
    // Images of running apps, and of the target and last good revisions (a rollback needs them).
    usage: {
      inUse: (): Set<string> => new Set([...(runtime?.imagesInUse() ?? []), ...(deploy ? pinned(deploy, images) : [])]),
    },
    hostPlatform: { os: 'linux', ...profile.arch },
    minFreeBytes: profile.storage.minFreeMiB * 1024 * 1024,
    ...(config.pull ? { pull: config.pull } : {}),
    log,
  });
  await images.init();

  const containerRuntime = new ConmonRuntime({
    stateDir: path.join(ctx.dataDir, 'runtime'),
    cgroupLayout: ctx.cgroup,
    log,
  });
  const lookup = {
    resolve: (ref: string) => images.lookup(ref),
    snapshotPath: (d: string) => images.snapshotPath(d as Digest),
  };
  const launcher = new Launcher({
    containersDir: path.join(ctx.dataDir, 'containers'),
    volumesDir: path.join(ctx.dataDir, 'volumes'),
    appsDir: path.join(ctx.dataDir, 'apps'),
    runtime: containerRuntime,
    images: lookup,
    cgroup: ctx.cgroup,
    hostRlimits: await hostRlimits(),
    seccompProfile: await readFile(SECCOMP_PROFILE, 'utf8').then(
      (t) => JSON.parse(t) as unknown,
      () => undefined,
    ),
    deviceId: ctx.deviceId,
    logSizeMax: DEFAULT_LOG_SIZE_MAX,
  });
  runtime = new RuntimeService({
    db: ctx.db,
    runtime: containerRuntime,
    launcher,
    images: lookup,
    admit: (apps) => admit(apps, profile),
    log,
  });
  await runtime.init();
  const started = runtime;
  ctx.onStop(() => started.close());

  deploy = new DeployService({
    store: new DeploymentStore(ctx.db),
    ports: runtimePorts(started, images, profile),
    plan: (doc, current, resolve) => plan(doc, current, resolve, profile),
    validate: (input) =>
      checkDeployment('text' in input ? input.text : JSON.stringify(input.value, null, 2), input.source, profile, {
        otherApps: started.manualSpecs(),
      }),
    setAppRevision: (app, revision) => started.setAppRevision(app, revision),
    log,
  });
  const deployments = deploy;
  // A revision a killed agent was applying (or rolling back) carries on in the background.
  deployments.resume().catch((e: unknown) => log.error({ err: e }, 'resuming the deployment failed'));
  ctx.onStop(() => deployments.close());
  return { images, runtime: started, deploy: deployments };
}

/** Manifest digests of the images of the target and last good revisions that are in the store. */
function pinned(deploy: DeployService, images: ImageService): string[] {
  const out: string[] = [];
  for (const ref of deploy.pinnedImages()) {
    try {
      out.push(images.get(ref).manifestDigest);
    } catch {
      // Not pulled (yet): nothing to keep.
    }
  }
  return out;
}
