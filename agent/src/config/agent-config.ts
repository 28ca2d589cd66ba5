import { readFile } from 'node:fs/promises';
import { CLOUD_CONFIG_SCHEMA, type CloudConfig } from '../cloud/config.js';
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
  /** Per-registry settings, keyed by host[:port] as written in image references. */
  registries?: Record<string, RegistrySettings>;
  pull?: PullSettings;
  /** Cloud sync over MQTT (docs/mqtt-contract.md). Absent: no cloud; telemetry waits in the outbox. */
  cloud?: CloudConfig;
  telemetry?: TelemetrySettings;
  devices?: DeviceSettings;
}

export interface DeviceSettings {
  /** Where sysfs is (GPIO, hwmon, thermal); a fake tree for the laptop simulator and tests. Default /sys. */
  sysfsRoot?: string;
  /** sysfs (default) or chardev (libgpiod's tools). */
  gpioBackend?: 'sysfs' | 'chardev';
}

export interface TelemetrySettings {
  /** Disk the outbox may use before it evicts the lowest-priority, oldest messages (default 64). */
  outboxCapMiB?: number;
  /** Drain bandwidth cap for metered links, bytes per second (default: none). */
  bandwidthBytesPerSec?: number;
}

export interface RegistrySettings {
  /** Plain HTTP instead of HTTPS. Only for registries on a trusted network (tests: loopback). */
  insecure?: boolean;
  /** PEM file of extra CA certificates trusted for this registry's HTTPS. */
  caFile?: string;
  /** Credentials for basic auth, or for fetching bearer tokens. */
  username?: string;
  password?: string;
}

export interface PullSettings {
  /** Blobs downloaded at once (default 3). */
  concurrency?: number;
  /** Cap on download bandwidth for metered links, bytes per second (default: none). */
  bandwidthBytesPerSec?: number;
  /** Largest manifest or index accepted, bytes (default 4 MiB). */
  maxManifestBytes?: number;
  /** Attempts per request before giving up (default 5). */
  retries?: number;
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
    registries: {
      type: 'object',
      propertyNames: { pattern: '^[A-Za-z0-9.-]+(:[0-9]{1,5})?$|^\\[[0-9a-fA-F:]+\\](:[0-9]{1,5})?$' },
      additionalProperties: {
        type: 'object',
        additionalProperties: false,
        properties: {
          insecure: { type: 'boolean' },
          caFile: { type: 'string', pattern: '^/' },
          username: { type: 'string', minLength: 1 },
          password: { type: 'string' },
        },
      },
    },
    cloud: CLOUD_CONFIG_SCHEMA,
    devices: {
      type: 'object',
      additionalProperties: false,
      properties: {
        sysfsRoot: { type: 'string', pattern: '^/' },
        gpioBackend: { enum: ['sysfs', 'chardev'] },
      },
    },
    telemetry: {
      type: 'object',
      additionalProperties: false,
      properties: {
        outboxCapMiB: { type: 'integer', minimum: 1, maximum: 65536 },
        bandwidthBytesPerSec: { type: 'integer', minimum: 1024 },
      },
    },
    pull: {
      type: 'object',
      additionalProperties: false,
      properties: {
        concurrency: { type: 'integer', minimum: 1, maximum: 16 },
        bandwidthBytesPerSec: { type: 'integer', minimum: 1024 },
        maxManifestBytes: { type: 'integer', minimum: 1024, maximum: 67108864 },
        retries: { type: 'integer', minimum: 1, maximum: 20 },
      },
    },
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
