import type { Stats } from 'node:fs';
import { lstat, mkdir, readlink } from 'node:fs/promises';
import path from 'node:path';
import { errnoCode } from '../../errors.js';
import { entryError, relKey, splitLinkTarget } from './paths.js';

/**
 * Resolving a path *inside* the layer root, securejoin-style (the semantics
 * of github.com/cyphar/filepath-securejoin, which containerd's fs.RootPath
 * and umoci use): walk one component at a time with lstat; a symlink's target
 * is spliced in as if the root were "/" (an absolute target restarts at the
 * root, ".." stops at the root). The result is a list of real directory
 * names under the root, with no symlink left in it, so joining it to the
 * root can never leave the root. Final components are never resolved here:
 * callers create or replace them without following them.
 *
 * INVARIANT: the unpacker is the only writer under the root while it runs,
 * so a resolution stays true until the unpacker itself changes that path.
 */

/** securejoin's limit on symlinks followed in one resolution (Linux's own is 40). */
export const MAX_SYMLINK_HOPS = 255;

export async function lstatOrUndefined(p: string): Promise<Stats | undefined> {
  try {
    return await lstat(p);
  } catch (e) {
    const code = errnoCode(e);
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw e;
  }
}

export interface ResolveOptions {
  /** Create missing directories (0755, owned by the unpacker) instead of giving up. */
  create: boolean;
  /** The entry name, for error messages. */
  entry: string;
}

/**
 * The real, symlink-free components (relative to `root`) of directory
 * `parts`. With `create`, missing directories are made and a component that
 * is not a directory throws; without, undefined is returned in both cases.
 */
export async function resolveDir(
  root: string,
  parts: readonly string[],
  opts: ResolveOptions,
): Promise<string[] | undefined> {
  const real: string[] = [];
  const pending = [...parts].reverse(); // a stack: next component last
  let hops = 0;
  while (pending.length > 0) {
    const c = pending.pop() as string;
    if (c === '.' || c === '') continue;
    if (c === '..') {
      real.pop(); // at the root, ".." is the root
      continue;
    }
    const abs = path.join(root, ...real, c);
    const st = await lstatOrUndefined(abs);
    if (st === undefined) {
      if (!opts.create) return undefined;
      await mkdir(abs, { mode: 0o755 });
      real.push(c);
    } else if (st.isSymbolicLink()) {
      if (++hops > MAX_SYMLINK_HOPS) throw entryError(opts.entry, 'too many levels of symbolic links');
      const target = splitLinkTarget(await readlink(abs));
      if (target.absolute) real.length = 0;
      for (let i = target.parts.length - 1; i >= 0; i--) pending.push(target.parts[i] as string);
    } else if (st.isDirectory()) {
      real.push(c);
    } else {
      if (!opts.create) return undefined;
      throw entryError(opts.entry, `parent "${relKey([...real, c])}" is not a directory`);
    }
  }
  return real;
}

/** Absolute path of root-relative real components. */
export function inRoot(root: string, real: readonly string[]): string {
  return real.length === 0 ? root : path.join(root, ...real);
}
