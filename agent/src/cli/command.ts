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
  run(ctx: CliContext, values: Record<string, unknown>, positionals: string[]): Promise<number>;
}

/** Options every command accepts. */
export const GLOBAL_OPTIONS: OptionSpecs = {
  'data-dir': { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
};
