/**
 * What a container was made from, as one hash: equal hashes mean the running
 * container is already what the document asks for, so the planner keeps it.
 * Pure.
 */
import { createHash } from 'node:crypto';
import type { FirmwareProfile } from '../config/profile-types.js';
import type { DeployedApp } from './types.js';

/**
 * Bump when the hashed fields change meaning: every container then looks
 * changed once, which is the safe direction.
 */
const HASH_FORMAT = 1;

/**
 * sha256 over the canonical JSON (sorted keys) of the fields that end up in
 * the container or its supervision, plus the image's manifest digest (not the
 * reference: a new tag naming the same image keeps the container).
 *
 * In: entrypoint, command, env, workingDir, user, resources (with the
 * profile's defaults filled in, so `{}` and no resources hash alike),
 * passthrough device grants (as the profile's device path and access), network,
 * readOnlyRootfs, volumes, restart and healthCheck (the supervisor's copy of
 * the spec goes with the container).
 *
 * Out, because changing them must not restart the app: config and telemetry
 * (delivered through the eSDK socket), dependsOn and update (plan order only),
 * sensors and broker-mode grants (checked by the eSDK server per call, not
 * visible to the container).
 */
export function specHash(app: DeployedApp, imageDigest: string, profile: FirmwareProfile): string {
  const defaults = profile.appBudget.defaults;
  const r = app.resources ?? {};
  const passthrough = (app.devices ?? [])
    .filter((g) => g.mode === 'passthrough')
    .map((g) => ({ path: devicePath(profile, g.device), access: g.access }))
    .sort((a, b) => (a.path === b.path ? 0 : a.path < b.path ? -1 : 1));
  const content = {
    format: HASH_FORMAT,
    image: imageDigest,
    entrypoint: app.entrypoint,
    command: app.command,
    env: app.env ?? {},
    workingDir: app.workingDir,
    user: app.user,
    resources: {
      ...r,
      memoryMiB: r.memoryMiB ?? defaults.memoryMiB,
      cpus: r.cpus ?? defaults.cpus,
      pids: r.pids ?? defaults.pids,
    },
    devices: passthrough,
    network: app.network ?? 'none',
    readOnlyRootfs: app.readOnlyRootfs ?? false,
    volumes: (app.volumes ?? []).map((v) => ({ name: v.name, target: v.target, readOnly: v.readOnly ?? false })),
    restart: app.restart ?? { policy: 'never' },
    healthCheck: app.healthCheck,
  };
  return `sha256:${createHash('sha256').update(canonicalJson(content)).digest('hex')}`;
}

/** A serial port's node; an unknown name (refused by validation) still hashes, distinctly. */
function devicePath(profile: FirmwareProfile, device: string): string {
  return profile.serialPorts?.find((s) => s.name === device)?.path ?? `unknown:${device}`;
}

/** JSON with object keys sorted at every level and undefined members left out. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const members = Object.keys(value)
      .sort()
      .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`);
    return `{${members.join(',')}}`;
  }
  return JSON.stringify(value);
}
