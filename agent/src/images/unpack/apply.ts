import { constants } from 'node:fs';
import { chmod, lchown, link, lutimes, mkdir, open, symlink } from 'node:fs/promises';
import { errnoCode, failedPrecondition, isGantryError, messageOf } from '../../errors.js';
import { makeNode } from './commands.js';
import { classifyEntry, entryError, normaliseName, PATH_MAX, relKey } from './paths.js';
import { type EntryMeta, entryMeta, paxXattrs, type TarHeader } from './pax.js';
import { inRoot, lstatOrUndefined, resolveDir } from './resolve.js';
import type { LayerState } from './state.js';
import { BodyReadError } from './stream.js';
import { applyWhiteout, type WhiteoutMode } from './whiteouts.js';

export interface ApplyOptions {
  mode: WhiteoutMode;
  allowDeviceNodes: boolean;
  maxBytes?: number;
}

const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW, O_RDONLY, O_DIRECTORY } = constants;
/** A new file: never an existing one, never through a symlink. */
const NEW_FILE = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW;
const DIR_NOFOLLOW = O_RDONLY | O_DIRECTORY | O_NOFOLLOW;

type Kind = 'file' | 'directory' | 'symlink' | 'link' | 'character-device' | 'block-device' | 'fifo';
const KINDS = new Set<string>(['file', 'directory', 'symlink', 'link', 'character-device', 'block-device', 'fifo']);
/** Where an entry goes: its absolute path, its key, and what `create` needs besides the header. */
interface Target {
  abs: string;
  key: string;
  keepDir: boolean;
  body: AsyncIterable<Buffer>;
  linkTarget?: string;
}

const isNode = (k: Kind) => k === 'character-device' || k === 'block-device' || k === 'fifo';

/** Errors from the filesystem, told apart: a full disk is not the layer's fault, everything else is. */
function fsFailure(entry: string, e: unknown): Error {
  if (isGantryError(e) || e instanceof BodyReadError) return e;
  const code = errnoCode(e);
  const msg = messageOf(e);
  if (code === 'ENOSPC' || code === 'EDQUOT')
    return failedPrecondition(`layer entry ${JSON.stringify(entry)}: ${msg}`, { cause: e });
  return entryError(entry, msg, e);
}

/** Applies one tar entry at a time to the root. */
export class LayerApplier {
  constructor(
    private readonly state: LayerState,
    private readonly opts: ApplyOptions,
  ) {}

  async apply(h: TarHeader, body: AsyncIterable<Buffer>): Promise<void> {
    this.state.entries++;
    const n = normaliseName(h.name);
    if (!n.ok) throw entryError(h.name, n.problem);
    const kind = classifyEntry(n.parts);
    try {
      switch (kind.kind) {
        case 'bad':
          throw entryError(h.name, kind.problem);
        case 'meta':
          return this.state.skip(`/${relKey(kind.parts)}`, 'reserved whiteout name (aufs metadata)');
        case 'whiteout':
        case 'opaque':
          return await applyWhiteout(this.state, this.opts.mode, kind, h.name);
        case 'plain':
          return await this.plain(h, kind.parts, body);
      }
    } catch (e) {
      throw fsFailure(h.name, e);
    }
  }

  private async plain(h: TarHeader, parts: string[], body: AsyncIterable<Buffer>): Promise<void> {
    const type = h.type === 'contiguous-file' ? 'file' : (h.type ?? 'unknown');
    if (!KINDS.has(type)) throw entryError(h.name, `unsupported entry type "${type}"`);
    const kind = type as Kind;
    const meta = entryMeta(h);
    if ('problem' in meta) throw entryError(h.name, meta.problem);
    if (parts.length === 0) return this.root(h, kind, meta);
    if (isNode(kind) && !this.opts.allowDeviceNodes) {
      return this.state.skip(`/${relKey(parts)}`, `${kind} not allowed (allowDeviceNodes is off)`);
    }
    // Resolve the hardlink target first: clearing the path could remove it.
    const linkTarget = kind === 'link' ? await this.hardlinkTarget(h) : undefined;
    const parent = (await resolveDir(this.state.root, parts.slice(0, -1), { create: true, entry: h.name })) as string[];
    const real = [...parent, parts.at(-1) as string];
    const key = relKey(real);
    const abs = inRoot(this.state.root, real);
    if (linkTarget !== undefined && linkTarget.key === key) throw entryError(h.name, 'hardlink to itself');
    const existing = await lstatOrUndefined(abs);
    const keepDir = kind === 'directory' && existing?.isDirectory() === true;
    if (existing && !keepDir) await this.state.remove(key, existing.isDirectory());
    await this.create(h, kind, meta, {
      abs,
      key,
      keepDir,
      body,
      ...(linkTarget ? { linkTarget: linkTarget.abs } : {}),
    });
    this.state.markUpper(key);
    if (kind !== 'link') this.xattrs(h, key);
  }

