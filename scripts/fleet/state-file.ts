/**
 * The rollout's state file and its two companions:
 *  - FILE        the RolloutState as JSON, replaced atomically (temp file,
 *                fsync, rename, fsync of the directory): a kill at any point
 *                leaves the old state or the new one, never half of either;
 *  - FILE.lock   the pid of the tool running the rollout: a second run (or a
 *                resume while one runs) is refused; a dead pid's lock is stale;
 *  - FILE.abort  written by `abort`; the running tool takes it on its next tick.
 */
import { closeSync, fsyncSync, openSync } from 'node:fs';
import { access, open, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { errnoCode, failedPrecondition, invalid, notFound } from '../../agent/src/errors.js';
import type { RolloutState } from './rollout-machine.js';

export async function saveState(file: string, state: RolloutState): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  const fh = await open(tmp, 'w', 0o600);
  try {
    await fh.writeFile(`${JSON.stringify(state)}\n`);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, file);
  syncDir(path.dirname(file));
}

export async function loadState(file: string): Promise<RolloutState> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if (errnoCode(e) === 'ENOENT') throw notFound(`rollout state file ${file} does not exist`);
    throw e;
  }
  let state: unknown;
  try {
    state = JSON.parse(text);
  } catch (e) {
    throw invalid(`rollout state file ${file} is not JSON: ${(e as Error).message}`);
  }
  const s = state as Partial<RolloutState>;
  if (s?.v !== 1 || typeof s.revision !== 'number' || !Array.isArray(s.waves) || typeof s.devices !== 'object') {
    throw invalid(`${file} is not a gantry-fleet rollout state (v1)`);
  }
  return s as RolloutState;
}

export async function exists(file: string): Promise<boolean> {
  try {
    await access(file);
    return true;
  } catch (e) {
    // A comma list of device ids can be longer than a file name may be: it is not a file either.
    if (['ENOENT', 'ENAMETOOLONG', 'ENOTDIR'].includes(errnoCode(e) ?? '')) return false;
    throw e;
  }
}

/** The pid holding the rollout's lock, if that process is alive. */
export async function lockHolder(file: string): Promise<number | undefined> {
  let pid: number;
  try {
    pid = Number((await readFile(`${file}.lock`, 'utf8')).trim());
  } catch (e) {
    if (errnoCode(e) === 'ENOENT') return undefined;
    throw e;
  }
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    process.kill(pid, 0);
    return pid;
  } catch (e) {
    return errnoCode(e) === 'EPERM' ? pid : undefined;
  }
}

/** Take the lock for this process; returns the release function. */
export async function acquireLock(file: string): Promise<() => Promise<void>> {
  const lock = `${file}.lock`;
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await writeFile(lock, `${process.pid}\n`, { flag: 'wx', mode: 0o600 });
      return () => rm(lock, { force: true });
    } catch (e) {
      if (errnoCode(e) !== 'EEXIST') throw e;
      const holder = await lockHolder(file);
      if (holder !== undefined && holder !== process.pid) {
        throw failedPrecondition(`rollout ${file} is being run by process ${holder}; watch it with \`status ${file}\``);
      }
      await rm(lock, { force: true }); // stale: its tool was killed
    }
  }
  throw failedPrecondition(`cannot take the lock ${lock}`);
}

export async function requestAbort(file: string, rollback: boolean): Promise<void> {
  await writeFile(`${file}.abort`, `${JSON.stringify({ rollback, at: new Date().toISOString() })}\n`, { mode: 0o600 });
}

/** An abort request, if one is waiting; it is consumed. */
export async function takeAbortRequest(file: string): Promise<{ rollback: boolean } | undefined> {
  let text: string;
  try {
    text = await readFile(`${file}.abort`, 'utf8');
  } catch (e) {
    if (errnoCode(e) === 'ENOENT') return undefined;
    throw e;
  }
  await rm(`${file}.abort`, { force: true });
  try {
    return { rollback: (JSON.parse(text) as { rollback?: unknown }).rollback === true };
  } catch {
    return { rollback: false };
  }
}

function syncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // some filesystems refuse fsync on a directory; the rename itself is still atomic
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
