import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { errnoCode, invalid } from '../../errors.js';
import type { CgroupPaths } from './cgroup-stats.js';

/**
 * The driver's state directory (it must survive agent restarts: everything
 * a new agent needs to re-adopt a container is here or in runc's root):
 *
 *   runc/            runc --root: runc's own state.json per container
 *   exits/<id>       conmon --exit-dir: the exit status, written when the container exits
 *   sockets/<id>     conmon --socket-dir-path: a symlink to the bundle (attach socket lives there)
 *   containers/<id>/ conmon --persist-dir and cwd: `exit` (copy of the status), `oom`
 *                    (written on an OOM event), `pidfile` (container init pid),
 *                    `conmon.pid`, and our `cgroup.json`
 */
export class StateDir {
  readonly runcRoot: string;
  readonly exitsDir: string;
  readonly socketsDir: string;
  private readonly containersDir: string;

  constructor(readonly root: string) {
    this.runcRoot = path.join(root, 'runc');
    this.exitsDir = path.join(root, 'exits');
    this.socketsDir = path.join(root, 'sockets');
    this.containersDir = path.join(root, 'containers');
  }

  async init(): Promise<void> {
    for (const dir of [this.runcRoot, this.exitsDir, this.socketsDir, this.containersDir]) {
      await mkdir(dir, { recursive: true, mode: 0o700 });
    }
  }

  containerDir(id: string): string {
    return path.join(this.containersDir, checkId(id));
  }

  exitFile(id: string): string {
    return path.join(this.exitsDir, checkId(id));
  }

  /** A fresh container dir: whatever an earlier container of that id left (an old exit file above all) goes first. */
  async prepare(id: string): Promise<string> {
    await this.remove(id);
    const dir = this.containerDir(id);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    return dir;
  }

  async remove(id: string): Promise<void> {
    await rm(this.exitFile(id), { force: true });
    await rm(path.join(this.socketsDir, checkId(id)), { force: true });
    await rm(this.containerDir(id), { recursive: true, force: true });
  }

  async exists(id: string): Promise<boolean> {
    try {
      await readdir(this.containerDir(id));
      return true;
    } catch {
      return false;
    }
  }

  /** Ids runc knows (a dir per container under its root). */
  async runcIds(): Promise<string[]> {
    try {
      const entries = await readdir(this.runcRoot, { withFileTypes: true });
      return entries.filter((e) => e.isDirectory() && ID.test(e.name)).map((e) => e.name);
    } catch (e) {
      if (errnoCode(e) === 'ENOENT') return [];
      throw e;
    }
  }

  async saveCgroups(id: string, paths: CgroupPaths): Promise<void> {
    await writeFile(path.join(this.containerDir(id), 'cgroup.json'), `${JSON.stringify(paths)}\n`);
  }

  async loadCgroups(id: string): Promise<CgroupPaths | undefined> {
    try {
      const parsed = JSON.parse(await readFile(path.join(this.containerDir(id), 'cgroup.json'), 'utf8')) as CgroupPaths;
      return parsed.version === 'v1' || parsed.version === 'v2' ? parsed : undefined;
    } catch {
      return undefined;
    }
  }
}

/** runc's own id rule (libcontainer: ^[\w+-\.]+$), kept to a length that fits unix socket paths. */
const ID = /^[A-Za-z0-9_+.-]{1,64}$/;

export function checkId(id: string): string {
  if (!ID.test(id) || id === '.' || id === '..') {
    throw invalid(`container id ${JSON.stringify(id)} must be 1-64 letters, digits, '_', '+', '-' or '.'`);
  }
  return id;
}
