/**
 * The container runtime's pure half: admission (limits for every app, within
 * the firmware profile's app budget) and the OCI bundle's config.json.
 * Nothing here touches the file system; the caller reads the host and the
 * image, and writes the result.
 */
export { admit, cpusetProblem, resourceProblems } from './admission.js';
export { DEFAULT_CAPABILITIES, MASKED_PATHS, READONLY_PATHS } from './defaults.js';
export type { BundleDevice, BundleInput } from './input.js';
export { cpuWeightToShares } from './linux.js';
export { translateSeccomp } from './seccomp.js';
export { buildRuntimeSpec, OCI_VERSION } from './spec.js';
export { resolveUser } from './user.js';
