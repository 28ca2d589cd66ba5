import { type GantryError, invalid } from '../../errors.js';

/**
 * Pure path logic of the unpacker: tar entry names are untrusted strings, so
 * they are turned into lists of components *before* anything touches the
 * filesystem. Symlinks are not resolved here (that needs lstat, see
 * resolve.ts); this only decides what a name means lexically.
 */

/** Linux NAME_MAX: longest single path component, in bytes. */
export const NAME_MAX = 255;
/** Linux PATH_MAX less the terminating NUL, in bytes. */
export const PATH_MAX = 4095;

export type Normalised = { ok: true; parts: string[] } | { ok: false; problem: string };

/** The error every bad entry gets: it names the entry (as the layer spelled it) and the problem. */
export function entryError(name: string, problem: string, cause?: unknown): GantryError {
  return invalid(`layer entry ${JSON.stringify(name)}: ${problem}`, cause === undefined ? undefined : { cause });
}

/**
 * Lexically clean a name from the layer (an entry name or a hardlink target):
 * a leading "/" is dropped (names are relative to the layer root, as
 * containerd and umoci read them), "" and "." components vanish, and ".."
 * removes the previous component. A ".." with nothing left to remove would
 * climb out of the root: that is refused rather than clamped, because no
 * honest layer builder writes one. `[]` is the root itself.
 */
export function normaliseName(name: string): Normalised {
  if (name === '') return { ok: false, problem: 'empty path' };
  if (name.includes('\0')) return { ok: false, problem: 'path contains a NUL byte' };
  if (Buffer.byteLength(name) > PATH_MAX) return { ok: false, problem: `path is longer than ${PATH_MAX} bytes` };
  const parts: string[] = [];
  for (const c of name.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') {
      if (parts.length === 0) return { ok: false, problem: 'path escapes the layer root' };
      parts.pop();
      continue;
    }
    if (Buffer.byteLength(c) > NAME_MAX) {
      return { ok: false, problem: `path component "${c.slice(0, 40)}..." is longer than ${NAME_MAX} bytes` };
    }
    parts.push(c);
  }
  return { ok: true, parts };
}

/** Components of a symlink's target, and whether it restarts at the root. Empty and "." components vanish. */
export function splitLinkTarget(target: string): { absolute: boolean; parts: string[] } {
  return { absolute: target.startsWith('/'), parts: target.split('/').filter((c) => c !== '' && c !== '.') };
}

/** Root-relative key of a path, as used in the unpacker's bookkeeping ("" is the root). */
export function relKey(parts: readonly string[]): string {
  return parts.join('/');
}

/** The key and all its ancestors, nearest first, root ("") excluded. */
export function ancestorKeys(key: string): string[] {
  const out: string[] = [];
  for (let k = key; k !== ''; k = k.includes('/') ? k.slice(0, k.lastIndexOf('/')) : '') out.push(k);
  return out;
}

/** True when `key` is `prefix` or lies below it. */
export function isSameOrBelow(key: string, prefix: string): boolean {
  return prefix === '' || key === prefix || key.startsWith(`${prefix}/`);
}

/**
 * Whiteouts, OCI image-spec v1.1 "Representing Changes: Whiteouts":
 *  - `.wh.NAME` in a directory deletes NAME (from lower layers only);
 *  - `.wh..wh..opq` makes its directory opaque: the lower layers' children of
 *    it are hidden, this layer's are kept;
 *  - other `.wh..wh.` names are reserved (aufs bookkeeping such as
 *    `.wh..wh.plnk`): they are skipped, like moby does.
 * The entry's type does not matter, only its name (umoci reads it the same way).
 */
export const WH_PREFIX = '.wh.';
export const WH_META_PREFIX = '.wh..wh.';
export const WH_OPAQUE = '.wh..wh..opq';

export type EntryKind =
  | { kind: 'plain'; parts: string[] }
  | { kind: 'whiteout'; dir: string[]; name: string }
  | { kind: 'opaque'; dir: string[] }
  | { kind: 'meta'; parts: string[] }
  | { kind: 'bad'; problem: string };

/** Classify a normalised entry path. Pure. */
export function classifyEntry(parts: readonly string[]): EntryKind {
  for (const c of parts.slice(0, -1)) {
    // A whiteout is a file-system leaf; anything below one is a malformed layer.
    if (c.startsWith(WH_PREFIX)) return { kind: 'bad', problem: `whiteout name "${c}" used as a directory` };
  }
  const base = parts.at(-1);
  if (base === undefined || !base.startsWith(WH_PREFIX)) return { kind: 'plain', parts: [...parts] };
  const dir = parts.slice(0, -1);
  if (base === WH_OPAQUE) return { kind: 'opaque', dir };
  if (base.startsWith(WH_META_PREFIX)) return { kind: 'meta', parts: [...parts] };
  const name = base.slice(WH_PREFIX.length);
  if (name === '' || name === '.' || name === '..') {
    return { kind: 'bad', problem: `whiteout names ${JSON.stringify(name)}, which is not a file name` };
  }
  return { kind: 'whiteout', dir, name };
}
