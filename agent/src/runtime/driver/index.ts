/**
 * The container driver: one conmon per container running runc (or crun),
 * its k8s-file logs, and stats from its cgroup. See conmon-runtime.ts.
 */
export type { CgroupFiles, CgroupPaths } from './cgroup-stats.js';
export { parseCgroupStats, resolveCgroupPaths } from './cgroup-stats.js';
export { ConmonRuntime, type ConmonRuntimeOptions } from './conmon-runtime.js';
export { parseLogLine } from './log-line.js';
export { type ReadLogsOptions, readLogs } from './log-reader.js';
