/**
 * The deployment rules a JSON Schema cannot say: names that must exist in the
 * firmware profile, devices that only one app may hold, dependencies, and the
 * app budget. Pure; runs on a document that already passed the schema.
 */
import type { ValidationIssue } from '../config/json-document.js';
import type { FirmwareProfile, GpioLineSpec, SerialPortSpec } from '../config/profile-types.js';
import { isGantryError } from '../errors.js';
import { parseReference } from '../images/reference.js';
import { admit } from '../runtime/bundle/admission.js';
import type { AppSpec } from '../runtime/types.js';
import { dependencyCycles } from './dependencies.js';
import type { DeployedApp, DeploymentDocument, DeviceGrantRef } from './types.js';

export interface DeploymentCheckOptions {
  /** Refuse images not pinned by digest: documents from the cloud must say exactly what runs. */
  requireDigests?: boolean;
  /**
   * Apps outside this deployment (started with `gantry run`): they share the
   * profile's app budget and the container name space with it.
   */
  otherApps?: AppSpec[];
}

/** The suffix of an app's second container during a start-then-stop update. */
const SLOT_B = '--b';

/**
 * Pure: every rule issue of a schema-valid document, each at a JSON Pointer
 * into it, in document order (per app), then cross-app issues.
 */
export function validateDeployment(
  doc: DeploymentDocument,
  profile: FirmwareProfile,
  opts: DeploymentCheckOptions = {},
): ValidationIssue[] {
  const hw = hardware(profile);
  const issues: ValidationIssue[] = [];
  for (const [name, app] of Object.entries(doc.apps)) {
    const at = `/apps/${name}`;
    issues.push(...imageIssues(app, at, opts.requireDigests === true));
    issues.push(...grantIssues(app, at, hw));
    issues.push(...sensorIssues(app, at, hw));
    issues.push(...appShapeIssues(app, at));
  }
  issues.push(...nameClashIssues(doc, opts.otherApps ?? []));
  issues.push(...sharingIssues(doc, hw));
  issues.push(...dependencyIssues(doc));
  issues.push(...budgetIssues(doc, profile, opts.otherApps ?? []));
  return issues;
}

/** The profile's devices by logical name. */
interface Hardware {
  model: string;
  serial: Map<string, SerialPortSpec>;
  gpio: Map<string, GpioLineSpec>;
  sensors: Set<string>;
}

function hardware(profile: FirmwareProfile): Hardware {
  return {
    model: profile.model,
    serial: new Map((profile.serialPorts ?? []).map((s) => [s.name, s])),
    gpio: new Map((profile.gpio?.lines ?? []).map((l) => [l.name, l])),
    sensors: new Set((profile.sensors ?? []).map((s) => s.name)),
  };
}

function imageIssues(app: DeployedApp, at: string, requireDigests: boolean): ValidationIssue[] {
  try {
    const ref = parseReference(app.image);
    if (requireDigests && ref.digest === undefined) {
      return [
        {
          path: `${at}/image`,
          message: `${JSON.stringify(app.image)} is not pinned by digest; a fleet deployment names images as name@sha256:<digest>`,
        },
      ];
    }
    return [];
  } catch (e) {
    return [{ path: `${at}/image`, message: isGantryError(e) ? e.message : String(e) }];
  }
}

const list = (names: Iterable<string>): string => [...names].join(', ');

function deviceListing(hw: Hardware): string {
  const parts = [];
  if (hw.serial.size > 0) parts.push(`serial ports ${list(hw.serial.keys())}`);
  if (hw.gpio.size > 0) parts.push(`GPIO lines ${list(hw.gpio.keys())}`);
  return parts.length > 0 ? `profile ${hw.model} has ${parts.join(' and ')}` : `profile ${hw.model} has no devices`;
}

