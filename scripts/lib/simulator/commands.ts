/**
 * The simulator's stdin commands, pure: one line in, a command or a message
 * saying what was wrong with it out.
 */

export type Command =
  | { kind: 'di'; line: string; value: 0 | 1 }
  | { kind: 'temp'; sensor: string; value: number }
  | { kind: 'drift'; sensor: string }
  | { kind: 'help' }
  | { kind: 'quit' }
  | { kind: 'nothing' };

export type ParsedCommand = Command | { kind: 'error'; message: string };

export const COMMAND_HELP = [
  'di <line> 0|1            set a digital input (an app watching it sees the edge)',
  'temp <sensor> <value>    hold a hwmon/thermal sensor at a value, in its unit (also: sensor <name> <value>)',
  'temp <sensor> drift      let it drift again',
  'help                     this list',
  'quit                     stop (Ctrl-C does the same)',
];

export function parseCommand(input: string): ParsedCommand {
  const words = input.trim().split(/\s+/).filter(Boolean);
  const [verb, ...args] = words;
  if (verb === undefined || verb.startsWith('#')) return { kind: 'nothing' };
  switch (verb.toLowerCase()) {
    case 'quit':
    case 'exit':
      return args.length === 0 ? { kind: 'quit' } : usage(verb);
    case 'help':
    case '?':
      return { kind: 'help' };
    case 'di': {
      const [line, level] = args;
      if (args.length !== 2 || line === undefined) return usage('di');
      if (level !== '0' && level !== '1')
        return { kind: 'error', message: `di ${line}: the level must be 0 or 1, got ${level}` };
      return { kind: 'di', line, value: level === '1' ? 1 : 0 };
    }
    case 'temp':
    case 'sensor': {
      const [sensor, raw] = args;
      if (args.length !== 2 || sensor === undefined || raw === undefined) return usage('temp');
      if (raw === 'drift') return { kind: 'drift', sensor };
      const value = Number(raw);
      if (!Number.isFinite(value)) {
        return { kind: 'error', message: `${verb} ${sensor}: "${raw}" is neither a number nor "drift"` };
      }
      return { kind: 'temp', sensor, value };
    }
    default:
      return { kind: 'error', message: `unknown command "${verb}"; commands:\n  ${COMMAND_HELP.join('\n  ')}` };
  }
}

function usage(verb: string): ParsedCommand {
  const line = COMMAND_HELP.find((l) => l.startsWith(`${verb} `) || l.startsWith(`${verb.toLowerCase()} `));
  return { kind: 'error', message: `usage: ${line ?? verb}` };
}
