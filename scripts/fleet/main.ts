/**
 * gantry-fleet: the operator's side of the MQTT contract (docs/mqtt-contract.md).
 * It speaks only the documented topic tree, so any MQTT 5 broker carries it.
 *
 *   keys generate --out DIR [--kid K]
 *   sign FILE --key PRIV [--kid K] [--out F]
 *   devices [--group G] [--json]
 *   rollout FILE --group G --key PRIV [--kid K] [--waves 1,10%,50%,100%] [--max-failures 5%]
 *           [--wave-timeout 10m] [--healthy-for 2m] [--rollback-on-halt] [--state FILE] [--json]
 *   resume STATE [--key PRIV] [--json]
 *   status STATE [--json]
 *   abort STATE [--rollback]
 *   logs DEVICE APP [--tail N] [--json]
 *   restart DEVICE APP [--json]
 *
 * Broker: --broker URL (or GANTRY_FLEET_BROKER; default mqtt://127.0.0.1:1883),
 * --ca FILE, --username U (GANTRY_FLEET_USERNAME), GANTRY_FLEET_PASSWORD.
 * Signing key: --key (or GANTRY_FLEET_KEY); the kid defaults to the key
 * file's name without `.key` (as `keys generate` writes it: DIR/K.key), else
 * to the key's fingerprint.
 *
 * Exit codes: 0 done; 1 failed (a rollout that halted, rolled back or was
 * aborted; a command that failed); 2 bad usage; 3 broker or gateway
 * unreachable; 130 interrupted (the rollout is saved and can be resumed).
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { renderTable } from '../../agent/src/cli/output.js';
import { signEnvelopeBytes } from '../../agent/src/cloud/envelope.js';
import { generateKeyPair, keyFingerprint, loadPrivateKey } from '../../agent/src/cloud/keys.js';
import { topicSegment } from '../../agent/src/cloud/topics.js';
import { parseDeployment } from '../../agent/src/deploy/document.js';
import { errnoCode, invalid, isGantryError, messageOf } from '../../agent/src/errors.js';
import { type DeviceInfo, FleetView } from './fleet-view.js';
import { parseGroup, resolveGroup } from './groups.js';
import { type BrokerOptions, connectBroker, sendCommand } from './mqtt-link.js';
import { renderReport, summarize } from './progress.js';
import { appsHealthy } from './rollout-machine.js';
import { DEFAULT_MAX_FAILURES, DEFAULT_WAVES, parseDuration, parseFailureBudget, parseWaves } from './rollout-plan.js';
import { runRollout } from './run-rollout.js';
import { exists, loadState, lockHolder, requestAbort, saveState } from './state-file.js';

const KID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
const EXIT = { ok: 0, failure: 1, usage: 2, unavailable: 3, interrupted: 130 } as const;

const USAGE = `usage: gantry-fleet COMMAND ...

  keys generate --out DIR [--kid K]        an ed25519 key pair: DIR/K.key (secret) and DIR/K.pub.pem (for gateways)
  sign FILE --key PRIV [--kid K] [--out F] the signed envelope of a deployment document (CBOR)
  devices [--group G] [--json]             the fleet as the broker's retained status/reported show it
  rollout FILE --group G --key PRIV [--kid K] [--waves 1,10%,50%,100%] [--max-failures 5%]
          [--wave-timeout 10m] [--healthy-for 2m] [--rollback-on-halt] [--state FILE] [--json]
  resume STATE [--key PRIV] [--json]       carry on with an interrupted rollout
  status STATE [--json]                    where a rollout stands (from its state file)
  abort STATE [--rollback]                 stop a rollout (and roll back what went out)
  logs DEVICE APP [--tail N] [--json]      an app's last log lines, through the gateway's command topic
  restart DEVICE APP [--json]              restart an app on a gateway

groups (-g, --group): a file of device ids, a comma list of ids, "all", or a selector
  such as model=ec-iot-arm,revision=7 (keys: id model arch version revision status app)
broker: --broker URL (env GANTRY_FLEET_BROKER, default mqtt://127.0.0.1:1883), --ca FILE,
  --username U (env GANTRY_FLEET_USERNAME), env GANTRY_FLEET_PASSWORD
signing key: --key FILE (env GANTRY_FLEET_KEY); --kid defaults to the key file's name without .key
  (as keys generate names it), else to the key's fingerprint`;

const OPTIONS = {
  broker: { type: 'string' },
  ca: { type: 'string' },
  username: { type: 'string' },
  key: { type: 'string' },
  kid: { type: 'string' },
  out: { type: 'string' },
  group: { type: 'string', short: 'g' },
  waves: { type: 'string' },
  'max-failures': { type: 'string' },
  'wave-timeout': { type: 'string' },
  'healthy-for': { type: 'string' },
  'rollback-on-halt': { type: 'boolean' },
  rollback: { type: 'boolean' },
  state: { type: 'string' },
  tail: { type: 'string' },
  timeout: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>['values'];

const out = (t: string) => process.stdout.write(t);
const err = (t: string) => process.stderr.write(t);

class UsageError extends Error {}

function need<T>(value: T | undefined, what: string): T {
  if (value === undefined || value === '') throw new UsageError(what);
  return value;
}

function broker(v: Values): BrokerOptions {
  const o: BrokerOptions = { url: v.broker ?? process.env.GANTRY_FLEET_BROKER ?? 'mqtt://127.0.0.1:1883' };
  if (v.ca) o.caFile = v.ca;
  const username = v.username ?? process.env.GANTRY_FLEET_USERNAME;
  if (username) o.username = username;
  if (process.env.GANTRY_FLEET_PASSWORD !== undefined) o.password = process.env.GANTRY_FLEET_PASSWORD;
  return o;
}

async function main(argv: string[]): Promise<number> {
  const { values: v, positionals: p } = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true });
  const [command, ...args] = p;
  if (v.help || command === undefined || command === 'help') {
    out(`${USAGE}\n`);
    return command === undefined && !v.help ? EXIT.usage : EXIT.ok;
  }
  switch (command) {
    case 'keys':
      return keysGenerate(v, args);
    case 'sign':
      return sign(v, args);
    case 'devices':
      return devices(v);
    case 'rollout':
      return rollout(v, args);
    case 'resume':
      return resumeRollout(v, args);
    case 'status':
      return status(v, args);
    case 'abort':
      return abort(v, args);
    case 'logs':
      return command_(v, args, 'logs-tail');
    case 'restart':
      return command_(v, args, 'restart-app');
    default:
      throw new UsageError(`unknown command ${JSON.stringify(command)}`);
  }
}

async function keysGenerate(v: Values, args: string[]): Promise<number> {
  if (args[0] !== 'generate') throw new UsageError('keys: the only subcommand is `keys generate --out DIR`');
  const dir = need(v.out, 'keys generate needs --out DIR');
  const pair = generateKeyPair();
  const kid = v.kid ?? keyFingerprint(pair.publicKey);
  if (!KID.test(kid))
    throw invalid(`--kid ${JSON.stringify(kid)}: 1-128 of A-Z a-z 0-9 . _ : -, starting with a letter or digit`);
  await mkdir(dir, { recursive: true });
  const privateFile = path.join(dir, `${kid}.key`);
  const publicFile = path.join(dir, `${kid}.pub.pem`);
  try {
    await writeFile(privateFile, pair.privatePem, { flag: 'wx', mode: 0o600 });
    await writeFile(publicFile, pair.publicPem, { flag: 'wx', mode: 0o644 });
  } catch (e) {
    if (errnoCode(e) === 'EEXIST')
      throw invalid(`${privateFile} or ${publicFile} exists already; not overwriting a key`);
    throw e;
  }
  if (v.json) out(`${JSON.stringify({ kid, privateKeyFile: privateFile, publicKeyFile: publicFile })}\n`);
  else {
    out(`kid:         ${kid}\nprivate key: ${privateFile} (keep it secret)\npublic key:  ${publicFile}\n`);
    out(
      `gateways trust it with: "cloud": { "trustedKeys": [ { "kid": "${kid}", "publicKeyFile": "/etc/gantry/${kid}.pub.pem" } ] }\n`,
    );
  }
  return EXIT.ok;
}

async function signingKey(v: Values) {
  const keyFile = need(
    v.key ?? process.env.GANTRY_FLEET_KEY,
    'a signing key is needed: --key FILE (or GANTRY_FLEET_KEY)',
  );
  const key = await loadPrivateKey(keyFile);
  return { keyFile, key, kid: v.kid ?? defaultKid(keyFile, key) };
}

/** `keys generate` writes K.key: the file's name is the kid; any other name, the key's fingerprint. */
export function defaultKid(keyFile: string, key: KeyObject): string {
  const base = path.basename(keyFile).replace(/\.key$/, '');
  return base !== path.basename(keyFile) && KID.test(base) ? base : keyFingerprint(createPublicKey(key));
}

