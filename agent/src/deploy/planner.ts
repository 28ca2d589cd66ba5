/**
 * plan(desired, current) -> steps. Pure and deterministic: the same document,
 * containers (in any order), image store and profile give the same steps.
 *
 * Apply executes one step at a time and plans again after every step (and
 * must after every pull, since a pull is what turns a pending image into a
 * digest). The plan is built so that this is safe: for any prefix of a plan
 * executed against the runtime, planning again gives the rest of the plan
 * (the `reason` of a create may read `new` once the old container is gone),
 * and an empty plan means the runtime has exactly the desired state.
 *
 * Order, and why:
 *  1. Pulls, every missing image once, before anything is stopped: a pull
 *     that fails (no link, bad digest) then leaves the old apps running.
 *  2. Apps no longer in the document: stop and remove (reverse name order; the
 *     old dependency graph is not known). They go first so that their
 *     devices and budget are free for what comes next.
 *  3. Replaced containers that must go before their successor exists
 *     (stop-then-start, lost `missing` records, stale extra slots), in reverse
 *     start order: dependents stop before what they depend on. All of them
 *     before any create, so that a device or budget share one app gives up is
 *     free before another app asks for it.
 *  4. Per app in start order (dependencies first, then by name): create and
 *     start what is new or changed, start what is stopped, `keep` what stays
 *     into the new revision. A start-then-stop app switches completely (new
 *     up, old stopped and removed) before the next app begins, so at most one
 *     app runs twice at any time; validation checks the budget for that.
 */
import type { FirmwareProfile } from '../config/profile-types.js';
import { formatReference, parseReference } from '../images/reference.js';
import { startOrder } from './dependencies.js';
import { specHash } from './spec-hash.js';
import type { CurrentContainer, DeployedApp, DeploymentDocument, ImageResolver, Step } from './types.js';

/** The suffix of an app's second container name; app names cannot contain "--", so it is unambiguous. */
export const SLOT_B_SUFFIX = '--b';

/**
 * The specHash of a create whose image is not local yet. Apply never executes
 * such a create: it plans again after the pull, with the digest known.
 */
export const PENDING_SPEC_HASH = 'pending-pull';

/** The two names an app's containers take, alternating on start-then-stop updates. */
export function containerNames(app: string): [string, string] {
  return [app, `${app}${SLOT_B_SUFFIX}`];
}

type Status = CurrentContainer['status'];
const ALIVE: ReadonlySet<Status> = new Set(['running', 'paused', 'created']);
/** Which of several containers of an app serves best: the one to keep. */
const RANK: Record<Status, number> = { running: 0, paused: 1, created: 2, stopped: 3, missing: 4 };
const byName = (a: CurrentContainer, b: CurrentContainer) => compare(a.container, b.container);
const byRank = (a: CurrentContainer, b: CurrentContainer) => RANK[a.status] - RANK[b.status] || byName(a, b);

function compare(a: string, b: string): number {
  return a === b ? 0 : a < b ? -1 : 1;
}

export function plan(
  desired: DeploymentDocument,
  current: CurrentContainer[],
  images: ImageResolver,
  profile: FirmwareProfile,
): Step[] {
  const byApp = new Map<string, CurrentContainer[]>();
  for (const c of [...current].sort(byName)) byApp.set(c.app, [...(byApp.get(c.app) ?? []), c]);
  const order = startOrder(desired.apps);

  const perApp = new Map<string, AppSteps>();
  for (const name of order) {
    const app = desired.apps[name] as DeployedApp;
    const digest = images(app.image);
    const hash = digest === undefined ? PENDING_SPEC_HASH : specHash(app, digest, profile);
    perApp.set(name, appSteps(name, app, byApp.get(name) ?? [], hash, desired.revision));
  }

  const steps: Step[] = pullSteps(desired, images);
  const gone = [...byApp.keys()]
    .filter((a) => !Object.hasOwn(desired.apps, a))
    .sort(compare)
    .reverse();
  for (const app of gone) for (const c of byApp.get(app) ?? []) steps.push(...teardown(c, 'removed'));
  for (const name of [...order].reverse()) steps.push(...(perApp.get(name)?.before ?? []));
  for (const name of order) steps.push(...(perApp.get(name)?.bringUp ?? []));
  return steps;
}

/** One pull per missing image (same image by any spelling once), named after the first app by name. */
function pullSteps(desired: DeploymentDocument, images: ImageResolver): Step[] {
  const steps: Step[] = [];
  const seen = new Set<string>();
  for (const name of Object.keys(desired.apps).sort(compare)) {
    const image = (desired.apps[name] as DeployedApp).image;
    const key = canonical(image);
    if (seen.has(key)) continue;
    seen.add(key);
    if (images(image) === undefined) steps.push({ kind: 'pull', app: name, image });
  }
  return steps;
}

function canonical(image: string): string {
  try {
    return formatReference(parseReference(image));
  } catch {
    return image;
  }
}

function teardown(c: CurrentContainer, reason: 'removed' | 'changed'): Step[] {
  const steps: Step[] = [];
  if (ALIVE.has(c.status)) steps.push({ kind: 'stop', app: c.app, container: c.container, reason });
  steps.push({ kind: 'remove', app: c.app, container: c.container, reason });
  return steps;
}

interface AppSteps {
  /** Phase 3: containers that must be gone before this app's bring-up. */
  before: Step[];
  /** Phase 4: this app's creates and starts (and, for start-then-stop, the old container's end). */
  bringUp: Step[];
}

/**
 * One desired app against its containers. The container to keep is a live
 * one already made from `hash` (the best-serving, if there are two); the rest
 * are obsolete. Without one, a new container is created: in slot a, or, for
 * start-then-stop while the old one still serves from slot a, in slot b.
 */
function appSteps(
  name: string,
  app: DeployedApp,
  containers: CurrentContainer[],
  hash: string,
  revision: number,
): AppSteps {
  const startThenStop = app.update === 'start-then-stop';
  const live = containers.filter((c) => c.status !== 'missing').sort(byRank);
  const keeper = live.find((c) => c.specHash === hash);
  if (keeper) {
    const obsolete = containers.filter((c) => c !== keeper).flatMap((c) => teardown(c, 'changed'));
    const bringUp: Step[] = [];
    if (keeper.status === 'created' || keeper.status === 'stopped')
      bringUp.push({ kind: 'start', app: name, container: keeper.container });
    if (keeper.revision !== revision) bringUp.push({ kind: 'keep', app: name, container: keeper.container });
    return startThenStop ? { before: [], bringUp: [...bringUp, ...obsolete] } : { before: obsolete, bringUp };
  }

  const reason = containers.length === 0 ? 'new' : containers.some((c) => c.specHash === hash) ? 'missing' : 'changed';
  // start-then-stop keeps the best-serving old container up until the new one runs; everything else goes first.
  const serving = startThenStop ? live[0] : undefined;
  const before = containers.filter((c) => c !== serving).flatMap((c) => teardown(c, 'changed'));
  const [slotA, slotB] = containerNames(name);
  const container = serving?.container === slotA ? slotB : slotA;
  const bringUp: Step[] = [
    { kind: 'create', app: name, container, specHash: hash, reason },
    { kind: 'start', app: name, container },
    ...(serving ? teardown(serving, 'changed') : []),
  ];
  return { before, bringUp };
}
