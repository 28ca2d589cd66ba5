import path from 'node:path';
import type { Logger } from 'pino';
import type { FirmwareProfile } from '../config/profile-types.js';
import type { DeployService } from '../deploy/service.js';
import type { DeploymentDocument } from '../deploy/types.js';
import { createDevices } from '../devices/index.js';
import { type AppContext, EsdkServer, type TelemetrySink } from '../esdk/index.js';
import { agentVersion } from '../version.js';

export interface AppSocketsOptions {
  appsDir: string;
  profile: FirmwareProfile;
  deploy: DeployService;
  telemetry: TelemetrySink;
  log: Logger;
  sysfsRoot?: string;
  gpioBackend?: 'sysfs' | 'chardev';
  onStop: (step: () => Promise<void> | void) => void;
}

const contextOf = (app: string, doc: DeploymentDocument): AppContext => {
  const spec = doc.apps[app];
  return {
    app,
    revision: doc.revision,
    grants: spec?.devices ?? [],
    sensors: spec?.sensors ?? [],
    config: spec?.config ?? null,
  };
};

/**
 * One eSDK socket per deployed app at DIR/apps/<app>/esdk.sock (the
 * directory the launcher mounts at /run/gantry). Grants and config follow
 * deployments: a revision being applied opens its apps' sockets before
 * their containers start; when it ends, sockets match the revision the apps
 * run under (a rollback takes grants back), and removed apps lose theirs.
 * Apps of `gantry run` get no socket: they have no grants.
 */
export async function startAppSockets(o: AppSocketsOptions): Promise<EsdkServer> {
  const devices = createDevices(o.profile, {
    log: o.log,
    ...(o.sysfsRoot ? { sysfsRoot: o.sysfsRoot } : {}),
    ...(o.gpioBackend ? { gpioBackend: o.gpioBackend } : {}),
  });
  o.onStop(() => devices.close());
  const server = new EsdkServer(
    {
      devices,
      telemetry: o.telemetry,
      health: {
        heartbeat: (app, status, detail) => o.log.debug({ app, status, detail }, 'app heartbeat'),
      },
      log: o.log,
      agentVersion: agentVersion(),
    },
    { socketPath: (app) => path.join(o.appsDir, app, 'esdk.sock') },
  );
  o.onStop(() => server.closeAll());

  const documentOf = (revision: number | undefined): DeploymentDocument | undefined =>
    revision === undefined ? undefined : o.deploy.list().find((d) => d.revision === revision)?.document;
  // Serialised: an open and a close of one app must not cross.
  let turn: Promise<unknown> = Promise.resolve();
  const serve = (doc: DeploymentDocument | undefined, closeOthers: boolean) => {
    turn = turn
      .then(async () => {
        const apps = Object.keys(doc?.apps ?? {});
        for (const app of apps) await server.open(contextOf(app, doc as DeploymentDocument));
        if (closeOthers) for (const app of server.openApps()) if (!apps.includes(app)) await server.close(app);
      })
      .catch((e: unknown) => o.log.error({ err: e }, 'could not update the eSDK sockets'));
    return turn;
  };
  o.deploy.subscribe((e) => {
    if (e.type === 'phase' && e.phase === 'converging') void serve(documentOf(e.revision), false);
    if (e.type === 'phase' && e.phase === 'rolling-back') void serve(documentOf(e.target), false);
    if (e.type === 'result') void serve(documentOf(o.deploy.status().lastGoodRevision), true);
  });
  const st = o.deploy.status();
  await serve(documentOf(st.lastGoodRevision), true);
  // An apply the agent resumes after a restart serves the target's apps too.
  if (st.applying && st.targetRevision !== st.lastGoodRevision) await serve(documentOf(st.targetRevision), false);
  return server;
}
