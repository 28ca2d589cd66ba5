import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { FirmwareProfile } from '../../agent/src/config/profile-types.js';
import { createFakeSysfs, fakeSysfsSpecFor } from '../../agent/src/devices/sim/fake-sysfs.js';
import { type ModbusResponder, startModbusResponder } from '../../agent/src/devices/sim/modbus-responder.js';
import { findSocat, SOCAT_INSTALL_HINT, startPtyPairs } from './simulator/pty-pairs.js';

export interface DemoSite {
  /** The profile to run the agent with: the given one, its first serial port on a simulated bus. */
  profileFile: string;
  sysfsRoot: string;
  /** The port whose far end has Modbus slaves 1 and 2 on it. */
  serialPort: string;
  /** The hwmon sensor of the profile (its file drifts a little every few seconds). */
  sensor: string;
  stop(): Promise<void>;
}

/**
 * The hardware of a gateway, simulated for the demo: the profile's first
 * serial port is one end of a socat pty pair with a Modbus RTU meter
 * answering on the other, and sysfs is a fake tree whose temperature
 * drifts. The agent itself runs unchanged on top (--sysfs-root, a profile
 * whose port path is the pty).
 */
export async function startDemoSite(dir: string, profile: FirmwareProfile): Promise<DemoSite> {
  const socat = findSocat();
  if (!socat) throw new Error(`the demo simulates a serial bus with socat: ${SOCAT_INSTALL_HINT}`);
  const port = profile.serialPorts?.[0];
  const sensor = profile.sensors?.find((s) => s.kind === 'hwmon' && s.path);
  if (!port || !sensor?.path)
    throw new Error(`profile ${profile.model} has no serial port or hwmon sensor to simulate`);
  await mkdir(path.join(dir, 'tty'), { recursive: true });
  const sysfs = await createFakeSysfs(path.join(dir, 'sys'), fakeSysfsSpecFor(profile, { [sensor.name]: 23_500 }));
  const ptys = await startPtyPairs([port.name], path.join(dir, 'tty'), { socat });
  const link = ptys.links[0];
  let meter: ModbusResponder | undefined;
  let drift: NodeJS.Timeout | undefined;
  try {
    if (!link) throw new Error('socat did not create the pty pair');
    meter = await startModbusResponder({
      path: link.farPath,
      ...(port.defaultBaud ? { baudRate: port.defaultBaud } : {}),
      slaves: { 1: {}, 2: {} },
    });
    let milli = 23_500;
    drift = setInterval(() => {
      milli += Math.round((Math.random() - 0.5) * 400);
      void sysfs.setValue(sensor.path as string, milli).catch(() => undefined);
    }, 3000);
    drift.unref();
    const profileFile = path.join(dir, 'profile.json');
    const simulated = {
      ...profile,
      serialPorts: (profile.serialPorts ?? []).map((p) => (p.name === port.name ? { ...p, path: link.appPath } : p)),
    };
    await writeFile(profileFile, `${JSON.stringify(simulated, null, 2)}\n`);
    const responder = meter;
    return {
      profileFile,
      sysfsRoot: sysfs.root,
      serialPort: port.name,
      sensor: sensor.name,
      async stop() {
        clearInterval(drift);
        await responder.close();
        await ptys.stop();
      },
    };
  } catch (e) {
    clearInterval(drift);
    await meter?.close();
    await ptys.stop();
    throw e;
  }
}