async function sign(v: Values, args: string[]): Promise<number> {
  const file = need(args[0], 'sign needs a deployment document: sign FILE --key PRIV');
  const { key, kid } = await signingKey(v);
  const bytes = await readFile(file);
  const doc = parseDeployment(bytes.toString('utf8'), file);
  const target = v.out ?? `${file.replace(/\.json$/, '')}.envelope.cbor`;
  await writeFile(target, signEnvelopeBytes(bytes, kid, key));
  if (v.json) out(`${JSON.stringify({ envelope: target, revision: doc.revision, kid })}\n`);
  else out(`signed revision ${doc.revision} of ${file} with key ${kid}: ${target}\n`);
  return EXIT.ok;
}

async function devices(v: Values): Promise<number> {
  const group = v.group ? await loadGroup(v.group) : undefined;
  const client = await connectBroker(broker(v));
  const view = new FleetView(client);
  try {
    await view.start();
    const all = view.list();
    const ids = group ? new Set(resolveGroup(group, all)) : undefined;
    const shown = ids
      ? group?.kind === 'ids'
        ? [...ids].map((id) => view.get(id) ?? { id, events: [] })
        : all.filter((d) => ids.has(d.id))
      : all;
    if (v.json) out(`${JSON.stringify(shown.map(deviceJson), null, 2)}\n`);
    else if (shown.length === 0) out('no gateways on this broker (none has a retained status or reported state)\n');
    else {
      out(
        `${renderTable(
          ['DEVICE', 'STATUS', 'MODEL', 'AGENT', 'REVISION', 'APPS', 'DEPLOYMENT'],
          shown.map(deviceRow),
        )}\n`,
      );
    }
    return EXIT.ok;
  } finally {
    view.stop();
    await client.endAsync();
  }
}

