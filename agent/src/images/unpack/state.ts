import { rm } from 'node:fs/promises';
import { ancestorKeys, isSameOrBelow } from './paths.js';
import type { Xattr } from './pax.js';
import { inRoot } from './resolve.js';

/**
 * What one layer's unpack remembers between entries. Keys are root-relative
 * *real* paths (symlink-free, as resolveDir returns them), "" is the root.
 */
export class LayerState {
  /**
   * Paths this layer created, and their ancestors. Whiteouts only apply to
   * lower layers (image-spec "Whiteouts": "files that are present in the same
   * layer as a whiteout file can only be hidden by whiteout files in
   * subsequent layers"), so these are never whited out by this layer.
   */
  readonly upper = new Set<string>();
  /** xattrs to apply at the end, in one setfattr run. */
  readonly xattrs = new Map<string, Xattr[]>();
  /** Directory times to apply at the end: creating children changes a directory's mtime. */
  readonly dirTimes = new Map<string, { atime: number; mtime: number }>();
  readonly skipped: Array<{ path: string; reason: string }> = [];
  bytes = 0;
  entries = 0;

  constructor(readonly root: string) {}

  markUpper(key: string): void {
    for (const k of ancestorKeys(key)) {
      if (this.upper.has(k)) break; // its ancestors are there already
      this.upper.add(k);
    }
  }

  addXattrs(key: string, xattrs: readonly Xattr[]): void {
    if (xattrs.length === 0) return;
    this.xattrs.set(key, [...(this.xattrs.get(key) ?? []), ...xattrs]);
  }

  skip(path: string, reason: string): void {
    this.skipped.push({ path, reason });
  }

  /**
   * Remove `key` (recursively) without following symlinks: fs.rm lstat()s and
   * unlinks a symlink itself, and `key` is symlink-free up to its last
   * component. Pending metadata for the removed paths is forgotten, so the
   * final pass never touches whatever replaces them.
   */
  async remove(key: string, isDir: boolean): Promise<void> {
    await rm(inRoot(this.root, key === '' ? [] : key.split('/')), { recursive: true, force: true });
    for (const map of [this.xattrs, this.dirTimes]) {
      if (!isDir) map.delete(key);
      else for (const k of map.keys()) if (isSameOrBelow(k, key)) map.delete(k);
    }
  }
}
