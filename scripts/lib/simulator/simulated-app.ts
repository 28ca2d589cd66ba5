/**
 * The one app the simulator serves: its eSDK context (grants, sensors,
 * config) and telemetry rules, from a deployment document's entry, or, with
 * no document, everything the profile has.
 */
import { readFile } from 'node:fs/promises';
import type { FirmwareProfile } from '../../../agent/src/config/profile-types.js';
import { checkDeployment } from '../../../agent/src/deploy/document.js';
import type { DeploymentDocument, DeviceGrantRef, TelemetryRule } from '../../../agent/src/deploy/types.js';
import { errnoCode, invalid, messageOf, notFound } from '../../../agent/src/errors.js';
import type { AppContext } from '../../../agent/src/esdk/index.js';

export interface SimulatedApp {
  ctx: AppContext;
  /** The app's per-stream rules (empty: every stream passes through, and nothing about upstream is printed). */
  telemetryRules: Record<string, TelemetryRule>;
  /** Where the grants come from, for the banner. */
  source: string;
}

export const DEFAULT_APP_NAME = 'sim-app';

/** No document: every serial port and GPIO line in broker mode with rw, every sensor, config {}. */
export function appFromProfile(profile: FirmwareProfile, app = DEFAULT_APP_NAME): SimulatedApp {
  const grants: DeviceGrantRef[] = [
    ...(profile.serialPorts ?? []).map((p) => p.name),
    ...(profile.gpio?.lines ?? []).map((l) => l.name),
  ].map((device) => ({ device, access: 'rw', mode: 'broker' }));
  return {
    ctx: { app, grants, sensors: (profile.sensors ?? []).map((s) => s.name), config: {} },
    telemetryRules: {},
    source: `every device and sensor of profile ${profile.model}`,
  };
}

/** One app of a validated document; `app` may be left out when the document has exactly one. */
export function appFromDeployment(doc: DeploymentDocument, source: string, app: string | undefined): SimulatedApp {
  const names = Object.keys(doc.apps);
  const name = app ?? (names.length === 1 ? names[0] : undefined);
  if (name === undefined) {
    throw invalid(
      `deployment ${source} has ${names.length} apps (${names.join(', ') || 'none'}): say which with --app`,
    );
  }
  const entry = doc.apps[name];
  if (!entry) throw notFound(`deployment ${source} has no app ${name} (it has: ${names.join(', ') || 'none'})`);
  return {
    ctx: {
      app: name,
      revision: doc.revision,
      grants: entry.devices ?? [],
      sensors: entry.sensors ?? [],
      config: entry.config ?? null,
    },
    telemetryRules: entry.telemetry ?? {},
    source: `app ${name} of ${source} (revision ${doc.revision})`,
  };
}

/** Read and check the document against the profile (line-precise errors, as `gantry deploy` gives them). */
export async function loadSimulatedApp(
  profile: FirmwareProfile,
  opts: { deployment?: string; app?: string },
): Promise<SimulatedApp> {
  if (opts.deployment === undefined) return appFromProfile(profile, opts.app);
  let text: string;
  try {
    text = await readFile(opts.deployment, 'utf8');
  } catch (e) {
    const why = errnoCode(e) === 'ENOENT' ? 'no such file' : messageOf(e);
    throw invalid(`cannot read deployment ${opts.deployment}: ${why}`, { cause: e });
  }
  return appFromDeployment(checkDeployment(text, opts.deployment, profile), opts.deployment, opts.app);
}