/** One app's own grants: names, GPIO modes, duplicates. */
function grantIssues(app: DeployedApp, at: string, hw: Hardware): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  const seen = new Map<string, number>();
  for (const [i, grant] of (app.devices ?? []).entries()) {
    const path = `${at}/devices/${i}`;
    const earlier = seen.get(grant.device);
    if (earlier !== undefined) {
      issues.push({
        path: `${path}/device`,
        message: `${grant.device} is already granted at ${at}/devices/${earlier}`,
      });
      continue;
    }
    seen.set(grant.device, i);
    const line = hw.gpio.get(grant.device);
    if (hw.sensors.has(grant.device)) {
      issues.push({ path: `${path}/device`, message: `"${grant.device}" is a sensor: list it under sensors` });
    } else if (!hw.serial.has(grant.device) && !line) {
      issues.push({
        path: `${path}/device`,
        message: `device "${grant.device}" is not on this gateway: ${deviceListing(hw)}`,
      });
    } else if (line && grant.mode === 'passthrough') {
      issues.push({
        path: `${path}/mode`,
        message: `GPIO line ${grant.device} cannot be passed through: GPIO lines (sysfs or chardev) are driven by the agent, not device nodes for a container; use mode "broker"`,
      });
    } else if (line && line.direction === 'in' && grant.access === 'rw') {
      issues.push({
        path: `${path}/access`,
        message: `GPIO line ${grant.device} is an input: grant it with access "r"`,
      });
    }
  }
  return issues;
}

function sensorIssues(app: DeployedApp, at: string, hw: Hardware): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  for (const [i, sensor] of (app.sensors ?? []).entries()) {
    if (hw.sensors.has(sensor)) continue;
    const message =
      hw.serial.has(sensor) || hw.gpio.has(sensor)
        ? `"${sensor}" is a device, not a sensor: grant it under devices`
        : `sensor "${sensor}" is not on this gateway: ${
            hw.sensors.size > 0
              ? `profile ${hw.model} has sensors ${list(hw.sensors)}`
              : `profile ${hw.model} has no sensors`
          }`;
    issues.push({ path: `${at}/sensors/${i}`, message });
  }
  return issues;
}

/** Combinations inside one app that the schema lets through. */
function appShapeIssues(app: DeployedApp, at: string): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  if (app.restart?.policy !== 'on-failure' && app.restart && 'maxRetries' in app.restart) {
    issues.push({ path: `${at}/restart/maxRetries`, message: 'only applies to policy "on-failure"' });
  }
  for (const name of Object.keys(app.env ?? {})) {
    if (name.startsWith('GANTRY_'))
      issues.push({ path: `${at}/env/${name}`, message: 'GANTRY_* variables are set by the agent' });
  }
  const targets = new Map<string, number>();
  for (const [i, v] of (app.volumes ?? []).entries()) {
    const earlier = targets.get(v.target);
    if (earlier !== undefined)
      issues.push({
        path: `${at}/volumes/${i}/target`,
        message: `${v.target} is already mounted by volumes/${earlier}`,
      });
    else targets.set(v.target, i);
  }
  for (const [stream, rule] of Object.entries(app.telemetry ?? {})) {
    for (const [i, t] of (rule.thresholds ?? []).entries()) {
      if (t.above === undefined && t.below === undefined)
        issues.push({ path: `${at}/telemetry/${stream}/thresholds/${i}`, message: 'needs "above" or "below"' });
    }
  }
  if (app.update === 'start-then-stop') {
    const held = (app.devices ?? []).filter((g) => g.mode === 'passthrough').map((g) => g.device);
    if (held.length > 0) {
      issues.push({
        path: `${at}/update`,
        message: `start-then-stop would give passthrough device ${list(held)} to the old and the new container at once; use stop-then-start`,
      });
    }
  }
  return issues;
}

function nameClashIssues(doc: DeploymentDocument, others: AppSpec[]): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  const taken = new Set(others.map((o) => o.name));
  for (const name of Object.keys(doc.apps)) {
    for (const container of [name, `${name}${SLOT_B}`]) {
      if (!taken.has(container)) continue;
      issues.push({
        path: `/apps/${name}`,
        message: `the container name ${container} is taken by an app started with gantry run; remove it (gantry rm ${container}) or rename this app`,
      });
    }
  }
  return issues;
}

interface Holder {
  app: string;
  grant: DeviceGrantRef;
  path: string;
}

/**
 * Across apps: a passthrough device belongs to one app alone; a GPIO output is
 * driven (rw) by one app at most. Each conflict is reported at the grant that
 * conflicts with the first holder.
 */
