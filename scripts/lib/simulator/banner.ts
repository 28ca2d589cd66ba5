/**
 * What the simulator prints at start (pure): how to run an app against it,
 * and what it serves. The last line, `ready GANTRY_ESDK_SOCKET=<path>`, is
 * the one scripts and tests wait for.
 */
import type { FirmwareProfile } from '../../../agent/src/config/profile-types.js';
import { COMMAND_HELP } from './commands.js';
import type { PtyLink } from './pty-pairs.js';
import type { ResponderPlan } from './responder-script.js';
import type { SimulatedApp } from './simulated-app.js';

export interface BannerInput {
  profile: FirmwareProfile;
  app: SimulatedApp;
  socketPath: string;
  sysfsRoot: string;
  dir: string;
  /** The dir is a temp dir the simulator removes at exit. */
  temporary: boolean;
  links: PtyLink[];
  responder: ResponderPlan;
}

export function readyLine(socketPath: string): string {
  return `ready GANTRY_ESDK_SOCKET=${socketPath}`;
}

export function formatBanner(b: BannerInput): string[] {
  const { ctx } = b.app;
  const grantOf = (device: string) => ctx.grants.filter((g) => g.device === device);
  const out: string[] = [
    `gantry simulator: profile ${b.profile.model}, serving app ${ctx.app} (${b.app.source})`,
    `  dir ${b.dir}${b.temporary ? ' (removed at exit)' : ''}; fake sysfs ${b.sysfsRoot}`,
    '',
    'Run your app against it:',
    `  GANTRY_ESDK_SOCKET=${b.socketPath} node your-app.js`,
    `  (or connect({ path: '${b.socketPath}' }) from @gantry/sdk)`,
    '',
    'Devices:',
  ];
  for (const port of b.profile.serialPorts ?? []) {
    const link = b.links.find((l) => l.port === port.name);
    const ids = b.responder.ports.find((p) => p.port === port.name)?.ids ?? [];
    const slaves = ids.length > 0 ? `Modbus slaves ${ids.join(',')}` : 'no Modbus slaves';
    const where = link ? ` pty ${link.appPath} (socat pid ${link.pid})` : '';
    out.push(
      `  serial ${port.name} ${port.kind} ${port.defaultBaud ?? port.baudRates[0] ?? ''} baud: ${slaves};${where} ${access(grantOf(port.name), link?.appPath)}`,
    );
  }
  for (const line of b.profile.gpio?.lines ?? []) {
    const hint = line.direction === 'in' ? ` (stdin: di ${line.name} 0|1)` : '';
    out.push(`  gpio   ${line.name} ${line.direction}${hint} ${access(grantOf(line.name), undefined)}`);
  }
  for (const s of b.profile.sensors ?? []) {
    const granted = ctx.sensors.includes(s.name) ? '[granted]' : '[not granted]';
    const hint = s.kind === 'system' ? " (this host's real value)" : ` (drifts; stdin: temp ${s.name} <value>)`;
    out.push(`  sensor ${s.name} ${s.kind} ${s.unit}${hint} ${granted}`);
  }
  out.push('', `Config: ${JSON.stringify(ctx.config)}`);
  const streams = Object.keys(b.app.telemetryRules);
  if (streams.length > 0)
    out.push(`Telemetry rules for ${streams.join(', ')}: "upstream" lines show what they would send`);
  out.push('', 'Commands:', ...COMMAND_HELP.map((l) => `  ${l}`), '', readyLine(b.socketPath));
  return out;
}

function access(grants: Array<{ access: string; mode: string }>, ptyPath: string | undefined): string {
  if (grants.length === 0) return '[not granted]';
  return grants
    .map((g) =>
      g.mode === 'passthrough'
        ? `[passthrough ${g.access}: the app opens ${ptyPath ?? 'the device'} itself]`
        : `[broker ${g.access}]`,
    )
    .join(' ');
}
