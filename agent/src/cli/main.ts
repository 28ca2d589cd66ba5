#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { isGantryError, messageOf } from '../errors.js';
import { agentVersion } from '../version.js';
import { type Command, GLOBAL_OPTIONS, type OptionSpecs, splitAtFirstPositional } from './command.js';
import { agentCommand } from './commands/agent.js';
import {
  inspectCommand,
  pauseCommand,
  psCommand,
  restartCommand,
  resumeCommand,
  rmCommand,
  runCommand,
  startCommand,
  stopCommand,
} from './commands/containers.js';
import { deployCommand, deploymentsCommand, rollbackCommand } from './commands/deploy.js';
import { imagesCommand, inspectImageCommand, pruneCommand, pullCommand, rmiCommand } from './commands/images.js';
import { infoCommand } from './commands/info.js';
import { profileValidateCommand } from './commands/profile.js';
import { logsCommand, statsCommand } from './commands/stats-logs.js';
import { EXIT, makeContext } from './context.js';

const COMMANDS: Command[] = [
  agentCommand,
  infoCommand,
  runCommand,
  psCommand,
  logsCommand,
  statsCommand,
  inspectCommand,
  stopCommand,
  startCommand,
  restartCommand,
  pauseCommand,
  resumeCommand,
  rmCommand,
  deployCommand,
  rollbackCommand,
  deploymentsCommand,
  pullCommand,
  imagesCommand,
  inspectImageCommand,
  rmiCommand,
  pruneCommand,
  profileValidateCommand,
];

function usage(): string {
  const rows = COMMANDS.map((c) => `  ${[...c.path, c.args ?? ''].join(' ').trim().padEnd(26)} ${c.summary}`);
  return [
    'Usage: gantry [--data-dir DIR] [--json] COMMAND [ARGS]',
    '',
    'Commands:',
    ...rows,
    '',
    'Global options:',
    "  --data-dir DIR   the agent's data dir (default $GANTRY_DATA_DIR, else /var/lib/gantry)",
    '  --json           machine-readable output',
    '  -h, --help       help for gantry or a command',
    '',
    'Exit codes: 0 ok, 1 failed, 2 usage error, 3 no agent running, 4 permission denied.',
  ].join('\n');
}

function commandHelp(c: Command): string {
  return [
    `Usage: gantry ${[...c.path, '[OPTIONS]', c.args ?? ''].join(' ').trim()}`,
    '',
    c.summary,
    ...(c.optionHelp ? ['', 'Options:', ...c.optionHelp.map((l) => `  ${l}`)] : []),
  ].join('\n');
}

/** Longest command whose words prefix the positionals. */
function findCommand(positionals: string[]): Command | undefined {
  const hits = COMMANDS.filter((c) => c.path.every((w, i) => positionals[i] === w));
  return hits.sort((a, b) => b.path.length - a.path.length)[0];
}

export async function main(argv: string[]): Promise<number> {
  if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-v')) {
    process.stdout.write(`gantry ${agentVersion()}\n`);
    return EXIT.ok;
  }
  // First pass only finds the command words; flags are checked strictly in the second.
  const allOptions: OptionSpecs = Object.assign({}, GLOBAL_OPTIONS, ...COMMANDS.map((c) => c.options));
  const loose = parseArgs({ args: argv, options: allOptions, strict: false, allowPositionals: true });
  const command = findCommand(loose.positionals);
  if (!command) {
    const wanted = loose.positionals.join(' ');
    if (wanted === '' || wanted === 'help') {
      process.stdout.write(`${usage()}\n`);
      return wanted === '' && !loose.values.help ? EXIT.usage : EXIT.ok;
    }
    process.stderr.write(`gantry: unknown command "${wanted}"\n\n${usage()}\n`);
    return EXIT.usage;
  }
  let parsed: ReturnType<typeof parseArgs>;
  let trailing: string[] = [];
  let args = argv;
  if (command.stopAtFirstPositional) {
    // The command words themselves are positionals: skip past them before splitting.
    const at = argv.indexOf(command.path.at(-1) as string);
    const split = splitAtFirstPositional(argv.slice(at + 1), { ...GLOBAL_OPTIONS, ...command.options });
    args = [...argv.slice(0, at + 1), ...split.head];
    trailing = split.rest;
  }
  try {
    parsed = parseArgs({
      args,
      options: { ...GLOBAL_OPTIONS, ...command.options },
      strict: true,
      allowPositionals: true,
    });
  } catch (e) {
    process.stderr.write(`gantry ${command.path.join(' ')}: ${messageOf(e)}\n\n${commandHelp(command)}\n`);
    return EXIT.usage;
  }
  if (parsed.values.help) {
    process.stdout.write(`${commandHelp(command)}\n`);
    return EXIT.ok;
  }
  const ctx = makeContext(parsed.values['data-dir'] as string | undefined, parsed.values.json === true);
  const positionals = [...parsed.positionals.slice(command.path.length), ...trailing];
  try {
    return await command.run(ctx, parsed.values, positionals);
  } catch (e) {
    return reportError(e, command, ctx.json);
  }
}

function reportError(e: unknown, command: Command, json: boolean): number {
  const kind = isGantryError(e) ? e.kind : 'internal';
  if (json) process.stdout.write(`${JSON.stringify({ error: { kind, message: messageOf(e) } })}\n`);
  process.stderr.write(`gantry ${command.path.join(' ')}: ${messageOf(e)}\n`);
  if (kind === 'internal' && e instanceof Error && e.stack && process.env.GANTRY_DEBUG)
    process.stderr.write(`${e.stack}\n`);
  if (kind === 'unavailable') return EXIT.unavailable;
  if (kind === 'denied') return EXIT.denied;
  return EXIT.failure;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`gantry: ${e instanceof Error && e.stack ? e.stack : String(e)}\n`);
    process.exitCode = EXIT.failure;
  },
);
