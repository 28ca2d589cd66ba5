/**
 * An in-memory runtime and image store for deployment plans: applies one
 * Step to a list of CurrentContainer the way apply + the runtime would, and
 * refuses steps a real runtime would refuse (starting what runs, removing a
 * live container, a create whose name is taken), so planner bugs fail loudly.
 */
import type { FirmwareProfile } from '../../agent/src/config/profile-types.js';
import { PENDING_SPEC_HASH } from '../../agent/src/deploy/planner.js';
import { specHash } from '../../agent/src/deploy/spec-hash.js';
import type { CurrentContainer, DeploymentDocument, ImageResolver, Step } from '../../agent/src/deploy/types.js';

export interface SimState {
  containers: CurrentContainer[];
  /** Image ref -> manifest digest, as the local store has it. */
  local: Map<string, string>;
}

export class SimRuntime {
  constructor(
    /** What a pull of a ref gets: ref -> digest. */
    readonly registry: ReadonlyMap<string, string>,
    readonly profile: FirmwareProfile,
  ) {}

  resolver(state: SimState): ImageResolver {
    return (ref) => state.local.get(ref);
  }

  /** A new state; the old one is left as it was (so tests can keep every step's state). */
  apply(state: SimState, step: Step, desired: DeploymentDocument): SimState {
    const containers = state.containers.map((c) => ({ ...c }));
    const local = new Map(state.local);
    const find = () => {
      if (step.kind === 'pull') throw new Error('unreachable');
      const c = containers.find((x) => x.container === step.container);
      if (!c) throw new Error(`${step.kind} ${step.container}: no such container`);
      if (c.app !== step.app) throw new Error(`${step.kind} ${step.container}: belongs to ${c.app}, not ${step.app}`);
      return c;
    };
    switch (step.kind) {
      case 'pull': {
        const digest = this.registry.get(step.image);
        if (digest === undefined) throw new Error(`pull ${step.image}: not in the registry`);
        local.set(step.image, digest);
        break;
      }
      case 'create': {
        if (containers.some((x) => x.container === step.container))
          throw new Error(`create ${step.container}: the name is taken`);
        if (step.specHash === PENDING_SPEC_HASH) throw new Error(`create ${step.container}: image not pulled yet`);
        const app = desired.apps[step.app];
        if (!app) throw new Error(`create ${step.container}: app ${step.app} is not desired`);
        const digest = local.get(app.image);
        if (digest === undefined) throw new Error(`create ${step.container}: image ${app.image} is not local`);
        const expected = specHash(app, digest, this.profile);
        if (step.specHash !== expected) throw new Error(`create ${step.container}: stale spec hash`);
        containers.push({
          container: step.container,
          app: step.app,
          revision: desired.revision,
          specHash: step.specHash,
          status: 'created',
        });
        break;
      }
      case 'start': {
        const c = find();
        if (c.status !== 'created' && c.status !== 'stopped')
          throw new Error(`start ${c.container}: it is ${c.status}`);
        c.status = 'running';
        break;
      }
      case 'stop': {
        const c = find();
        if (c.status === 'stopped' || c.status === 'missing') throw new Error(`stop ${c.container}: it is ${c.status}`);
        c.status = 'stopped';
        break;
      }
      case 'remove': {
        const c = find();
        if (c.status !== 'stopped' && c.status !== 'missing')
          throw new Error(`remove ${c.container}: it is ${c.status}`);
        containers.splice(containers.indexOf(c), 1);
        break;
      }
      case 'keep': {
        find().revision = desired.revision;
        break;
      }
    }
    return { containers, local };
  }
}
