import type { ParseArgsConfig } from 'node:util';
import type { CliContext } from './context.js';

export type OptionSpecs = NonNullable<ParseArgsConfig['options']>;

export interface Command {
  /** Words that select it: `["info"]`, `["profile", "validate"]`. */
  path: string[];
  summary: string;
  /** Argument synopsis after the command words, e.g. `FILE...`. */
  args?: string;
  options: OptionSpecs;
  /** Help lines for the command's own options. */
  optionHelp?: string[];
  /** Options end at the first positional (`gantry run IMAGE sh -c ...`: the -c belongs to the container). */
  stopAtFirstPositional?: boolean;
  run(ctx: CliContext, values: Record<string, unknown>, positionals: string[]): Promise<number>;
}

/** Options every command accepts. */
export const GLOBAL_OPTIONS: OptionSpecs = {
  'data-dir': { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
};

/**
 * Pure: split argv where the first positional (one not consumed as an
 * option's value) begins; with `--`, after it.
 */
export function splitAtFirstPositional(argv: string[], options: OptionSpecs): { head: string[]; rest: string[] } {
  const takesValue = (flag: string): boolean => {
    if (flag.includes('=')) return false;
    const name = flag.replace(/^--?/, '');
    const spec = flag.startsWith('--') ? options[name] : Object.values(options).find((o) => o.short === name);
    return spec?.type === 'string';
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '--') return { head: argv.slice(0, i), rest: argv.slice(i + 1) };
    if (a.startsWith('-') && a !== '-') {
      if (takesValue(a)) i++;
      continue;
    }
    return { head: argv.slice(0, i + 1), rest: argv.slice(i + 1) };
  }
  return { head: argv, rest: [] };
}
