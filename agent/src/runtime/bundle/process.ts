/**
 * The spec's `process` object (config.md "Process"): what runs, as whom,
 * where, with which environment, capabilities and rlimits.
 */
import { invalid } from '../../errors.js';
import type { AppSpec } from '../types.js';
import { DEFAULT_CAPABILITIES, DEFAULT_NOFILE, DEFAULT_OOM_SCORE_ADJ, DEFAULT_PATH, ESDK_SOCKET } from './defaults.js';
import type { BundleInput } from './input.js';
import type { OciRlimit } from './oci-types.js';
import { resolveUser } from './user.js';

function imageStrings(config: Record<string, unknown>, key: string): string[] | undefined {
  const v = config[key];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string'))
    throw invalid(`image config ${key} is not a list of strings`);
  return v as string[];
}

function imageString(config: Record<string, unknown>, key: string): string | undefined {
  const v = config[key];
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string') throw invalid(`image config ${key} is not a string`);
  return v;
}

/**
 * Docker semantics (image-spec config.md Entrypoint/Cmd): args = entrypoint +
 * cmd, where the app's entrypoint replaces the image's and then also drops the
 * image's Cmd; the app's command replaces the Cmd.
 */
export function processArgs(app: AppSpec, image: Record<string, unknown>): string[] {
  const entrypoint = app.entrypoint ?? imageStrings(image, 'Entrypoint') ?? [];
  const cmd = app.command ?? (app.entrypoint ? [] : (imageStrings(image, 'Cmd') ?? []));
  const args = [...entrypoint, ...cmd];
  if (args.length === 0 || args[0] === '')
    throw invalid(`app ${app.name}: nothing to run: set entrypoint or command (the image has no Entrypoint or Cmd)`);
  return args;
}

const ENV_NAME = /^[^=\0]+$/;

/**
 * Environment, later sources overriding earlier ones but keeping the first
 * position: PATH default (only if nobody sets it) and HOSTNAME, then the
 * image's Env, the app's env, and last the agent's GANTRY_* variables, which
 * an app cannot override.
 */
export function processEnv(input: BundleInput): string[] {
  const env = new Map<string, string>();
  const put = (name: string, value: string, what: string) => {
    if (!ENV_NAME.test(name) || value.includes('\0')) throw invalid(`${what}: bad environment variable name "${name}"`);
    env.set(name, value);
  };
  put('HOSTNAME', input.hostname, 'hostname');
  for (const entry of imageStrings(input.imageConfig, 'Env') ?? []) {
    const eq = entry.indexOf('=');
    // An image entry without "=" names a variable with an empty value (Docker passes it through as is).
    if (eq === -1) put(entry, '', 'image config Env');
    else put(entry.slice(0, eq), entry.slice(eq + 1), 'image config Env');
  }
  for (const [k, v] of Object.entries(input.app.env ?? {})) put(k, v, `app ${input.app.name}: env`);
  for (const [k, v] of Object.entries(input.agentEnv)) put(k, v, 'agent env');
  if (input.esdkDir !== undefined) put('GANTRY_ESDK_SOCKET', ESDK_SOCKET, 'agent env');
  const out = [...env].map(([k, v]) => `${k}=${v}`);
  return env.has('PATH') ? out : [DEFAULT_PATH, ...out];
}

/**
 * RLIMIT_NOFILE 1024:1024, clamped to the agent's own hard limit: without
 * CAP_SYS_RESOURCE (as on some hosts, even for root) runc cannot raise a hard
 * limit, and the container would fail to start.
 */
export function processRlimits(host: BundleInput['hostRlimits']): OciRlimit[] {
  const hostNofile = host.find((r) => r.type === 'RLIMIT_NOFILE');
  let hard = DEFAULT_NOFILE;
  if (hostNofile && Number.isFinite(hostNofile.hard) && hostNofile.hard >= 0) hard = Math.min(hard, hostNofile.hard);
  return [{ type: 'RLIMIT_NOFILE', soft: Math.min(DEFAULT_NOFILE, hard), hard }];
}

function workingDir(input: BundleInput): string {
  const cwd = input.app.workingDir ?? imageString(input.imageConfig, 'WorkingDir') ?? '/';
  if (!cwd.startsWith('/'))
    throw invalid(`app ${input.app.name}: working dir "${cwd}" is not absolute (config.md "cwd" must be)`);
  return cwd;
}

function oomScoreAdj(app: AppSpec): number {
  const v = app.oomScoreAdj ?? DEFAULT_OOM_SCORE_ADJ;
  if (!Number.isSafeInteger(v) || v < -1000 || v > 1000)
    throw invalid(`app ${app.name}: oomScoreAdj must be an integer from -1000 to 1000 (got ${v})`);
  return v;
}

/** config.md "Process" (oomScoreAdj is a process property there, not a cgroup resource). */
export function buildProcess(input: BundleInput): Record<string, unknown> {
  const { app } = input;
  const userSpec = app.user ?? imageString(input.imageConfig, 'User') ?? '';
  const field = app.user === undefined ? 'image config User' : `app ${app.name}: user`;
  const caps = [...DEFAULT_CAPABILITIES];
  return {
    terminal: false,
    user: resolveUser(userSpec, input.passwd, input.group, field),
    args: processArgs(app, input.imageConfig),
    env: processEnv(input),
    cwd: workingDir(input),
    // Linux capabilities(7): inheritable and ambient stay empty so nothing leaks across execve.
    capabilities: { bounding: caps, effective: caps, permitted: caps, inheritable: [], ambient: [] },
    rlimits: processRlimits(input.hostRlimits),
    noNewPrivileges: true,
    oomScoreAdj: oomScoreAdj(app),
  };
}
