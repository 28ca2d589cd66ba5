/**
 * Pure header logic: owner, mode and times of an entry (PAX records win over
 * the ustar fields, as POSIX pax says), and the xattrs a PAX header carries.
 */

/**
 * A tar header as tar-stream decodes it at run time (its typings are
 * narrower than the truth: an unknown typeflag decodes to a null type, an
 * empty linkname to null, and `pax` holds the entry's decoded PAX records).
 */
export interface TarHeader {
  name: string;
  type?: string | null;
  size?: number;
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: Date;
  linkname?: string | null;
  devmajor?: number;
  devminor?: number;
  pax?: Record<string, string> | null;
}

export interface EntryMeta {
  /** Permission bits incl. setuid, setgid and sticky (type bits stripped). */
  mode: number;
  uid: number;
  gid: number;
  /** Seconds since the epoch, fractional when a PAX record gave sub-second precision. */
  mtime: number;
  atime: number;
}

/** Largest id chown(2) takes: (uid_t)-1 means "don't change". */
const MAX_ID = 0xffff_fffe;

function paxNumber(pax: Record<string, string> | null | undefined, key: string): number | undefined {
  const v = pax?.[key];
  if (v === undefined || !/^-?\d+(\.\d+)?$/.test(v)) return undefined;
  return Number(v);
}

/** Metadata of an entry, or the reason it is unusable. */
export function entryMeta(h: TarHeader): EntryMeta | { problem: string } {
  const uid = paxNumber(h.pax, 'uid') ?? h.uid ?? 0;
  const gid = paxNumber(h.pax, 'gid') ?? h.gid ?? 0;
  for (const [what, id] of [
    ['uid', uid],
    ['gid', gid],
  ] as const) {
    if (!Number.isInteger(id) || id < 0 || id > MAX_ID) return { problem: `${what} ${id} is out of range` };
  }
  const headerMtime = h.mtime ? h.mtime.getTime() / 1000 : 0;
  const mtime = paxNumber(h.pax, 'mtime') ?? (Number.isFinite(headerMtime) ? headerMtime : 0);
  const atime = paxNumber(h.pax, 'atime') ?? mtime;
  return { mode: (h.mode ?? 0o644) & 0o7777, uid, gid, mtime, atime };
}

export interface Xattr {
  name: string;
  value: Buffer;
}

const XATTR_PREFIX = 'SCHILY.xattr.';
/** Linux XATTR_NAME_MAX and XATTR_SIZE_MAX. */
const XATTR_NAME_MAX = 255;
const XATTR_SIZE_MAX = 65536;
const NAMESPACES = ['user.', 'trusted.', 'security.', 'system.'];

/**
 * xattrs named by `SCHILY.xattr.NAME` records (the convention GNU tar, Go's
 * archive/tar and containerd use), and those refused with the reason:
 *  - overlayfs's own attributes (`trusted.overlay.*`, `user.overlay.*`): set
 *    by a layer they could redirect or hide paths once the snapshot is an
 *    overlay lower dir; only a `.wh..wh..opq` entry may make a dir opaque;
 *  - values that tar-stream could not decode: it reads PAX records as UTF-8,
 *    so a binary value (security.capability, ACLs) arrives mangled, and a
 *    mangled capability is worse than none.
 */
export function paxXattrs(pax: Record<string, string> | null | undefined): {
  xattrs: Xattr[];
  refused: Array<{ name: string; reason: string }>;
} {
  const xattrs: Xattr[] = [];
  const refused: Array<{ name: string; reason: string }> = [];
  for (const [key, text] of Object.entries(pax ?? {})) {
    if (!key.startsWith(XATTR_PREFIX)) continue;
    const name = key.slice(XATTR_PREFIX.length);
    const value = Buffer.from(text, 'utf8');
    let reason: string | undefined;
    if (!NAMESPACES.some((ns) => name.startsWith(ns) && name.length > ns.length)) reason = 'unknown xattr namespace';
    else if (Buffer.byteLength(name) > XATTR_NAME_MAX) reason = 'xattr name too long';
    else if (/^(trusted|user)\.overlay\./.test(name)) reason = 'overlayfs xattrs are not taken from layers';
    else if (text.includes('\uFFFD')) reason = 'binary xattr value (not valid UTF-8) is not supported';
    else if (value.length > XATTR_SIZE_MAX) reason = 'xattr value too large';
    if (reason) refused.push({ name, reason });
    else xattrs.push({ name, value });
  }
  return { xattrs, refused };
}

/**
 * Quote a path or name for `setfattr --restore`: every byte outside a small
 * safe set becomes `\ooo`, which setfattr's unquote() turns back into the
 * byte. So newlines, "=", "\" and non-ASCII names survive the dump format.
 */
export function quoteDumpField(s: string): string {
  let out = '';
  for (const byte of Buffer.from(s, 'utf8')) {
    const safe =
      (byte >= 0x30 && byte <= 0x39) || // 0-9
      (byte >= 0x41 && byte <= 0x5a) || // A-Z
      (byte >= 0x61 && byte <= 0x7a) || // a-z
      byte === 0x2f || // /
      byte === 0x2e || // .
      byte === 0x5f || // _
      byte === 0x2d; // -
    out += safe ? String.fromCharCode(byte) : `\\${byte.toString(8).padStart(3, '0')}`;
  }
  return out;
}

/** A `getfattr --dump`-style document for `setfattr -h --restore=-`; values base64 (`0s`), so any bytes pass. */
export function setfattrDump(files: ReadonlyArray<{ path: string; xattrs: readonly Xattr[] }>): string {
  let out = '';
  for (const f of files) {
    if (f.xattrs.length === 0) continue;
    out += `# file: ${quoteDumpField(f.path)}\n`;
    for (const x of f.xattrs) out += `${quoteDumpField(x.name)}=0s${x.value.toString('base64')}\n`;
    out += '\n';
  }
  return out;
}

/**
 * Which of `paths` setfattr complained about (`setfattr: PATH: message` on
 * stderr), and whether some complaint named no known path.
 */
export function setfattrFailures(
  stderr: string,
  paths: readonly string[],
): { failed: Map<string, string>; unknown: boolean } {
  const failed = new Map<string, string>();
  let unknown = false;
  for (const line of stderr.split('\n')) {
    if (line.trim() === '') continue;
    // The longest match, in case a name itself contains ": ".
    let hit: string | undefined;
    for (const p of paths) if (line.startsWith(`setfattr: ${p}: `) && p.length > (hit?.length ?? -1)) hit = p;
    if (hit === undefined) unknown = true;
    else failed.set(hit, line.slice(`setfattr: ${hit}: `.length));
  }
  return { failed, unknown };
}