function deviceJson(d: DeviceInfo) {
  const agent = (d.reported?.agent ?? {}) as Record<string, unknown>;
  const st = d.status ?? {};
  const apps = d.apps ?? [];
  const dep = d.deployment;
  const str = (x: unknown) => (typeof x === 'string' ? x : undefined);
  const healthy = apps.filter((a) => appsHealthy([a])).length;
  return {
    id: d.id,
    status: d.online === true ? 'online' : d.online === false ? 'offline' : 'unknown',
    model: str(agent.model) ?? str(st.model),
    arch: str(agent.arch) ?? str(st.arch),
    agentVersion: str(agent.version) ?? str(st.agentVersion),
    revision: dep?.revision,
    deployment: dep,
    apps,
    healthyApps: healthy,
    reportedAt: str(d.reported?.at),
  };
}

function deviceRow(d: DeviceInfo): string[] {
  const j = deviceJson(d);
  const dep = j.deployment;
  const last = dep?.last;
  return [
    d.id,
    j.status,
    j.model ?? '-',
    j.agentVersion ?? '-',
    j.revision === undefined ? '-' : String(j.revision),
    j.apps.length === 0 ? '-' : `${j.healthyApps}/${j.apps.length} healthy`,
    dep?.applying
      ? `applying ${dep.target ?? ''}`.trim()
      : last && last.status !== 'applied'
        ? `${last.revision} ${last.status}`
        : '-',
  ];
}

