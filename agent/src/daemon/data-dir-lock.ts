import { readFile, realpath, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import Database from 'better-sqlite3';
import { failedPrecondition } from '../errors.js';

/**
 * Exclusive ownership of a data dir by one agent process.
 *
 * The lock is an exclusive SQLite lock (an fcntl lock underneath) on
 * DIR/agent.lock. Node has no flock(2); SQLite, already a dependency, takes a
 * POSIX lock that the kernel drops the instant the process dies, `kill -9`
 * and power cuts included, so there is no stale lock to guess about. The file
 * sits inside the 0700 data dir, so no other user can take it first (an
 * abstract unix socket, the first design, could be squatted by anyone). The
 * pid file beside it is only for the error message and for people.
 */
export interface DataDirLock {
  readonly dataDir: string;
  release(): Promise<void>;
}

export async function lockDataDir(dataDir: string): Promise<DataDirLock> {
  const real = await realpath(dataDir);
  const db = new Database(path.join(real, 'agent.lock'), { timeout: 0 });
  try {
    db.pragma('locking_mode = EXCLUSIVE');
    db.exec('BEGIN EXCLUSIVE');
  } catch (e) {
    db.close();
    const holder = await readPid(real);
    throw failedPrecondition(
      `data dir ${real} is in use by another gantry agent${holder ? ` (pid ${holder})` : ''}; stop it first or pick another --data-dir`,
      { cause: e },
    );
  }
  const pidFile = path.join(real, 'agent.pid');
  await writeFile(pidFile, `${process.pid}\n`);
  return {
    dataDir: real,
    async release() {
      await rm(pidFile, { force: true });
      db.close();
    },
  };
}

async function readPid(dir: string): Promise<number | undefined> {
  try {
    const pid = Number.parseInt(await readFile(path.join(dir, 'agent.pid'), 'utf8'), 10);
    return Number.isFinite(pid) ? pid : undefined;
  } catch {
    return undefined;
  }
}
