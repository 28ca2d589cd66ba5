import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { FirmwareProfile } from '../../config/profile-types.js';

/**
 * A directory laid out like the parts of /sys the device backends read:
 * class/gpio (export, unexport, gpioN/{direction,value,edge,active_low}),
 * and sensor files such as class/hwmon/hwmon0/temp1_input or
 * class/thermal/thermal_zone0/temp. For tests and the laptop simulator.
 *
 * Choice: every GPIO line is created up front, already "exported". On a
 * real sysfs the kernel creates gpioN/ when a number is written to
 * `export`; plain files cannot react to a write, so the tree provides the
 * lines the profile names and the sysfs backend uses a gpioN/ it finds as it
 * is. (`addGpioLine` adds one later, as a simulator's export would.)
 *
 * The tree does not emulate the kernel: writing active_low does not invert
 * `value`, and writing "low"/"high" to direction leaves those words in the
 * file (the backend reads them as "out"). Values set from outside are
 * replaced atomically (write then rename), so a poller never reads a
 * half-written file.
 */
export interface FakeSysfs {
  readonly root: string;
  /** Drive a line as the outside world would (an input's level). */
  setGpio(line: number, value: 0 | 1): Promise<void>;
  /** What the backend left in a line's files. */
  gpio(line: number): Promise<{ direction: string; value: string; edge: string; activeLow: string }>;
  addGpioLine(line: number): Promise<void>;
  /** Set the raw contents of a file under the root, e.g. ("class/hwmon/hwmon0/temp1_input", 42500). */
  setValue(relPath: string, value: number | string): Promise<void>;
  read(relPath: string): Promise<string>;
}

export interface FakeSysfsSpec {
  gpioLines?: number[];
  /** Files under the root and their starting contents. */
  files?: Record<string, number | string>;
}

export async function createFakeSysfs(root: string, spec: FakeSysfsSpec = {}): Promise<FakeSysfs> {
  const gpioBase = path.join(root, 'class', 'gpio');
  await mkdir(gpioBase, { recursive: true });
  await writeFile(path.join(gpioBase, 'export'), '');
  await writeFile(path.join(gpioBase, 'unexport'), '');

  const under = (rel: string) => {
    const file = path.resolve(root, rel);
    if (!file.startsWith(`${path.resolve(root)}${path.sep}`)) throw new Error(`fake sysfs: ${rel} is outside ${root}`);
    return file;
  };
  const replace = async (file: string, text: string) => {
    await mkdir(path.dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    await writeFile(tmp, text);
    await rename(tmp, file);
  };

  const fake: FakeSysfs = {
    root,
    async addGpioLine(line) {
      const dir = path.join(gpioBase, `gpio${line}`);
      await mkdir(dir, { recursive: true });
      await writeFile(path.join(dir, 'direction'), 'in\n');
      await writeFile(path.join(dir, 'value'), '0\n');
      await writeFile(path.join(dir, 'edge'), 'none\n');
      await writeFile(path.join(dir, 'active_low'), '0\n');
    },
    setGpio: (line, value) => replace(path.join(gpioBase, `gpio${line}`, 'value'), `${value}\n`),
    async gpio(line) {
      const dir = path.join(gpioBase, `gpio${line}`);
      const get = async (name: string) => (await readFile(path.join(dir, name), 'utf8')).trim();
      return {
        direction: await get('direction'),
        value: await get('value'),
        edge: await get('edge'),
        activeLow: await get('active_low'),
      };
    },
    setValue: (rel, value) => replace(under(rel), `${value}\n`),
    read: async (rel) => (await readFile(under(rel), 'utf8')).trim(),
  };

  for (const line of spec.gpioLines ?? []) await fake.addGpioLine(line);
  for (const [rel, value] of Object.entries(spec.files ?? {})) {
    await fake.setValue(rel, value);
    await describeDevice(root, rel);
  }
  return fake;
}

/** hwmon and thermal directories carry a name/type file that tools (and people) look at. */
async function describeDevice(root: string, rel: string): Promise<void> {
  const dir = path.dirname(path.resolve(root, rel));
  const parent = path.basename(path.dirname(dir));
  if (parent === 'hwmon') await writeFile(path.join(dir, 'name'), 'gantry_sim\n');
  if (parent === 'thermal') await writeFile(path.join(dir, 'type'), 'gantry-sim-thermal\n');
}

/** What a profile needs: all its GPIO lines, and each hwmon/thermal file (42000, i.e. 42.0 °C in millidegrees, unless given by sensor name). */
export function fakeSysfsSpecFor(profile: FirmwareProfile, rawValues: Record<string, number> = {}): FakeSysfsSpec {
  const files: Record<string, number> = {};
  for (const s of profile.sensors ?? []) {
    const rel = s.path === undefined ? undefined : path.normalize(s.path.replace(/^\/+/, ''));
    // A path that climbs out of the root is the backend's to refuse, not ours to create.
    if (s.kind === 'system' || !rel || rel.startsWith('..')) continue;
    files[rel] = rawValues[s.name] ?? 42_000;
  }
  return { gpioLines: (profile.gpio?.lines ?? []).map((l) => l.line), files };
}