function sharingIssues(doc: DeploymentDocument, hw: Hardware): ValidationIssue[] {
  const holders = new Map<string, Holder[]>();
  for (const [app, spec] of Object.entries(doc.apps)) {
    for (const [i, grant] of (spec.devices ?? []).entries()) {
      const all = holders.get(grant.device) ?? [];
      if (all.some((h) => h.app === app)) continue; // reported as a duplicate grant
      all.push({ app, grant, path: `/apps/${app}/devices/${i}` });
      holders.set(grant.device, all);
    }
  }
  const issues: ValidationIssue[] = [];
  for (const [device, all] of holders) {
    // Only serial ports can be passed through; a GPIO passthrough grant is refused on its own.
    const exclusive = hw.serial.has(device) ? all.find((h) => h.grant.mode === 'passthrough') : undefined;
    if (exclusive) {
      for (const h of all) {
        if (h === exclusive) continue;
        const message =
          h.grant.mode === 'passthrough'
            ? `${device} is passed through to both app ${exclusive.app} and app ${h.app}; a passthrough device belongs to one app`
            : `${device} is passed through to app ${exclusive.app} (exclusive), so it cannot also be granted to app ${h.app}`;
        issues.push({ path: `${h.path}/mode`, message });
      }
      continue;
    }
    if (hw.gpio.get(device)?.direction !== 'out') continue;
    const writers = all.filter((h) => h.grant.access === 'rw');
    const first = writers[0];
    for (const h of writers.slice(1)) {
      issues.push({
        path: `${h.path}/access`,
        message: `GPIO output ${device} is already writable by app ${first?.app}; only one app may drive an output (grant access "r" here)`,
      });
    }
  }
  return issues;
}

function dependencyIssues(doc: DeploymentDocument): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  const names = Object.keys(doc.apps);
  for (const [name, app] of Object.entries(doc.apps)) {
    for (const [i, dep] of (app.dependsOn ?? []).entries()) {
      if (!Object.hasOwn(doc.apps, dep)) {
        issues.push({
          path: `/apps/${name}/dependsOn/${i}`,
          message: `app "${dep}" is not in this deployment (its apps are ${list(names)})`,
        });
      }
    }
  }
  for (const cycle of dependencyCycles(doc.apps)) {
    const [first, second] = cycle as [string, string];
    const index = (doc.apps[first]?.dependsOn ?? []).indexOf(second);
    issues.push({ path: `/apps/${first}/dependsOn/${index}`, message: `dependency cycle: ${cycle.join(' -> ')}` });
  }
  return issues;
}

/**
 * The app budget, by the runtime's own admission (the same sums and wording
 * as `gantry run`), over this deployment plus the `gantry run` apps. Then, for
 * each start-then-stop app, the same with its second container added: such an
 * update runs both for a while (the planner switches one app at a time, so
 * one extra container at most). The new container's limits stand in for the
 * old one's, which this document does not know.
 */
function budgetIssues(doc: DeploymentDocument, profile: FirmwareProfile, others: AppSpec[]): ValidationIssue[] {
  const deployed: AppSpec[] = Object.entries(doc.apps).map(([name, app]) => budgetSpec(name, app));
  const outside = others.filter((o) => !Object.hasOwn(doc.apps, o.name) && !o.name.endsWith(SLOT_B));
  const base = [...outside, ...deployed];
  const first = admissionIssues(base, profile);
  if (first.length > 0) {
    return first.map((issue) => {
      const perApp = /^app (\S+): (resources\.(\w+).*)$/.exec(issue);
      if (perApp && Object.hasOwn(doc.apps, perApp[1] as string))
        return { path: `/apps/${perApp[1]}/resources/${perApp[3]}`, message: perApp[2] as string };
      return { path: '/apps', message: issue };
    });
  }
  const issues: ValidationIssue[] = [];
  for (const [name, app] of Object.entries(doc.apps)) {
    if (app.update !== 'start-then-stop') continue;
    for (const issue of admissionIssues([...base, budgetSpec(`${name}${SLOT_B}`, app)], profile)) {
      issues.push({
        path: `/apps/${name}/update`,
        message: `start-then-stop runs the old and the new container of ${name} side by side, and then ${issue}; use stop-then-start or lower the limits`,
      });
    }
  }
  return issues;
}

function budgetSpec(name: string, app: DeployedApp): AppSpec {
  return app.resources === undefined
    ? { name, image: app.image }
    : { name, image: app.image, resources: app.resources };
}

function admissionIssues(apps: AppSpec[], profile: FirmwareProfile): string[] {
  try {
    admit(apps, profile);
    return [];
  } catch (e) {
    const details = isGantryError(e, 'invalid') ? (e.details as { issues?: string[] } | undefined) : undefined;
    if (details?.issues) return details.issues;
    throw e;
  }
}
