import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

export interface TempDir {
  readonly path: string;
  cleanup(): Promise<void>;
}

/** A fresh private directory under the OS temp dir; `cleanup` removes it and everything in it. */
export async function tempDir(prefix = 'gantry-test-'): Promise<TempDir> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  return { path: dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** A data dir for an agent under test. */
export function tempDataDir(): Promise<TempDir> {
  return tempDir('gantry-data-');
}
