import { lutimes } from 'node:fs/promises';
import { failedPrecondition } from '../../errors.js';
import { runTool } from './commands.js';
import { relKey } from './paths.js';
import { setfattrDump, setfattrFailures, type Xattr } from './pax.js';
import { inRoot, lstatOrUndefined, resolveDir } from './resolve.js';
import type { LayerState } from './state.js';
import { OVERLAY_OPAQUE_XATTR } from './whiteouts.js';

/**
 * The last pass over a layer, once every entry is on disk: xattrs (one
 * `setfattr --restore` run instead of a process per file) and directory
 * times (set last, since creating children changed them).
 *
 * Both act on paths remembered earlier, so each is re-checked first: its
 * parent must still resolve inside the root to the very same real
 * directories (no component swapped for a symlink since), and the tools
 * never follow the last component (`setfattr -h`, lutimes).
 */
export async function finishLayer(state: LayerState): Promise<void> {
  await applyXattrs(state);
  for (const [key, t] of state.dirTimes) {
    const abs = await stillThere(state, key);
    const st = abs === undefined ? undefined : await lstatOrUndefined(abs);
    if (abs !== undefined && st?.isDirectory()) await lutimes(abs, t.atime, t.mtime);
  }
}

/** Absolute path of `key` if its parent still resolves to itself inside the root, else undefined. */
async function stillThere(state: LayerState, key: string): Promise<string | undefined> {
  const parts = key === '' ? [] : key.split('/');
  const parentParts = parts.slice(0, -1);
  const parent = await resolveDir(state.root, parentParts, { create: false, entry: key });
  if (!parent || relKey(parent) !== relKey(parentParts)) return undefined;
  return inRoot(state.root, parts);
}

async function applyXattrs(state: LayerState): Promise<void> {
  const files: Array<{ path: string; key: string; xattrs: Xattr[] }> = [];
  for (const [key, xattrs] of state.xattrs) {
    const abs = await stillThere(state, key);
    if (abs && (await lstatOrUndefined(abs))) files.push({ path: abs, key, xattrs });
    else for (const x of xattrs) state.skip(`/${key}`, `xattr ${x.name}: path changed before xattrs were applied`);
  }
  if (files.length === 0) return;
  const batch = await runTool('setfattr', ['-h', '--restore=-'], { input: setfattrDump(files), timeoutMs: 120_000 });
  if (batch.code === 0) return;
  // Something was refused: find out which attribute, one setfattr per attribute of the files named.
  const { failed, unknown } = setfattrFailures(
    batch.stderr,
    files.map((f) => f.path),
  );
  for (const f of files) {
    if (!unknown && !failed.has(f.path)) continue;
    for (const x of f.xattrs) {
      const one = await runTool('setfattr', ['-h', '-n', x.name, '-v', `0s${x.value.toString('base64')}`, f.path], {
        timeoutMs: 10_000,
      });
      if (one.code === 0) continue;
      const why = one.stderr.trim().split('\n').at(-1) ?? `exit ${one.code}`;
      if (x.name === OVERLAY_OPAQUE_XATTR) {
        throw failedPrecondition(`cannot mark /${f.key} opaque for overlayfs (${why}): the snapshot would be wrong`);
      }
      state.skip(`/${f.key}`, `xattr ${x.name} refused by the filesystem: ${why}`);
    }
  }
}
