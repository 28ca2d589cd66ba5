import { readdir } from 'node:fs/promises';
import { makeWhiteoutDevice } from './commands.js';
import { relKey } from './paths.js';
import { inRoot, lstatOrUndefined, resolveDir } from './resolve.js';
import type { LayerState } from './state.js';

/**
 * Whiteouts (OCI image-spec v1.1, layer.md "Whiteouts" and "Opaque
 * Whiteout"), in the two forms a snapshot can take:
 *  - overlay: the layer is one overlayfs lower dir, so a whiteout becomes what
 *    overlayfs understands: a 0:0 character device in place of the name, and
 *    `trusted.overlay.opaque=y` on an opaque directory (kernel
 *    Documentation/filesystems/overlayfs.rst, "whiteouts and opaque
 *    directories");
 *  - flat: the layer is applied onto the rootfs below it, so whited-out paths
 *    are deleted and an opaque directory loses its lower children.
 * Either way, paths this layer created itself are left alone (the spec:
 * whiteouts hide lower layers only), and the directory a whiteout sits in is
 * resolved inside the root, so `link/.wh.x` with `link -> /etc` acts on
 * ROOT/etc/x, never /etc/x.
 */

export type WhiteoutMode = 'overlay' | 'flat';
export type Whiteout = { kind: 'whiteout'; dir: string[]; name: string } | { kind: 'opaque'; dir: string[] };

export const OVERLAY_OPAQUE_XATTR = 'trusted.overlay.opaque';

export async function applyWhiteout(state: LayerState, mode: WhiteoutMode, wh: Whiteout, entry: string): Promise<void> {
  if (mode === 'overlay') return overlayWhiteout(state, wh, entry);
  return flatWhiteout(state, wh, entry);
}

async function overlayWhiteout(state: LayerState, wh: Whiteout, entry: string): Promise<void> {
  const dir = (await resolveDir(state.root, wh.dir, { create: true, entry })) as string[];
  if (wh.kind === 'opaque') {
    // Applied with the other xattrs at the end; dropped if the directory is replaced meanwhile.
    state.addXattrs(relKey(dir), [{ name: OVERLAY_OPAQUE_XATTR, value: Buffer.from('y') }]);
    return;
  }
  const real = [...dir, wh.name];
  const key = relKey(real);
  if (state.upper.has(key)) return;
  const abs = inRoot(state.root, real);
  const existing = await lstatOrUndefined(abs);
  if (existing) await state.remove(key, existing.isDirectory());
  await makeWhiteoutDevice(abs);
}

async function flatWhiteout(state: LayerState, wh: Whiteout, entry: string): Promise<void> {
  const dir = await resolveDir(state.root, wh.dir, { create: false, entry });
  if (dir === undefined) return; // nothing below to hide
  if (wh.kind === 'whiteout') return purgeLower(state, [...dir, wh.name]);
  for (const child of await readdir(inRoot(state.root, dir))) await purgeLower(state, [...dir, child]);
}

/**
 * Delete `real` unless this layer made it; if this layer made something
 * below it, keep the directory and purge its other children. Never follows
 * a symlink: lstat decides, and a symlink is removed as itself.
 */
async function purgeLower(state: LayerState, real: string[]): Promise<void> {
  const abs = inRoot(state.root, real);
  const st = await lstatOrUndefined(abs);
  if (!st) return;
  const key = relKey(real);
  if (!state.upper.has(key)) return state.remove(key, st.isDirectory());
  if (!st.isDirectory()) return;
  for (const child of await readdir(abs)) await purgeLower(state, [...real, child]);
}
