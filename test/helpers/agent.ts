import { access } from 'node:fs/promises';
import path from 'node:path';
import { ApiClient } from '../../agent/src/api/client.js';
import { type Peer, type RunResult, run, spawnPeer } from './processes.js';
import { waitFor } from './timeout.js';
import { type TempDir, tempDataDir } from './tmp.js';

export const REPO_ROOT = path.resolve(new URL('../..', import.meta.url).pathname);
/** Tests drive the built CLI, exactly what an operator runs (`npm test` builds first). */
export const GANTRY_BIN = path.join(REPO_ROOT, 'agent/dist/cli/main.js');

export interface TestAgent {
  readonly dataDir: string;
  readonly socketPath: string;
  readonly peer: Peer;
  readonly api: ApiClient;
  /** Run a `gantry` CLI command against this agent's data dir. */
  gantry(...args: string[]): Promise<RunResult>;
  /** SIGTERM and wait; returns the exit code. Keeps the data dir. */
  stop(): Promise<number | string>;
  /** Stop, then remove the data dir. */
  dispose(): Promise<void>;
}

async function ensureBuilt(): Promise<void> {
  try {
    await access(GANTRY_BIN);
  } catch {
    throw new Error(`${GANTRY_BIN} is missing: run "npm run build" first (npm test does)`);
  }
}

/** Run the CLI with an explicit data dir; bounded in time. */
export async function runGantry(
  args: string[],
  opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<RunResult> {
  await ensureBuilt();
  return run(process.execPath, [GANTRY_BIN, ...args], {
    timeoutMs: opts.timeoutMs ?? 30_000,
    env: { ...process.env, ...opts.env },
  });
}

/** Spawn `gantry agent` on a fresh (or given) data dir and wait until its API answers. */
export async function startAgent(
  opts: { dataDir?: string; profile?: string; config?: string; extraArgs?: string[]; startTimeoutMs?: number } = {},
): Promise<TestAgent> {
  await ensureBuilt();
  let owned: TempDir | undefined;
  if (!opts.dataDir) owned = await tempDataDir();
  const dataDir = opts.dataDir ?? (owned as TempDir).path;
  const args = [GANTRY_BIN, 'agent', '--data-dir', dataDir, '--log-level', 'debug'];
  if (opts.profile) args.push('--profile', opts.profile);
  if (opts.config) args.push('--config', opts.config);
  args.push(...(opts.extraArgs ?? []));
  const peer = spawnPeer(process.execPath, args);
  const socketPath = path.join(dataDir, 'gantry.sock');
  const api = new ApiClient(socketPath, 5000);
  try {
    await waitFor(
      async () => {
        if (peer.child.exitCode !== null) throw new Error(`agent exited with ${peer.child.exitCode}: ${peer.output()}`);
        // The pid check matters: a losing agent must not mistake the winner's API for its own.
        const info = await api.get<{ pid: number }>('/v1/info');
        return info.pid === peer.child.pid ? true : undefined;
      },
      { ms: opts.startTimeoutMs ?? 15_000, what: `agent API on ${socketPath}` },
    );
  } catch (e) {
    await peer.stop();
    await owned?.cleanup();
    throw new Error(`agent did not start: ${peer.output()}`, { cause: e });
  }
  return {
    dataDir,
    socketPath,
    peer,
    api,
    // Global flags first: everything after `run IMAGE` belongs to the container's command.
    gantry: (...a: string[]) => runGantry(['--data-dir', dataDir, ...a]),
    stop: () => peer.stop(10_000),
    async dispose() {
      await peer.stop(10_000);
      await owned?.cleanup();
    },
  };
}
