/**
 * The simulator's command line, pure: argv in, options (or a typed `invalid`
 * naming the bad flag) out.
 */
import { parseArgs } from 'node:util';
import { invalid, messageOf } from '../../../agent/src/errors.js';

export const USAGE = `Usage: node --import tsx scripts/simulate-devices.ts [options]

Runs the agent's eSDK server for one app against simulated devices (socat pty
pairs with a Modbus RTU responder, a fake sysfs GPIO/hwmon tree), so the app
runs on a laptop: GANTRY_ESDK_SOCKET=<socket> node your-app.js

Options:
  --profile NAME|FILE   firmware profile (default ec-iot-arm)
  --deployment FILE     take the app's grants, sensors, config and telemetry rules from this document
  --app NAME            the app to serve (with --deployment: required unless the document has one app;
                        without: its name, default sim-app, granted every device and sensor)
  --socket PATH         where the app's socket goes (default DIR/esdk.sock)
  --script FILE         Modbus responder script (JSON; default: slaves 1..3, register = slave*1000+address)
  --dir DIR             where the fake sysfs, ptys and socket go (default: a temp dir, removed at exit)
  --drift-ms MS         how often sensor values drift (default 1000; 0: never)
  --toggle-di MS        toggle every digital input this often (default 0: only on the di command)
  --verbose             agent logs (pino JSON) on stderr at debug level
  -h, --help            this text

Commands on stdin: di <line> 0|1, temp <sensor> <value>|drift, help, quit (Ctrl-C also quits).`;

export interface SimulatorOptions {
  /** A profile name (looked up like the agent's --profile) or a file. */
  profile: string;
  deployment?: string;
  app?: string;
  socket?: string;
  script?: string;
  dir?: string;
  /** 0: sensor values stay where they are. */
  driftMs: number;
  /** 0: inputs change only on the di command. */
  toggleDiMs: number;
  verbose: boolean;
}

export type ParsedArgs = { help: true } | { help: false; options: SimulatorOptions };

export const DEFAULT_PROFILE = 'ec-iot-arm';

export function parseSimulatorArgs(argv: string[]): ParsedArgs {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        profile: { type: 'string' },
        deployment: { type: 'string' },
        app: { type: 'string' },
        socket: { type: 'string' },
        script: { type: 'string' },
        dir: { type: 'string' },
        'drift-ms': { type: 'string' },
        'toggle-di': { type: 'string' },
        verbose: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (e) {
    throw invalid(`${messageOf(e)} (see --help)`);
  }
  if (values.help === true) return { help: true };
  const text = (name: string): string | undefined => {
    const v = values[name];
    if (typeof v !== 'string') return undefined;
    if (v.trim() === '') throw invalid(`--${name} needs a value`);
    return v;
  };
  const options: SimulatorOptions = {
    profile: text('profile') ?? DEFAULT_PROFILE,
    driftMs: milliseconds('drift-ms', text('drift-ms'), 1000),
    toggleDiMs: milliseconds('toggle-di', text('toggle-di'), 0),
    verbose: values.verbose === true,
  };
  for (const key of ['deployment', 'app', 'socket', 'script', 'dir'] as const) {
    const v = text(key);
    if (v !== undefined) options[key] = v;
  }
  return { help: false, options };
}

/** 0 (off) or at least 10 ms: a faster timer only burns the laptop's CPU. */
function milliseconds(flag: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || (n > 0 && n < 10)) {
    throw invalid(`--${flag} must be 0 (off) or a whole number of milliseconds of at least 10, got "${raw}"`);
  }
  return n;
}
