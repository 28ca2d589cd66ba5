/**
 * AppSpec + resolved resources + what the caller read from the host and the
 * image -> an OCI runtime spec (runtime-spec v1.0.2 config.json). Pure: no
 * file system, no clock; the caller writes the result as the bundle's
 * config.json.
 */
import { invalid } from '../../errors.js';
import { ociPlatformOf } from '../../host/platform.js';
import { resourceProblems } from './admission.js';
import { DEFAULT_CAPABILITIES } from './defaults.js';
import type { BundleInput } from './input.js';
import { buildLinux } from './linux.js';
import { buildMounts, isCleanAbsolute } from './mounts.js';
import { buildProcess } from './process.js';
import { translateSeccomp } from './seccomp.js';

/** The runtime-spec version written to config.json (what runc 1.1 implements). */
export const OCI_VERSION = '1.0.2';

function checkInput(input: BundleInput): void {
  const { app } = input;
  if (!isCleanAbsolute(input.rootfs)) throw invalid(`rootfs must be an absolute path (got "${input.rootfs}")`);
  // RFC 1123 host name label(s), at most 64 bytes (uts namespace nodename limit, HOST_NAME_MAX).
  if (!/^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/.test(input.hostname))
    throw invalid(`hostname "${input.hostname}" is not a valid host name`);
  if (input.hostname.length > 64) throw invalid(`hostname "${input.hostname}" is longer than 64 characters`);
  // Resolved resources must never be unlimited, even when admission was bypassed.
  const r = input.resources;
  const problems = resourceProblems(app.name, r);
  for (const k of ['memoryMiB', 'cpus', 'pids'] as const) {
    if (r[k] === undefined) problems.push(`app ${app.name}: resources.${k} is missing (run admission first)`);
  }
  if (r.memoryReservationMiB !== undefined && r.memoryReservationMiB > r.memoryMiB)
    problems.push(`app ${app.name}: resources.memoryReservationMiB is more than memoryMiB`);
  if (problems.length > 0) throw invalid(problems.join('; '), { details: { issues: problems } });
}

function seccompFor(input: BundleInput): Record<string, unknown> | undefined {
  if (input.app.seccomp === 'unconfined') return undefined;
  if (input.seccompProfile === undefined)
    throw invalid(`app ${input.app.name}: seccompProfile is required unless seccomp is 'unconfined'`);
  const arch = input.arch ?? ociPlatformOf(process.arch).architecture;
  return translateSeccomp(input.seccompProfile, { arch, capabilities: DEFAULT_CAPABILITIES });
}

/**
 * Pure: the OCI runtime spec for one app, as a plain object ready for
 * JSON.stringify. Throws `invalid` naming the field on bad input (unknown
 * user name, relative working dir, volume over /proc, ...).
 */
export function buildRuntimeSpec(input: BundleInput): Record<string, unknown> {
  checkInput(input);
  return {
    ociVersion: OCI_VERSION,
    process: buildProcess(input),
    root: { path: input.rootfs, readonly: input.app.readOnlyRootfs === true },
    hostname: input.hostname,
    mounts: buildMounts(input),
    linux: buildLinux(input, seccompFor(input)),
  };
}
