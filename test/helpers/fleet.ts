/**
 * The fleet CLI (scripts/fleet/main.ts) as a child process, as an operator
 * runs it, and deployment documents for simulated fleets.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DeploymentDocument } from '../../agent/src/deploy/types.js';
import { type Peer, type RunResult, run, spawnPeer } from './processes.js';

export const REPO_ROOT = path.resolve(fileURLToPath(new URL('../..', import.meta.url)));
const MAIN = path.join(REPO_ROOT, 'scripts/fleet/main.ts');

/** Run `gantry-fleet ARGS` to completion. */
export function fleetCli(args: string[], opts: { timeoutMs?: number } = {}): Promise<RunResult> {
  return run(process.execPath, ['--import', 'tsx', MAIN, ...args], {
    cwd: REPO_ROOT,
    timeoutMs: opts.timeoutMs ?? 60_000,
    env: cleanEnv(),
  });
}

/** Start `gantry-fleet ARGS` in the background (to kill it, or to talk to it while it runs). */
export function spawnFleetCli(args: string[]): Peer {
  return spawnPeer(process.execPath, ['--import', 'tsx', MAIN, ...args], { cwd: REPO_ROOT, env: cleanEnv() });
}

/** The test's environment without the fleet tool's defaults: every test says its broker and key. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('GANTRY_FLEET_')) delete env[k];
  return env;
}

/** The parsed --json output of a fleet command; fails with everything the command said when it is not JSON. */
export function jsonOf<T = Record<string, unknown>>(r: RunResult): T {
  try {
    return JSON.parse(r.stdout) as T;
  } catch {
    throw new Error(`not JSON (exit ${r.code}):\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  }
}

/** An image reference pinned by a digest made of one repeated hex digit. */
export const image = (name: string, digit: string): string => `reg.example/${name}@sha256:${digit.repeat(64)}`;

/** Write a one-app deployment document (short health window for tests); returns its path. */
export async function writeDeployment(
  dir: string,
  revision: number,
  apps: DeploymentDocument['apps'],
  healthyWithinSec = 3,
): Promise<string> {
  const file = path.join(dir, `deployment-${revision}.json`);
  const doc: DeploymentDocument = { revision, apps, rollout: { healthyWithinSec } };
  await writeFile(file, `${JSON.stringify(doc, null, 2)}\n`);
  return file;
}