async function loadGroup(text: string) {
  let fileText: string | undefined;
  if (!text.includes('=') && (await exists(text))) fileText = await readFile(text, 'utf8');
  return parseGroup(text, fileText);
}

function interruptedSignal(): Promise<void> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
}

async function rollout(v: Values, args: string[]): Promise<number> {
  const file = need(args[0], 'rollout needs a deployment document: rollout FILE --group G');
  const group = await loadGroup(need(v.group, 'rollout needs --group G (a file of ids, a comma list, or a selector)'));
  const waves = v.waves ?? DEFAULT_WAVES;
  parseWaves(waves);
  const maxFailures = v['max-failures'] ?? DEFAULT_MAX_FAILURES;
  parseFailureBudget(maxFailures);
  const keyFile = need(
    v.key ?? process.env.GANTRY_FLEET_KEY,
    'rollout needs a signing key: --key FILE (or GANTRY_FLEET_KEY)',
  );
  const text = await readFile(file, 'utf8');
  const revision = parseDeployment(text, file).revision;
  const kid = v.kid ?? defaultKid(keyFile, await loadPrivateKey(keyFile));
  const stateFile = v.state ?? `rollout-${revision}.json`;
  const result = await runRollout({
    broker: broker(v),
    stateFile,
    start: {
      documentFile: file,
      group,
      keyFile,
      kid,
      policy: {
        waves,
        maxFailures,
        waveTimeoutMs: parseDuration(v['wave-timeout'] ?? '10m', '--wave-timeout'),
        healthyForMs: parseDuration(v['healthy-for'] ?? '2m', '--healthy-for'),
        rollbackOnHalt: v['rollback-on-halt'] === true,
      },
    },
    json: v.json === true,
    tty: process.stderr.isTTY === true,
    out,
    err,
    interrupted: interruptedSignal(),
  });
  return result.interrupted ? EXIT.interrupted : result.summary.phase === 'completed' ? EXIT.ok : EXIT.failure;
}

async function resumeRollout(v: Values, args: string[]): Promise<number> {
  const stateFile = need(args[0] ?? v.state, 'resume needs the rollout state file: resume STATE');
  const keyFile = v.key ?? process.env.GANTRY_FLEET_KEY;
  const result = await runRollout({
    broker: broker(v),
    stateFile,
    ...(keyFile ? { keyFile } : {}),
    json: v.json === true,
    tty: process.stderr.isTTY === true,
    out,
    err,
    interrupted: interruptedSignal(),
  });
  return result.interrupted ? EXIT.interrupted : result.summary.phase === 'completed' ? EXIT.ok : EXIT.failure;
}

async function status(v: Values, args: string[]): Promise<number> {
  const stateFile = need(args[0], 'status needs the rollout state file: status STATE');
  const state = await loadState(stateFile);
  const summary = summarize(state, new Map(), Date.now());
  const holder = await lockHolder(stateFile);
  if (v.json) out(`${JSON.stringify({ ...summary, runningPid: holder ?? null }, null, 2)}\n`);
  else {
    out(`${renderReport(summary)}\n`);
    out(
      holder !== undefined
        ? `being run by process ${holder}\n`
        : state.phase === 'running' || state.phase === 'rolling-back'
          ? `not being run: resume it with \`resume ${stateFile}\`\n`
          : '',
    );
  }
  return EXIT.ok;
}

