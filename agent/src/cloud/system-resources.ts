import { statfs } from 'node:fs/promises';
import type { ResourceReport } from './reported.js';

/**
 * Host resource use for the reported state. CPU, memory and temperature come
 * from systeminformation; disk is the filesystem of the agent's data dir
 * (statfs: the one that fills up and matters, without spawning `df`).
 * Memory "used" is what applications hold (`active`), not page cache.
 */
export function systemResources(dataDir: string): () => Promise<ResourceReport> {
  return async () => {
    // Loaded on first use (~10 MB of RSS), like the device layer's system metrics.
    const { default: si } = await import('systeminformation');
    const [load, mem, temp, fs] = await Promise.all([
      si.currentLoad(),
      si.mem(),
      si.cpuTemperature().catch(() => undefined),
      statfs(dataDir),
    ]);
    const totalDisk = fs.blocks * fs.bsize;
    const report: ResourceReport = {
      cpuPercent: round1(load.currentLoad),
      memory: { usedBytes: mem.active, totalBytes: mem.total },
      disk: { usedBytes: totalDisk - fs.bfree * fs.bsize, totalBytes: totalDisk },
    };
    // systeminformation answers null (or -1 on some boards) when there is no sensor.
    const celsius = temp?.main;
    if (typeof celsius === 'number' && Number.isFinite(celsius) && celsius > -100)
      report.temperatureC = round1(celsius);
    return report;
  };
}

function round1(n: number): number {
  return Math.round(n * 10) / 10;
}
