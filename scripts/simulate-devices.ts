/**
 * The laptop simulator for app developers: the agent's eSDK server for one
 * app, against simulated serial ports, GPIO lines and sensors, so an app
 * built on @gantry/sdk runs without a gateway.
 *
 *   node --import tsx scripts/simulate-devices.ts [--profile ec-iot-arm] \
 *     [--deployment FILE --app NAME] [--socket PATH] [--script responder.json] [--dir DIR]
 *
 * Composition only: the parts are in scripts/lib/simulator/ (see docs/simulator.md).
 * Exit codes: 0 after quit/Ctrl-C, 2 for bad input (flags, profile, document,
 * script), 1 when something could not start.
 */
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { pino } from 'pino';
import { loadProfile, ProfileValidator } from '../agent/src/config/profile.js';
import { invalid, isGantryError, messageOf } from '../agent/src/errors.js';
import { formatBanner } from './lib/simulator/banner.js';
import { COMMAND_HELP, parseCommand } from './lib/simulator/commands.js';
import { parseSimulatorArgs, USAGE } from './lib/simulator/options.js';
import { findSocat, SOCAT_INSTALL_HINT } from './lib/simulator/pty-pairs.js';
import { parseResponderScript } from './lib/simulator/responder-script.js';
import { loadSimulatedApp } from './lib/simulator/simulated-app.js';
import { type Simulator, startSimulator } from './lib/simulator/simulator.js';

const print = (line: string) => process.stdout.write(`${line}\n`);
const fail = (message: string, code: number): never => {
  process.stderr.write(`simulate-devices: ${message}\n`);
  process.exit(code);
};

async function main(): Promise<void> {
  const parsed = parseSimulatorArgs(process.argv.slice(2));
  if (parsed.help) {
    print(USAGE);
    return;
  }
  const o = parsed.options;

  const { profile } = await loadProfile(o.profile, await ProfileValidator.load());
  const app = await loadSimulatedApp(profile, o);
  const ports = (profile.serialPorts ?? []).map((p) => p.name);
  const scriptText =
    o.script === undefined
      ? undefined
      : await readFile(o.script, 'utf8').catch((e: unknown) => {
          throw invalid(`cannot read responder script ${o.script}: ${messageOf(e)}`, { cause: e });
        });
  const responder = parseResponderScript(scriptText, o.script ?? 'default', ports);
  const socat = findSocat();
  if (ports.length > 0 && !socat) fail(SOCAT_INSTALL_HINT, 1);

  const temporary = o.dir === undefined;
  const dir = o.dir === undefined ? await mkdtemp(path.join(os.tmpdir(), 'gantry-sim-')) : path.resolve(o.dir);
  await mkdir(dir, { recursive: true });
  const socketPath = path.resolve(o.socket ?? path.join(dir, 'esdk.sock'));
  const removeDir = () => (temporary ? rm(dir, { recursive: true, force: true }) : Promise.resolve());
  const log = pino({ level: o.verbose ? 'debug' : 'warn' }, pino.destination({ dest: 2, sync: true }));

  let sim: Simulator;
  try {
    sim = await startSimulator({ ...o, profile, app, responder, dir, socketPath, socat, print, log });
  } catch (e) {
    await removeDir();
    throw e;
  }
  process.on('exit', () => sim.killNow());

  const input = readline.createInterface({ input: process.stdin, terminal: false });
  let stopping: Promise<void> | undefined;
  const stop = (why: string) => {
    stopping ??= (async () => {
      print(`stopping (${why})`);
      input.close();
      await sim.close();
      await removeDir();
      print('stopped');
    })();
    return stopping;
  };
  process.on('SIGINT', () => void stop('interrupted').then(() => process.exit(0)));
  process.on('SIGTERM', () => void stop('terminated').then(() => process.exit(0)));

  for (const line of formatBanner({
    profile,
    app,
    socketPath,
    sysfsRoot: sim.sysfsRoot,
    dir,
    temporary,
    links: sim.links,
    responder,
  })) {
    print(line);
  }

  let quit = false;
  for await (const line of input) {
    const cmd = parseCommand(line);
    if (cmd.kind === 'nothing') continue;
    if (cmd.kind === 'quit') {
      quit = true;
      break;
    }
    if (cmd.kind === 'error') {
      print(`error: ${cmd.message}`);
      continue;
    }
    try {
      for (const out of cmd.kind === 'help' ? COMMAND_HELP : await sim.command(cmd)) print(out);
    } catch (e) {
      print(`error: ${messageOf(e)}`);
    }
  }
  if (quit) return stop('quit');
  // stdin ended without quit (run in the background, < /dev/null): serve until a signal stops it.
  await new Promise<never>(() => {});
}

main().then(
  () => process.exit(0),
  (e: unknown) => fail(messageOf(e), isGantryError(e, 'invalid') || isGantryError(e, 'not-found') ? 2 : 1),
);
