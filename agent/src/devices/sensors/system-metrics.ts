import path from 'node:path';
import { unavailable } from '../../errors.js';

export type SystemMetric = 'cpu-load' | 'memory-used' | 'disk-used' | 'cpu-temperature';

/** Host-wide figures; `systeminformation` in the agent, anything in a test. */
export type SystemMetrics = (metric: SystemMetric) => Promise<number>;

export interface FsUse {
  mount: string;
  size: number;
  use: number;
}

/**
 * The filesystem that holds the data dir: the longest mount point that is a
 * prefix of it; '/' when none matches; the largest when there is no '/'
 * either (a container view).
 */
export function dataFilesystem(filesystems: FsUse[], dataDir: string): FsUse | undefined {
  const dir = path.resolve(dataDir);
  const holding = filesystems
    .filter((f) => f.mount === '/' || dir === f.mount || dir.startsWith(`${f.mount.replace(/\/$/, '')}/`))
    .sort((a, b) => b.mount.length - a.mount.length);
  return holding[0] ?? [...filesystems].sort((a, b) => b.size - a.size)[0];
}

/** Percent of memory in use: total minus what the kernel could hand out (MemAvailable), not minus "free". */
export function memoryUsedPercent(m: { total: number; available: number }): number {
  return m.total > 0 ? ((m.total - m.available) / m.total) * 100 : 0;
}

export function systeminformationMetrics(opts: { dataDir: string }): SystemMetrics {
  return async (metric) => {
    // Loaded on first use: ~10 MB of RSS a gateway without system sensors never needs.
    const { default: si } = await import('systeminformation');
    switch (metric) {
      case 'cpu-load':
        return (await si.currentLoad()).currentLoad;
      case 'memory-used':
        return memoryUsedPercent(await si.mem());
      case 'disk-used': {
        const fs = dataFilesystem(await si.fsSize(), opts.dataDir);
        if (!fs) throw unavailable(`disk-used: no filesystem found for ${opts.dataDir}`);
        return fs.use;
      }
      case 'cpu-temperature': {
        const t = (await si.cpuTemperature()).main;
        if (typeof t !== 'number' || !Number.isFinite(t)) {
          throw unavailable('cpu-temperature: this host reports no CPU temperature');
        }
        return t;
      }
    }
  };
}
