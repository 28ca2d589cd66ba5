import { execFile } from 'node:child_process';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { errnoCode, internal } from '../errors.js';

const exec = promisify(execFile);

/**
 * A container's root filesystem: an overlay of the image's layer snapshots
 * (read-only lower dirs, top layer first) and the container's own upper dir,
 * so layers are shared between containers and never written. The mount lives
 * in the host's mount namespace and so outlives the agent, like the container.
 *
 * Node has no mount(2); the mount(8) and umount(8) commands do it, once per
 * container start.
 */
export interface RootfsPaths {
  /** Mount point, the bundle's rootfs. */
  merged: string;
  upper: string;
  work: string;
}

export function rootfsPaths(containerDir: string): RootfsPaths {
  return {
    merged: path.join(containerDir, 'bundle', 'rootfs'),
    upper: path.join(containerDir, 'upper'),
    work: path.join(containerDir, 'work'),
  };
}

/** Pure: mount(8) arguments for the overlay; `lowers` bottom layer first, as image manifests list them. */
export function overlayMountArgs(lowers: string[], p: RootfsPaths): string[] {
  const lowerdir = [...lowers].reverse().join(':');
  // index=off, xino=off: the snapshots are shared by many overlays and may be re-created by a re-pull.
  return [
    '-t',
    'overlay',
    'overlay',
    '-o',
    `lowerdir=${lowerdir},upperdir=${p.upper},workdir=${p.work},index=off`,
    p.merged,
  ];
}

/** Is `dir` a mount point right now (per /proc/self/mountinfo)? */
export async function isMounted(dir: string): Promise<boolean> {
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  const target = path.resolve(dir);
  return info.split('\n').some((line) => line.split(' ')[4]?.replace(/\\040/g, ' ') === target);
}

export async function mountRootfs(lowers: string[], p: RootfsPaths): Promise<void> {
  if (lowers.length === 0) throw internal('an image with no layers has no root filesystem');
  await mkdir(p.merged, { recursive: true });
  await mkdir(p.upper, { recursive: true });
  await mkdir(p.work, { recursive: true });
  if (await isMounted(p.merged)) return;
  try {
    await exec('mount', overlayMountArgs(lowers, p), { timeout: 10_000 });
  } catch (e) {
    const stderr = (e as { stderr?: string }).stderr?.trim();
    throw internal(`mounting the overlay rootfs at ${p.merged} failed${stderr ? `: ${stderr}` : ''}`, { cause: e });
  }
}

export async function unmountRootfs(p: RootfsPaths): Promise<void> {
  if (!(await isMounted(p.merged).catch(() => false))) return;
  try {
    await exec('umount', [p.merged], { timeout: 10_000 });
  } catch (e) {
    if (errnoCode(e) === 'ENOENT') return;
    // Busy (a process still holds it): detach it now, the kernel frees it when the last user goes.
    await exec('umount', ['-l', p.merged], { timeout: 10_000 });
  }
}
