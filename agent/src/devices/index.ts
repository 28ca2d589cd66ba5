import { type Logger, pino } from 'pino';
import type { FirmwareProfile } from '../config/profile-types.js';
import type { GpioBackend } from './gpio/backend.js';
import { createChardevGpioBackend } from './gpio/chardev-backend.js';
import type { GpioRegistry } from './gpio/gpio-devices.js';
import { createGpioDevices } from './gpio/gpio-devices.js';
import { createSysfsGpioBackend } from './gpio/sysfs-backend.js';
import { createSensorDevices } from './sensors/sensor-devices.js';
import { type SystemMetrics, systeminformationMetrics } from './sensors/system-metrics.js';
import { type OpenSerialLink, openSerialPortLink } from './serial/link.js';
import { createSerialDevices, type Rs485Configurator } from './serial/serial-devices.js';
import type { Devices } from './types.js';

export { DeviceBusyError, DeviceTimeoutError } from './errors.js';
export type { Direction, GpioBackend, Level } from './gpio/backend.js';
export type { SystemMetric, SystemMetrics } from './sensors/system-metrics.js';
export type { Rs485Configurator } from './serial/serial-devices.js';
export type * from './types.js';

export interface DevicesOptions {
  /** Where sysfs is mounted, or a fake tree laid out like it (sim/fake-sysfs.ts). Default "/sys". */
  sysfsRoot?: string;
  /**
   * 'sysfs' (default): /sys/class/gpio, file I/O, edges by polling the value.
   * 'chardev': /dev/gpiochipN through libgpiod 1.6's tools (untested on the build machines).
   * Or any GpioBackend.
   */
  gpioBackend?: 'sysfs' | 'chardev' | GpioBackend;
  log?: Logger;
  /** Where a logical serial port really is (the laptop simulator points them at socat pty links). */
  serialPathOverride?: (name: string) => string;
  /** Applies RS-485 settings; without one they are logged as not applied (serialport has no TIOCSRS485). */
  configureRs485?: Rs485Configurator;
  /** Host-wide metrics for `system` sensors; default systeminformation. */
  systemMetrics?: SystemMetrics;
  /** Opens a serial device; default the serialport package. */
  openSerialLink?: OpenSerialLink;
}

/** Devices as createDevices makes them: the contract, with GPIO watches that say when they are armed. */
export interface LocalDevices extends Devices {
  gpio: Omit<GpioRegistry, 'release' | 'close'>;
}

/** The gateway's devices, as the firmware profile names them. */
export function createDevices(profile: FirmwareProfile, opts: DevicesOptions = {}): LocalDevices {
  const log = opts.log ?? pino({ level: 'silent' });
  const sysfsRoot = opts.sysfsRoot ?? '/sys';
  const serial = createSerialDevices({
    ports: profile.serialPorts ?? [],
    openLink: opts.openSerialLink ?? openSerialPortLink,
    log,
    ...(opts.serialPathOverride ? { pathOf: opts.serialPathOverride } : {}),
    ...(opts.configureRs485 ? { configureRs485: opts.configureRs485 } : {}),
  });
  const gpio = createGpioDevices({
    lines: profile.gpio?.lines ?? [],
    backend: gpioBackend(opts.gpioBackend ?? 'sysfs', sysfsRoot, profile.gpio?.chip),
    log,
  });
  const sensors = createSensorDevices({
    sensors: profile.sensors ?? [],
    sysfsRoot,
    metrics: opts.systemMetrics ?? systeminformationMetrics({ dataDir: profile.storage.dataDir }),
    log,
  });

  return {
    serial,
    gpio,
    sensors,
    async release(owner) {
      gpio.release(owner);
      await serial.release(owner);
    },
    async close() {
      sensors.close();
      await Promise.all([serial.close(), gpio.close()]);
    },
  };
}

function gpioBackend(choice: 'sysfs' | 'chardev' | GpioBackend, sysfsRoot: string, chip: string | undefined) {
  if (choice === 'sysfs') return createSysfsGpioBackend({ sysfsRoot });
  if (choice === 'chardev') return createChardevGpioBackend({ chip: chip ?? 'gpiochip0' });
  return choice;
}
