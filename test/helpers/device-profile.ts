import type { FirmwareProfile } from '../../agent/src/config/profile-types.js';

/** A small firmware profile for device tests; pass only the device sections a test needs. */
export function deviceProfile(devices: Pick<FirmwareProfile, 'serialPorts' | 'gpio' | 'sensors'>): FirmwareProfile {
  return {
    schemaVersion: 1,
    model: 'device-test',
    vendor: 'Gantry tests',
    arch: { architecture: 'amd64' },
    memory: { totalMiB: 1024 },
    appBudget: { memoryMiB: 512, cpus: 1, pids: 256, defaults: { memoryMiB: 64, cpus: 0.5, pids: 64 } },
    agentReserve: { memoryMiB: 64, cpus: 0.25 },
    storage: { dataDir: '/', minFreeMiB: 1 },
    ...devices,
  };
}
