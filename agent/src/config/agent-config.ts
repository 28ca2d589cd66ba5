import { readFile } from 'node:fs/promises';
import { invalid } from '../errors.js';
import { compileSchema, formatIssue, parseLocatedJson, schemaIssues } from './json-document.js';

/**
 * The agent's own settings (`--config FILE`, JSON). Every field is optional:
 * an agent with no config runs the generic profile on the local API alone.
 */
export interface AgentConfig {
  /** Stable device id; default: generated once and kept in the state database. */
  deviceId?: string;
  /** Firmware profile name or file; `--profile` overrides it. */
  profile?: string;
  logLevel?: LogLevel;
}

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';

export const AGENT_CONFIG_SCHEMA = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  type: 'object',
  additionalProperties: false,
  properties: {
    $schema: { type: 'string' },
    deviceId: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$' },
    profile: { type: 'string', minLength: 1 },
    logLevel: { enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] },
  },
} as const;

/** Pure: validate config text; throws `invalid` naming every problem with its place. */
export function parseAgentConfig(text: string, source: string): AgentConfig {
  const parsed = parseLocatedJson(text);
  const issues = parsed.ok ? schemaIssues(compileSchema(AGENT_CONFIG_SCHEMA), parsed.doc) : [parsed.issue];
  if (!parsed.ok || issues.length > 0) {
    const lines = issues.map((i) => `  ${formatIssue(source, i)}`).join('\n');
    throw invalid(`agent config ${source} is invalid:\n${lines}`, { details: issues });
  }
  return parsed.doc.value as AgentConfig;
}

export async function loadAgentConfig(file: string | undefined): Promise<AgentConfig> {
  if (file === undefined) return {};
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw invalid(`cannot read agent config ${file}`, { cause: e });
  }
  return parseAgentConfig(text, file);
}
