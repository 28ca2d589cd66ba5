import { createHash } from 'node:crypto';
import { readFile, realpath, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { errnoCode, failedPrecondition } from '../errors.js';

/**
 * Exclusive ownership of a data dir by one agent process.
 *
 * The lock is a listening socket in Linux's abstract namespace, named after
 * the data dir's real path. Binding is atomic, and the kernel frees the name
 * the instant the process dies, `kill -9` and power cuts included — so there is
 * no stale lock file to guess about (Node has no flock(2)). The pid file beside
 * it is only for the error message and for people.
 *
 * Limitation: abstract sockets are per network namespace; two agents started
 * in different netns on one data dir would not see each other.
 */
export interface DataDirLock {
  readonly dataDir: string;
  release(): Promise<void>;
}

export async function lockDataDir(dataDir: string): Promise<DataDirLock> {
  const real = await realpath(dataDir);
  const name = `\0gantry-agent:${createHash('sha256').update(real).digest('hex').slice(0, 40)}`;
  const server = net.createServer((conn) => conn.destroy());
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(name, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (e) {
    if (errnoCode(e) !== 'EADDRINUSE') throw e;
    const holder = await readPid(real);
    throw failedPrecondition(
      `data dir ${real} is in use by another gantry agent${holder ? ` (pid ${holder})` : ''}; stop it first or pick another --data-dir`,
      { cause: e },
    );
  }
  // The lock must not keep a finished agent alive on its own.
  server.unref();
  const pidFile = path.join(real, 'agent.pid');
  await writeFile(pidFile, `${process.pid}\n`);
  return {
    dataDir: real,
    async release() {
      await rm(pidFile, { force: true });
      await new Promise<void>((resolve) => server.close(() => resolve()));
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
