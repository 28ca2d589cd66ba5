/**
 * The laptop simulator, composed: a fake sysfs tree (GPIO lines, drifting
 * hwmon/thermal files), a socat pty pair per serial port with a Modbus
 * responder on the far end, the agent's own devices (createDevices) over
 * those, and the agent's own EsdkServer serving one app, with telemetry
 * printed instead of queued. Nothing here is simulator-only logic apart from
 * driving the fake hardware; the app talks to the real server code.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import type { FirmwareProfile } from '../../../agent/src/config/profile-types.js';
import { createDevices, type LocalDevices } from '../../../agent/src/devices/index.js';
import { createFakeSysfs, type FakeSysfs, fakeSysfsSpecFor } from '../../../agent/src/devices/sim/fake-sysfs.js';
import { type ModbusResponder, startModbusResponder } from '../../../agent/src/devices/sim/modbus-responder.js';
import { failedPrecondition, messageOf, notFound } from '../../../agent/src/errors.js';
import { EsdkServer, type HealthSink } from '../../../agent/src/esdk/index.js';
import { agentVersion } from '../../../agent/src/version.js';
import { COMMAND_HELP, type Command } from './commands.js';
import { type PtyLink, type PtyPairs, startPtyPairs } from './pty-pairs.js';
import type { ResponderPlan } from './responder-script.js';
import { SensorDrift } from './sensor-drift.js';
import type { SimulatedApp } from './simulated-app.js';
import { PrintingTelemetrySink } from './telemetry-printer.js';

export interface SimulatorConfig {
  profile: FirmwareProfile;
  app: SimulatedApp;
  responder: ResponderPlan;
  /** Exists; the fake sysfs goes in DIR/sys, the ptys in DIR/tty. */
  dir: string;
  socketPath: string;
  /** socat's path; needed only when the profile has serial ports. */
  socat: string | undefined;
  /** 0: sensors hold still. */
  driftMs: number;
  /** 0: inputs change only by command. */
  toggleDiMs: number;
  /** How often output lines are looked at for the app's writes. Default 100. */
  outputPollMs?: number;
  /** Telemetry, gpio changes, heartbeats: one line each. */
  print: (line: string) => void;
  log: Logger;
}

export interface Simulator {
  readonly socketPath: string;
  readonly sysfsRoot: string;
  readonly links: PtyLink[];
  /** Carry out one stdin command (not quit/help/nothing: the caller's); returns what to print. */
  command(cmd: Exclude<Command, { kind: 'quit' | 'nothing' }>): Promise<string[]>;
  /** Everything stopped, in reverse order of start; socat is gone when this resolves. */
  close(): Promise<void>;
  /** Last resort from an 'exit' handler: SIGKILL socat. */
  killNow(): void;
}

const DEFAULT_RAW = 42_000;

export async function startSimulator(cfg: SimulatorConfig): Promise<Simulator> {
  const stops: Array<[string, () => Promise<void> | void]> = [];
  const closeAll = async () => {
    for (const [what, stop] of stops.reverse()) {
      try {
        await stop();
      } catch (e) {
        cfg.log.warn({ err: messageOf(e) }, `simulator: stopping ${what} failed`);
      }
    }
    stops.length = 0;
  };
  let ptys: PtyPairs | undefined;
  try {
    const sysfsRoot = path.join(cfg.dir, 'sys');
    const fake = await createFakeSysfs(sysfsRoot, fakeSysfsSpecFor(cfg.profile));

    const ports = (cfg.profile.serialPorts ?? []).map((p) => p.name);
    if (ports.length > 0) {
      if (!cfg.socat) throw failedPrecondition('socat is needed for the simulated serial ports');
      await mkdir(path.join(cfg.dir, 'tty'), { recursive: true });
      ptys = await startPtyPairs(ports, path.join(cfg.dir, 'tty'), { socat: cfg.socat });
      const started = ptys;
      stops.push(['socat', () => started.stop()]);
    }
    const links = ptys?.links ?? [];
    for (const link of links) {
      const bus = cfg.responder.ports.find((p) => p.port === link.port)?.slaves ?? {};
      const responder: ModbusResponder = await startModbusResponder({ path: link.farPath, slaves: bus });
      stops.push([`the Modbus responder of ${link.port}`, () => responder.close()]);
    }

    const devices: LocalDevices = createDevices(cfg.profile, {
      sysfsRoot,
      log: cfg.log,
      serialPathOverride: (name) => {
        const link = links.find((l) => l.port === name);
        if (!link) throw notFound(`serial port ${name} has no simulated pty`);
        return link.appPath;
      },
    });
    stops.push(['the devices', () => devices.close()]);

    const telemetry = new PrintingTelemetrySink({
      print: cfg.print,
      rules: { [cfg.app.ctx.app]: cfg.app.telemetryRules },
    });
    stops.push(['telemetry', () => telemetry.close()]);

    const server = new EsdkServer(
      { devices, telemetry, health: printingHealth(cfg.print), log: cfg.log, agentVersion: agentVersion() },
      { socketPath: () => cfg.socketPath },
    );
    await server.open(cfg.app.ctx);
    stops.push(['the eSDK server', () => server.closeAll()]);

    const hardware = new FakeHardware(cfg.profile, fake, cfg.print);
    await hardware.startOutputWatch(cfg.outputPollMs ?? 100);
    stops.push(['the output watch', () => hardware.stopOutputWatch()]);
    const drift = new SensorDrift(cfg.profile.sensors ?? [], () => DEFAULT_RAW);
    const timers = [
      every(cfg.driftMs, () => hardware.write(drift.step()), cfg.log, 'sensor drift'),
      every(cfg.toggleDiMs, () => hardware.toggleInputs(), cfg.log, 'input toggle'),
    ];
    stops.push([
      'the timers',
      () => {
        for (const t of timers) t?.stop();
      },
    ]);

    return {
      socketPath: cfg.socketPath,
      sysfsRoot,
      links,
      async command(cmd) {
        switch (cmd.kind) {
          case 'help':
            return COMMAND_HELP;
          case 'di':
            await hardware.setInput(cmd.line, cmd.value);
            return [`gpio ${cmd.line} ${cmd.value}`];
          case 'temp': {
            const pinned = drift.pin(cmd.sensor, cmd.value);
            await hardware.write([pinned]);
            return [
              `sensor ${cmd.sensor} held at ${pinned.value} (raw ${pinned.raw}); "temp ${cmd.sensor} drift" lets it drift`,
            ];
          }
          case 'drift':
            drift.unpin(cmd.sensor);
            return [`sensor ${cmd.sensor} drifts again`];
        }
      },
      close: closeAll,
      killNow: () => ptys?.killNow(),
    };
  } catch (e) {
    await closeAll();
    throw e;
  }
}

