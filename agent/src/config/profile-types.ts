/**
 * TypeScript view of firmware-profiles/schema.json. The schema is the source of
 * truth for what a file may contain; test/unit/config/profile.test.ts checks
 * every shipped profile against both.
 */
export interface FirmwareProfile {
  schemaVersion: 1;
  model: string;
  vendor: string;
  description?: string;
  arch: { architecture: string; variant?: 'v5' | 'v6' | 'v7' | 'v8' };
  memory: { totalMiB: number };
  cpu?: { cores: number };
  appBudget: {
    memoryMiB: number;
    cpus: number;
    pids: number;
    defaults: { memoryMiB: number; cpus: number; pids: number };
  };
  agentReserve: { memoryMiB: number; cpus: number };
  serialPorts?: SerialPortSpec[];
  gpio?: { chip?: string; lines: GpioLineSpec[] };
  sensors?: SensorSpec[];
  storage: { dataDir: string; minFreeMiB: number; imageStoreMaxMiB?: number };
  links?: LinkSpec[];
}

export interface SerialPortSpec {
  name: string;
  path: string;
  kind: 'rs232' | 'rs485' | 'rs422' | 'ttl' | 'usb';
  label?: string;
  baudRates: number[];
  defaultBaud?: number;
  rs485?: {
    rtsOnSend?: boolean;
    rtsAfterSend?: boolean;
    delayRtsBeforeSendMs?: number;
    delayRtsAfterSendMs?: number;
    rxDuringTx?: boolean;
  };
}

export interface GpioLineSpec {
  name: string;
  line: number;
  direction: 'in' | 'out';
  activeLow?: boolean;
  label?: string;
}

export interface SensorSpec {
  name: string;
  kind: 'hwmon' | 'thermal' | 'system';
  path?: string;
  metric?: 'cpu-load' | 'memory-used' | 'disk-used' | 'cpu-temperature';
  unit: string;
  scale?: number;
  offset?: number;
}

export interface LinkSpec {
  name: string;
  kind: 'ethernet' | 'wifi' | 'cellular' | 'satellite';
  metered: boolean;
  bandwidthCapBytesPerSec?: number;
}
