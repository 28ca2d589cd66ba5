import path from 'node:path';
import { ApiClient } from '../api/client.js';

/** What every command gets: where the agent lives and where to write. */
export interface CliContext {
  dataDir: string;
  json: boolean;
  out: (text: string) => void;
  err: (text: string) => void;
  /** A client of the agent's API; `timeoutMs` for calls that may take long (stop with a long grace). */
  api(timeoutMs?: number): ApiClient;
}

export const DEFAULT_DATA_DIR = '/var/lib/gantry';

/** Exit codes are part of the CLI's contract: scripts branch on them. */
export const EXIT = {
  ok: 0,
  /** The operation ran and failed, or its input was invalid. */
  failure: 1,
  /** Bad flags or arguments. */
  usage: 2,
  /** No agent answered on the data dir's socket. */
  unavailable: 3,
  /** Permission denied (the local API is root only). */
  denied: 4,
} as const;

export function makeContext(
  dataDir: string | undefined,
  json: boolean,
  env: NodeJS.ProcessEnv = process.env,
): CliContext {
  const dir = path.resolve(dataDir ?? env.GANTRY_DATA_DIR ?? DEFAULT_DATA_DIR);
  return {
    dataDir: dir,
    json,
    out: (text) => process.stdout.write(`${text}\n`),
    err: (text) => process.stderr.write(`${text}\n`),
    api: (timeoutMs) => new ApiClient(path.join(dir, 'gantry.sock'), timeoutMs),
  };
}
