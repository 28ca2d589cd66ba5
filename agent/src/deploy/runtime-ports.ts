import type { FirmwareProfile } from '../config/profile-types.js';
import { isGantryError } from '../errors.js';
import type { ImageService } from '../images/service.js';
import type { RuntimeService } from '../runtime/service.js';
import type { ApplyPorts, ContainerProbe } from './apply.js';
import { deploymentToAppSpec } from './document.js';

/** Apply's ports over the real image store and container runtime. */
export function runtimePorts(runtime: RuntimeService, images: ImageService, profile: FirmwareProfile): ApplyPorts {
  return {
    async current() {
      return (await runtime.owned()).map((o) => ({
        container: o.name,
        app: o.owner.app,
        revision: o.owner.revision,
        specHash: o.owner.specHash,
        status: o.view.status,
      }));
    },
    resolveImage(ref) {
      try {
        return images.get(ref).manifestDigest;
      } catch (e) {
        if (isGantryError(e) && (e.kind === 'not-found' || e.kind === 'invalid')) return undefined;
        throw e;
      }
    },
    async pull(image, signal, onEvent) {
      await images.pull(image, { signal, onEvent });
    },
    async create(step, doc) {
      const app = doc.apps[step.app];
      if (!app) throw new Error(`create step for ${step.app}, which revision ${doc.revision} does not have`);
      const spec = deploymentToAppSpec(step.app, app, profile, step.container, app.image);
      // app: the slot-b container of a start-then-stop update reaches the app's eSDK socket and sees GANTRY_APP=<app>.
      await runtime.runOwned(
        { ...spec, app: step.app },
        { app: step.app, revision: doc.revision, specHash: step.specHash },
      );
    },
    async start(container) {
      await runtime.start(container);
    },
    async stop(container) {
      await runtime.stop(container);
    },
    async remove(container) {
      await runtime.remove(container, true);
    },
    async probe(container): Promise<ContainerProbe | undefined> {
      try {
        const v = await runtime.inspect(container);
        const p: ContainerProbe = {
          status: v.status,
          hasHealthCheck: v.spec.healthCheck !== undefined,
          restarts: v.restarts,
          oomKills: v.oomKills,
        };
        if (v.health) p.health = v.health;
        if (v.lastExit) p.lastExit = v.lastExit;
        if (v.startedAt) p.startedAt = v.startedAt;
        return p;
      } catch (e) {
        if (isGantryError(e) && e.kind === 'not-found') return undefined;
        throw e;
      }
    },
  };
}
