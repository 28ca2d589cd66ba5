import type { KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { invalid } from '../errors.js';
import { isCronExpression } from './cron-timer.js';
import { loadTrustedKeys } from './keys.js';
import { DEFAULT_REPORT_CRON } from './reported.js';

/**
 * The `cloud` section of the agent config. With `url` the agent connects to
 * that broker; with `embeddedBroker` (or neither) it starts an aedes broker on
 * 127.0.0.1 and connects to it. The agent config schema embeds
 * CLOUD_CONFIG_SCHEMA as its `cloud` property.
 */
export interface CloudConfig {
  /** mqtt://host[:port] or mqtts://host[:port]. */
  url?: string;
  /** Start an in-process aedes broker on 127.0.0.1:port (0: a free port). Not with `url`. */
  embeddedBroker?: { port: number };
  /** PEM CA bundle for the broker's certificate (replaces the system roots). */
  caFile?: string;
  /** PEM client certificate and key: mutual TLS. */
  certFile?: string;
  keyFile?: string;
  username?: string;
  password?: string;
  /** Default 60. */
  keepaliveSec?: number;
  /** Default 5 (MQTT 5 with a fallback to 3.1.1 when the broker refuses it); 4 forces MQTT 3.1.1. */
  protocolVersion?: 5 | 4;
  /** How long the broker keeps the device's session while it is offline. Default 604800 (7 days). */
  sessionExpirySec?: number;
  /** Public keys whose signatures on deployment envelopes are accepted, by key id. */
  trustedKeys: Array<{ kid: string; publicKeyFile: string }>;
  /** node-cron expression for the periodic reported state. Default every 5 minutes. */
  reportIntervalCron?: string;
}

const ABSOLUTE_PATH = { type: 'string', pattern: '^/' } as const;

export const CLOUD_CONFIG_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['trustedKeys'],
  properties: {
    url: { type: 'string', pattern: '^mqtts?://[^/?#]+/?$' },
    embeddedBroker: {
      type: 'object',
      additionalProperties: false,
      required: ['port'],
      properties: { port: { type: 'integer', minimum: 0, maximum: 65535 } },
    },
    caFile: ABSOLUTE_PATH,
    certFile: ABSOLUTE_PATH,
    keyFile: ABSOLUTE_PATH,
    username: { type: 'string', minLength: 1 },
    password: { type: 'string' },
    keepaliveSec: { type: 'integer', minimum: 5, maximum: 3600 },
    protocolVersion: { enum: [4, 5] },
    sessionExpirySec: { type: 'integer', minimum: 0, maximum: 4294967295 },
    trustedKeys: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['kid', 'publicKeyFile'],
        properties: {
          kid: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$' },
          publicKeyFile: ABSOLUTE_PATH,
        },
      },
    },
    reportIntervalCron: { type: 'string', minLength: 9 },
  },
  dependentRequired: { certFile: ['keyFile'], keyFile: ['certFile'] },
  not: { required: ['url', 'embeddedBroker'] },
} as const;

/** Everything the cloud module needs from the config, files read and checked. */
export interface ResolvedCloudConfig {
  broker: { kind: 'url'; url: string } | { kind: 'embedded'; port: number };
  tls: { ca?: Buffer; cert?: Buffer; key?: Buffer };
  username?: string;
  password?: string;
  keepaliveSec?: number;
  protocolVersion?: 5 | 4;
  sessionExpirySec?: number;
  trustedKeys: Map<string, KeyObject>;
  reportCron: string;
}

/** Read the key and certificate files named by the config; throws `invalid` naming the field and file. */
export async function resolveCloudConfig(cfg: CloudConfig): Promise<ResolvedCloudConfig> {
  if (cfg.url !== undefined && cfg.embeddedBroker !== undefined) {
    throw invalid('cloud.url and cloud.embeddedBroker are exclusive: connect to a broker or start one');
  }
  const reportCron = cfg.reportIntervalCron ?? DEFAULT_REPORT_CRON;
  if (!isCronExpression(reportCron)) {
    throw invalid(`cloud.reportIntervalCron ${JSON.stringify(reportCron)} is not a cron expression`);
  }
  if ((cfg.certFile === undefined) !== (cfg.keyFile === undefined)) {
    throw invalid('cloud.certFile and cloud.keyFile go together (mutual TLS needs both)');
  }
  const tls: ResolvedCloudConfig['tls'] = {};
  if (cfg.caFile) tls.ca = await readPem(cfg.caFile, 'cloud.caFile');
  if (cfg.certFile) tls.cert = await readPem(cfg.certFile, 'cloud.certFile');
  if (cfg.keyFile) tls.key = await readPem(cfg.keyFile, 'cloud.keyFile');
  if (cfg.url?.startsWith('mqtt://') && (tls.ca || tls.cert)) {
    throw invalid(`cloud.url ${cfg.url} is plain mqtt:// but TLS files are configured; use mqtts://`);
  }
  return {
    broker:
      cfg.url !== undefined
        ? { kind: 'url', url: cfg.url }
        : { kind: 'embedded', port: cfg.embeddedBroker?.port ?? 1883 },
    tls,
    ...(cfg.username !== undefined ? { username: cfg.username } : {}),
    ...(cfg.password !== undefined ? { password: cfg.password } : {}),
    ...(cfg.keepaliveSec !== undefined ? { keepaliveSec: cfg.keepaliveSec } : {}),
    ...(cfg.protocolVersion !== undefined ? { protocolVersion: cfg.protocolVersion } : {}),
    ...(cfg.sessionExpirySec !== undefined ? { sessionExpirySec: cfg.sessionExpirySec } : {}),
    trustedKeys: await loadTrustedKeys(cfg.trustedKeys),
    reportCron,
  };
}

async function readPem(file: string, field: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (e) {
    throw invalid(`cannot read ${field} ${file}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
}