  /** Make the entry at `at.abs`, where nothing is now (or a directory is kept, for a directory). */
  private async create(h: TarHeader, kind: Kind, meta: EntryMeta, at: Target): Promise<void> {
    const { abs, key } = at;
    switch (kind) {
      case 'file':
        return this.file(h, meta, abs, at.body);
      case 'directory':
        if (!at.keepDir) await mkdir(abs, { mode: 0o700 });
        await setDirMeta(abs, meta);
        this.state.dirTimes.set(key, { atime: meta.atime, mtime: meta.mtime });
        return;
      case 'symlink': {
        const target = h.linkname ?? '';
        if (target === '') throw entryError(h.name, 'symlink with an empty target');
        if (target.includes('\0') || Buffer.byteLength(target) > PATH_MAX)
          throw entryError(h.name, 'invalid symlink target');
        await symlink(target, abs);
        await lchown(abs, meta.uid, meta.gid);
        return lutimes(abs, meta.atime, meta.mtime);
      }
      case 'link':
        // link(2) does not follow a symlink target on Linux: a link to a symlink is a second symlink.
        return link(at.linkTarget as string, abs);
      default:
        return this.node(h, kind, meta, abs);
    }
  }

  /** A regular file: O_EXCL|O_NOFOLLOW, body streamed with backpressure, then owner, mode, times on the fd. */
  private async file(h: TarHeader, meta: EntryMeta, abs: string, body: AsyncIterable<Buffer>): Promise<void> {
    this.checkBytes(h, h.size ?? 0);
    const fh = await open(abs, NEW_FILE, 0o600);
    try {
      for await (const chunk of body) {
        this.checkBytes(h, chunk.length);
        this.state.bytes += chunk.length;
        for (let off = 0; off < chunk.length; ) {
          off += (await fh.write(chunk, off, chunk.length - off)).bytesWritten;
        }
      }
      // chown clears setuid/setgid, so chmod comes after it.
      await fh.chown(meta.uid, meta.gid);
      await fh.chmod(meta.mode);
      await fh.utimes(meta.atime, meta.mtime);
    } finally {
      await fh.close();
    }
  }

  private checkBytes(h: TarHeader, more: number): void {
    const max = this.opts.maxBytes;
    if (max !== undefined && this.state.bytes + more > max) {
      throw failedPrecondition(
        `layer entry ${JSON.stringify(h.name)}: unpacking it passes the ${max}-byte limit on unpacked content`,
      );
    }
  }

  private async node(h: TarHeader, kind: Kind, meta: EntryMeta, abs: string): Promise<void> {
    const major = h.devmajor ?? 0;
    const minor = h.devminor ?? 0;
    if (!Number.isInteger(major) || !Number.isInteger(minor) || major < 0 || minor < 0) {
      throw entryError(h.name, `invalid device number ${major}:${minor}`);
    }
    await makeNode(abs, kind === 'fifo' ? 'p' : kind === 'block-device' ? 'b' : 'c', major, minor);
    const st = await lstatOrUndefined(abs);
    if (!st || st.isSymbolicLink()) throw entryError(h.name, 'device node vanished after mknod');
    await lchown(abs, meta.uid, meta.gid);
    await chmod(abs, meta.mode); // not a symlink (checked above), so chmod acts on the node itself
    await lutimes(abs, meta.atime, meta.mtime);
  }

  /** The hardlink's target, inside the root: parent resolved, last component not followed. */
  private async hardlinkTarget(h: TarHeader): Promise<{ key: string; abs: string }> {
    const n = normaliseName(h.linkname ?? '');
    if (!n.ok) throw entryError(h.name, `hardlink target ${JSON.stringify(h.linkname)}: ${n.problem}`);
    if (n.parts.length === 0) throw entryError(h.name, 'hardlink to the layer root');
    const parent = await resolveDir(this.state.root, n.parts.slice(0, -1), { create: false, entry: h.name });
    const real = parent && [...parent, n.parts.at(-1) as string];
    const st = real && (await lstatOrUndefined(inRoot(this.state.root, real)));
    if (!real || !st)
      throw entryError(h.name, `hardlink target ${JSON.stringify(h.linkname)} does not exist in the layer root`);
    if (st.isDirectory()) throw entryError(h.name, `hardlink target ${JSON.stringify(h.linkname)} is a directory`);
    return { key: relKey(real), abs: inRoot(this.state.root, real) };
  }

  /** An entry for the root itself ("./"): only a directory may describe it (umoci refuses the same). */
  private async root(h: TarHeader, kind: Kind, meta: EntryMeta): Promise<void> {
    if (kind !== 'directory') throw entryError(h.name, `the layer root cannot be replaced by a ${kind}`);
    await setDirMeta(this.state.root, meta);
    this.state.dirTimes.set('', { atime: meta.atime, mtime: meta.mtime });
    this.xattrs(h, '');
  }

  private xattrs(h: TarHeader, key: string): void {
    const { xattrs, refused } = paxXattrs(h.pax);
    for (const r of refused) this.state.skip(`/${key}`, `xattr ${r.name}: ${r.reason}`);
    this.state.addXattrs(key, xattrs);
  }
}

/** Owner and mode of a directory through an O_NOFOLLOW descriptor; its times wait for the end. */
async function setDirMeta(abs: string, meta: EntryMeta): Promise<void> {
  const fh = await open(abs, DIR_NOFOLLOW);
  try {
    await fh.chown(meta.uid, meta.gid);
    await fh.chmod(meta.mode);
  } finally {
    await fh.close();
  }
}