/**
 * The simulated outside world on the fake tree: input levels, sensor files,
 * and watching what the app drives. Writes go one at a time: the fake tree
 * replaces a file through one temp name per file, so two writers of one file
 * (drift timer, a temp command) must not cross.
 */
class FakeHardware {
  private readonly inputs: Map<string, number>;
  private readonly outputs: Map<string, number>;
  private readonly levels = new Map<string, string>();
  private poller: { stop(): void } | undefined;
  private writes: Promise<unknown> = Promise.resolve();

  constructor(
    profile: FirmwareProfile,
    private readonly fake: FakeSysfs,
    private readonly print: (line: string) => void,
  ) {
    const lines = profile.gpio?.lines ?? [];
    this.inputs = new Map(lines.filter((l) => l.direction === 'in').map((l) => [l.name, l.line]));
    this.outputs = new Map(lines.filter((l) => l.direction === 'out').map((l) => [l.name, l.line]));
  }

  async setInput(name: string, value: 0 | 1): Promise<void> {
    const line = this.inputs.get(name);
    if (line === undefined) {
      const what = this.outputs.has(name) ? `${name} is an output line (the app drives it)` : `no GPIO line ${name}`;
      throw notFound(`${what}; inputs: ${[...this.inputs.keys()].join(', ') || 'none'}`);
    }
    await this.inTurn(() => this.fake.setGpio(line, value));
  }

  toggleInputs(): Promise<void> {
    return this.inTurn(async () => {
      for (const [name, line] of this.inputs) {
        const next = (await this.fake.gpio(line)).value === '1' ? 0 : 1;
        await this.fake.setGpio(line, next);
        this.print(`gpio ${name} ${next} (toggled)`);
      }
    });
  }

  write(values: Array<{ path: string; raw: number }>): Promise<void> {
    return this.inTurn(async () => {
      for (const v of values) await this.fake.setValue(v.path, v.raw);
    });
  }

  private inTurn<T>(fn: () => Promise<T>): Promise<T> {
    const mine = this.writes.catch(() => {}).then(fn);
    this.writes = mine;
    return mine;
  }

  /** Print `gpio <line> <level>` whenever the app changes an output line. */
  async startOutputWatch(pollMs: number): Promise<void> {
    const look = async (report: boolean) => {
      for (const [name, line] of this.outputs) {
        const level = (await this.fake.gpio(line)).value;
        // The backend rewrites the file in place: an empty read is a write in progress, not a level.
        if (level !== '0' && level !== '1') continue;
        if (report && this.levels.get(name) !== level) this.print(`gpio ${name} ${level} (set by the app)`);
        this.levels.set(name, level);
      }
    };
    await look(false);
    if (this.outputs.size > 0) this.poller = every(pollMs, () => look(true), undefined, 'output watch');
  }

  stopOutputWatch(): void {
    this.poller?.stop();
  }
}

function printingHealth(print: (line: string) => void): HealthSink {
  const last = new Map<string, string>();
  return {
    heartbeat(app, status, detail) {
      const text = detail ? `${status} ${detail}` : status;
      // Apps beat every few seconds: say only what changed.
      if (last.get(app) === text) return;
      last.set(app, text);
      print(`heartbeat ${app} ${text}`);
    },
  };
}

/** Run `fn` every `ms` (never overlapping itself); ms 0: never. */
function every(
  ms: number,
  fn: () => Promise<void>,
  log: Logger | undefined,
  what: string,
): { stop(): void } | undefined {
  if (ms <= 0) return undefined;
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    fn()
      .catch((e: unknown) => log?.warn({ err: messageOf(e) }, `simulator: ${what} failed`))
      .finally(() => {
        busy = false;
      });
  }, ms);
  return { stop: () => clearInterval(timer) };
}