async function abort(v: Values, args: string[]): Promise<number> {
  const stateFile = need(args[0], 'abort needs the rollout state file: abort STATE');
  const state = await loadState(stateFile);
  if (state.phase !== 'running' && state.phase !== 'rolling-back') {
    out(`rollout ${state.id} is already over (${state.phase})\n`);
    return EXIT.ok;
  }
  const rollback = v.rollback === true;
  const holder = await lockHolder(stateFile);
  if (holder === undefined && !rollback) {
    // Nobody runs it: mark it aborted here. (Rolling back needs the broker: a resume does it.)
    await saveState(stateFile, {
      ...state,
      phase: 'aborted',
      haltReason: 'aborted by the operator',
      finishedAt: Date.now(),
      seq: state.seq + 1,
    });
    out(`rollout ${state.id} aborted\n`);
    return EXIT.ok;
  }
  await requestAbort(stateFile, rollback);
  if (holder === undefined) {
    out(`abort with rollback recorded; run \`resume ${stateFile}\` to publish the rollback\n`);
    return EXIT.ok;
  }
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    const now = await loadState(stateFile);
    if (now.phase !== 'running') {
      out(
        `rollout ${now.id}: ${now.phase}${now.phase === 'rolling-back' ? ' (the running tool publishes the rollback)' : ''}\n`,
      );
      return EXIT.ok;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  err(`the tool running rollout ${state.id} (process ${holder}) did not take the abort within 15 s\n`);
  return EXIT.failure;
}

async function command_(v: Values, args: string[], name: 'logs-tail' | 'restart-app'): Promise<number> {
  const what = name === 'logs-tail' ? 'logs DEVICE APP [--tail N]' : 'restart DEVICE APP';
  const device = topicSegment('device id', need(args[0], `usage: ${what}`));
  const app = topicSegment('app name', need(args[1], `usage: ${what}`));
  const cmdArgs: Record<string, unknown> = { app };
  if (name === 'logs-tail' && v.tail !== undefined) {
    const n = Number(v.tail);
    if (!Number.isInteger(n) || n < 1) throw new UsageError(`--tail ${v.tail}: expected a positive whole number`);
    cmdArgs.lines = n; // the contract's name (docs/mqtt-contract.md, Commands)
  }
  const timeoutSec = v.timeout ? Math.max(1, Math.round(parseDuration(v.timeout, '--timeout') / 1000)) : 30;
  const client = await connectBroker(broker(v));
  try {
    const r = await sendCommand(client, device, name, cmdArgs, timeoutSec);
    if (v.json) {
      out(`${JSON.stringify(r, null, 2)}\n`);
      return r.ok ? EXIT.ok : EXIT.failure;
    }
    if (!r.ok) {
      err(`${device}: ${name} failed (${r.error.code}): ${r.error.message}\n`);
      return EXIT.failure;
    }
    out(formatResult(name, device, app, r.result));
    return EXIT.ok;
  } finally {
    await client.endAsync();
  }
}

function formatResult(name: string, device: string, app: string, result: unknown): string {
  if (name === 'restart-app') return `restarted ${app} on ${device}\n`;
  if (typeof result === 'string') return result.endsWith('\n') ? result : `${result}\n`;
  const lines = (result as { lines?: unknown } | undefined)?.lines;
  if (Array.isArray(lines)) return lines.map((l) => `${typeof l === 'string' ? l : JSON.stringify(l)}\n`).join('');
  return `${JSON.stringify(result, null, 2)}\n`;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    if (
      e instanceof UsageError ||
      (e instanceof TypeError && 'code' in e && String(e.code).startsWith('ERR_PARSE_ARGS'))
    ) {
      err(`gantry-fleet: ${e.message}\n(gantry-fleet --help for usage)\n`);
      process.exitCode = EXIT.usage;
      return;
    }
    err(`gantry-fleet: ${messageOf(e)}\n`);
    process.exitCode = isGantryError(e, 'unavailable') ? EXIT.unavailable : EXIT.failure;
  },
);
