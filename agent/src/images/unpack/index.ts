import { createHash } from 'node:crypto';
import { realpath, stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { invalid } from '../../errors.js';
import { parseDigest } from '../digest.js';
import { layerCompression } from '../media-types.js';
import { LayerApplier } from './apply.js';
import { finishLayer } from './finish.js';
import { LayerState } from './state.js';
import { forEachEntry, tarBytes } from './stream.js';

/**
 * The image store's layer unpacker: one layer blob in, one directory tree
 * out, and nothing ever written, changed or deleted outside that directory,
 * whatever the layer says. The modules, in the order bytes meet them:
 *  - stream.ts, zstd.ts: decompress, hash (diff_id), parse the tar; bounded memory;
 *  - paths.ts: entry names -> components (pure); whiteout classification;
 *  - resolve.ts: securejoin-style resolution of parents inside the root;
 *  - apply.ts: one entry at a time, final components never followed;
 *  - whiteouts.ts: OCI whiteouts as overlayfs devices/xattrs or as deletions;
 *  - finish.ts: xattrs (one setfattr run) and directory times, re-checked;
 *  - pax.ts: header metadata and PAX xattrs (pure).
 */

export interface UnpackOptions {
  /** The layer blob exactly as stored in the content store (compressed or not). */
  source: Readable;
  /** The layer's media type; compression is derived with layerCompression() from ../media-types.js ('none'|'gzip'|'zstd'). Unknown types -> invalid error. */
  mediaType: string;
  /** Existing, empty directory that becomes this layer's snapshot (overlay mode) or an existing rootfs (flat mode). */
  target: string;
  /** 'overlay': the layer becomes one overlayfs lower dir: whiteout `.wh.NAME` -> a 0:0 character device NAME (via spawning coreutils `mknod`), opaque marker `.wh..wh..opq` -> xattr trusted.overlay.opaque=y on the dir (via `setfattr`). 'flat': applied on top of an existing rootfs: whiteouts delete the named path (never following symlinks outside), opaque removes the dir's existing children. */
  mode: 'overlay' | 'flat';
  /** sha256 of the uncompressed tar (the config's diff_ids entry). Mismatch -> error. Always computed. */
  expectedDiffId?: string;
  /** Cap on uncompressed bytes of file contents written; exceeding it aborts with an error. */
  maxBytes?: number;
  /** Device nodes and fifos are skipped (recorded in `skipped`) unless true. */
  allowDeviceNodes?: boolean;
  signal?: AbortSignal;
}

export interface UnpackResult {
  diffId: string; // sha256:<hex> of the uncompressed tar stream
  bytes: number; // uncompressed file content bytes written
  entries: number;
  skipped: Array<{ path: string; reason: string }>;
}

/**
 * Unpack one layer into `target`. Rejects with a GantryError (`invalid` for a
 * bad, corrupt or malicious layer) naming the entry and the problem; on
 * rejection `target` may hold a partial tree, which the caller deletes.
 */
export async function unpackLayer(opts: UnpackOptions): Promise<UnpackResult> {
  const { source, signal } = opts;
  // The source may fail (a missing blob file) before it is first read; without
  // a listener that would be an unhandled 'error'. Reading it rethrows the error.
  source.on('error', ignore);
  try {
    const compression = layerCompression(opts.mediaType);
    if (compression === undefined)
      throw invalid(`media type ${JSON.stringify(opts.mediaType)} is not a layer type that can be unpacked`);
    const expected =
      opts.expectedDiffId === undefined ? undefined : parseDigest(opts.expectedDiffId, 'expected diff_id');
    if (opts.maxBytes !== undefined && !(Number.isSafeInteger(opts.maxBytes) && opts.maxBytes >= 0)) {
      throw invalid(`maxBytes must be a non-negative integer, got ${opts.maxBytes}`);
    }
    signal?.throwIfAborted();
    const root = await openRoot(opts.target);
    const state = new LayerState(root);
    const applier = new LayerApplier(state, {
      mode: opts.mode,
      allowDeviceNodes: opts.allowDeviceNodes === true,
      ...(opts.maxBytes !== undefined ? { maxBytes: opts.maxBytes } : {}),
    });
    const hash = createHash('sha256');
    await forEachEntry(source, tarBytes(source, compression, hash), (h, body) => applier.apply(h, body), signal);
    const diffId = `sha256:${hash.digest('hex')}`;
    if (expected !== undefined && diffId !== expected) {
      throw invalid(`layer diff_id mismatch: the uncompressed layer is ${diffId}, the image config says ${expected}`);
    }
    signal?.throwIfAborted();
    await finishLayer(state);
    return { diffId, bytes: state.bytes, entries: state.entries, skipped: state.skipped };
  } finally {
    source.destroy();
  }
}

function ignore(): void {}

/** The target's real path (so no symlink in it can matter later); it must be a directory. */
async function openRoot(target: string): Promise<string> {
  let root: string;
  try {
    root = await realpath(target);
  } catch (e) {
    throw invalid(`unpack target ${target} does not exist`, { cause: e });
  }
  if (!(await stat(root)).isDirectory()) throw invalid(`unpack target ${target} is not a directory`);
  return root;
}
